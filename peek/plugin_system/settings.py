"""Typed plugin settings: declared in the manifest, stored in the plugin's schema.

``plugin_package.json`` declares them::

    "settings": {"greeting": {"type": "string", "default": "Hello", "title": "Greeting"}}

and the hook reads and writes them through ``self.platform.settings``.  A
value is stored only once it is set; until then (and after a reset) the
declared default is the value.  The platform's own settings
(:mod:`peek.platform_settings`) are declared and kept the same way.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy

from peek.plugin_system.storage import SETTINGS_TABLE

#: Setting types and the Python type of their values.
SETTING_TYPES: dict[str, type] = {"bool": bool, "int": int, "string": str, "secret": str}
_ZERO = {"bool": False, "int": 0, "string": "", "secret": ""}
_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789_")
_BOOL_TEXT = {"true": True, "false": False}
_INT_TEXT = re.compile(r"[+-]?[0-9]+")


class SettingError(ValueError):
    """An unknown setting or a value of the wrong type."""


@dataclass(frozen=True)
class Setting:
    name: str
    type: str
    default: Any
    title: str
    description: str = ""

    def check(self, value: Any) -> Any:
        """``value`` if it suits this setting, else :class:`SettingError`."""
        expected = SETTING_TYPES[self.type]
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            raise SettingError(f"setting {self.name!r} is {_article(self.type)}, "
                               f"not {json.dumps(value)}")
        return value

    def from_text(self, text: str) -> Any:
        """The value ``text`` (typed in a form) stands for: ``true`` or ``false``
        for a bool, digits for an int; else :class:`SettingError`."""
        if self.type == "bool" and text in _BOOL_TEXT:
            return _BOOL_TEXT[text]
        if self.type == "int" and _INT_TEXT.fullmatch(text.strip()):
            return int(text)
        return self.check(text)


def _article(kind: str) -> str:
    return {"int": "an integer", "bool": "true or false"}.get(kind, f"a {kind}")


def read_declarations(path: Path, declared: Any) -> dict[str, Setting]:
    """The ``settings`` object of a manifest; ValueError names the field."""
    if not isinstance(declared, dict):
        raise ValueError(f"{path}: field 'settings' must be an object")
    settings = {}
    for name, spec in declared.items():
        where = f"{path}: field 'settings.{name}'"
        if not name or not set(name) <= _NAME_CHARS or len(name) > 100:
            raise ValueError(f"{where}: setting names use a-z, 0-9 and _")
        if not isinstance(spec, dict) or spec.get("type") not in SETTING_TYPES:
            raise ValueError(f"{where} must be an object with \"type\" one of "
                             f"{', '.join(SETTING_TYPES)}")
        kind = spec["type"]
        setting = Setting(name, kind, spec.get("default", _ZERO[kind]),
                          spec.get("title", name.replace("_", " ").capitalize()),
                          spec.get("description", ""))
        if not isinstance(setting.title, str) or not isinstance(setting.description, str):
            raise ValueError(f"{where}: title and description must be strings")
        try:
            setting.check(setting.default)
        except SettingError:
            raise ValueError(f"{where}.default must be {_article(kind)}, "
                             f"not {json.dumps(setting.default)}") from None
        settings[name] = setting
    return settings


class DeclaredSettings:
    """The declared settings of one owner (a plugin, the platform), kept as
    (name, JSON value) rows of ``table``."""

    def __init__(self, owner: str, declared: dict[str, Setting], engine: sqlalchemy.Engine,
                 table: str, name_column: str = "name"):
        self.owner = owner
        self.declared = declared
        self._engine = engine
        self._table = table
        self._name = f'"{name_column}"'

    def _setting(self, name: str) -> Setting:
        try:
            return self.declared[name]
        except KeyError:
            raise SettingError(f"{self.owner} declares no setting {name!r} (it "
                               f"declares: {', '.join(self.declared) or 'none'})") from None

    def _stored(self) -> dict[str, Any]:
        """Every stored value, by name."""
        with self._engine.connect() as conn:
            return dict(conn.execute(sqlalchemy.text(
                f"SELECT {self._name}, value FROM {self._table}")).all())

    def _write(self, values: dict[str, Any]) -> None:
        with self._engine.begin() as conn:
            conn.execute(sqlalchemy.text(
                f"INSERT INTO {self._table} ({self._name}, value)"
                " VALUES (:name, CAST(:value AS jsonb)) ON CONFLICT"
                f" ({self._name}) DO UPDATE SET value = EXCLUDED.value, updated_at = now()"),
                [{"name": name, "value": json.dumps(value)} for name, value in values.items()])

    def _delete(self, names: list[str]) -> None:
        with self._engine.begin() as conn:
            conn.execute(sqlalchemy.text(
                f"DELETE FROM {self._table} WHERE {self._name} = ANY(:names)"),
                {"names": names})

    def get(self, name: str) -> Any:
        setting = self._setting(name)
        return self._stored().get(name, setting.default)

    def all(self) -> dict[str, Any]:
        """Every declared setting's current value."""
        stored = self._stored()
        return {name: stored.get(name, s.default) for name, s in self.declared.items()}

    def set(self, name: str, value: Any) -> None:
        self.update({name: value})

    def update(self, values: dict[str, Any]) -> None:
        """Store all of ``values`` in one transaction, or none of them if one is
        refused (:class:`SettingError`)."""
        checked = {name: self._setting(name).check(value) for name, value in values.items()}
        if checked:
            self._write(checked)

    def reset(self, name: str) -> None:
        """Back to the declared default."""
        self._setting(name)
        self._delete([name])

    def reset_all(self) -> None:
        self._delete(list(self.declared))


class PluginSettings(DeclaredSettings):
    """A plugin's settings, read and written in its schema's settings table."""

    def __init__(self, plugin_name: str, schema: str, declared: dict[str, Setting],
                 engine: sqlalchemy.Engine):
        super().__init__(plugin_name, declared, engine, f'"{schema}".{SETTINGS_TABLE}')
        self.plugin_name = plugin_name
