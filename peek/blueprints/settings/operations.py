"""What administrators do to settings (a plugin's or the platform's) on the
admin site: save what a form holds, all of it or nothing, and reset to defaults.

The log says who changed which settings, never the values (secrets).
"""

from __future__ import annotations

import logging
from typing import Any, Mapping

from peek.plugin_system.settings import DeclaredSettings, SettingError

log = logging.getLogger(__name__)


def values_from_form(settings: DeclaredSettings,
                     form: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """The typed values a form's text fields stand for, and each refused
    field's message.  A field not in the form and a blank secret keep their value."""
    values, errors = {}, {}
    for name, setting in settings.declared.items():
        text = form.get(name)
        if text is None or (setting.type == "secret" and text == ""):
            continue
        try:
            values[name] = setting.from_text(text)
        except SettingError as e:
            errors[name] = str(e)
    return values, errors


def save_form(settings: DeclaredSettings, form: Mapping[str, str], by: str) -> dict[str, str]:
    """Store the settings ``form`` holds; if any field is refused, store none
    and return each refused field's message."""
    values, errors = values_from_form(settings, form)
    if errors:
        return errors
    current = settings.all()
    changed = {name: value for name, value in values.items() if current[name] != value}
    settings.update(changed)
    if changed:
        log.info("%s changed settings of %s: %s", by, settings.owner, ", ".join(changed))
    return {}


def reset(settings: DeclaredSettings, name: str | None, by: str) -> None:
    """Setting ``name``, or every setting when None, back to its default."""
    if name is None:
        settings.reset_all()
    else:
        settings.reset(name)
    log.info("%s reset %s of %s to the default", by,
             "every setting" if name is None else name, settings.owner)
