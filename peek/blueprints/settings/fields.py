"""Settings as the fields of their form: what each input holds and says.

A secret's value is never put in a field: its input is always blank, and
left blank it keeps the stored value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from peek.plugin_system.settings import DeclaredSettings, Setting

INPUT_TYPES = {"bool": "checkbox", "int": "number", "string": "text", "secret": "password"}


@dataclass(frozen=True)
class Field:
    setting: Setting
    text: str  # what the input holds: "true" or "false" for a bool, "" for a secret
    error: str | None = None
    secret_stored: bool = False
    #: A secret typed into a form that was refused: it must be typed again.
    retype: bool = False

    @property
    def input_type(self) -> str:
        return INPUT_TYPES[self.setting.type]

    @property
    def checked(self) -> bool:
        return self.text == "true"

    @property
    def default_text(self) -> str:
        return describe(self.setting, self.setting.default)


def describe(setting: Setting, value: Any) -> str:
    """A value as the page names it (a secret's only as set or empty)."""
    if setting.type == "bool":
        return "on" if value else "off"
    if setting.type == "secret":
        return "preset" if value else "empty"
    if setting.type == "string":
        return f"“{value}”" if value else "empty"
    return str(value)


def _text(setting: Setting, value: Any) -> str:
    if setting.type == "secret":
        return ""
    if setting.type == "bool":
        return "true" if value else "false"
    return str(value)


def form_fields(settings: DeclaredSettings, typed: Mapping[str, str] | None = None,
                errors: Mapping[str, str] | None = None) -> list[Field]:
    """The fields of ``settings``: their current values or, after a refused
    save, what was ``typed``, with the ``errors``."""
    typed, errors = typed or {}, errors or {}
    current = settings.all()
    fields = []
    for name, setting in settings.declared.items():
        secret = setting.type == "secret"
        text = typed[name] if name in typed and not secret else _text(setting, current[name])
        fields.append(Field(setting, text, errors.get(name),
                            secret_stored=secret and bool(current[name]),
                            retype=secret and bool(errors) and bool(typed.get(name))))
    return fields
