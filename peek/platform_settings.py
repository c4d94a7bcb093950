"""The platform's own settings: values of this installation kept in the database
(``peek.platform_setting``) rather than in a service's config file.

They are declared below the way a plugin declares its settings (same types,
same checks, see :mod:`peek.plugin_system.settings`) and changed on the admin
site's Settings page.  A service reads them once and keeps them in memory;
writing through here drops that copy, so the next read sees the new values and
every other read costs no query (one process per service: gunicorn.conf.py).
"""

from __future__ import annotations

import threading
import weakref
from pathlib import Path
from typing import Any

import sqlalchemy

from peek.models.platform_setting import PlatformSetting
from peek.plugin_system.settings import DeclaredSettings, read_declarations
from peek.runtime import current_runtime

DECLARED = read_declarations(Path(__file__), {
    "instance_name": {
        "type": "string", "default": "Peek", "title": "Instance name",
        "description": "The name of this installation, shown in the admin site's header "
                       "and page titles."},
})


class PlatformSettings(DeclaredSettings):
    """The platform's settings in one database, with a copy kept in memory."""

    def __init__(self, engine: sqlalchemy.Engine):
        super().__init__("the platform", DECLARED, engine, PlatformSetting.__table__.fullname,
                         name_column="key")
        self._lock = threading.Lock()
        self._copy: dict[str, Any] | None = None

    def _stored(self) -> dict[str, Any]:
        copy = self._copy
        if copy is None:
            with self._lock:  # not while a write is between its commit and its drop
                if self._copy is None:
                    self._copy = super()._stored()
                copy = self._copy
        return copy

    def _write(self, values: dict[str, Any]) -> None:
        with self._lock:
            super()._write(values)
            self._copy = None

    def _delete(self, names: list[str]) -> None:
        with self._lock:
            super()._delete(names)
            self._copy = None


_of_engine: weakref.WeakKeyDictionary[sqlalchemy.Engine, PlatformSettings] = \
    weakref.WeakKeyDictionary()
_of_engine_lock = threading.Lock()


def of_engine(engine: sqlalchemy.Engine) -> PlatformSettings:
    """The platform settings in ``engine``'s database: one cached copy per engine."""
    with _of_engine_lock:
        settings = _of_engine.get(engine)
        if settings is None:
            settings = _of_engine[engine] = PlatformSettings(engine)
        return settings


def current() -> PlatformSettings:
    """The platform settings of the service serving this request (server only)."""
    runtime = current_runtime()
    if runtime.engine is None:
        raise RuntimeError(f"platform settings are kept in the database, which the "
                           f"{runtime.service} service has no access to")
    return of_engine(runtime.engine)


def get(key: str) -> Any:
    """The value of platform setting ``key`` (its default until set)."""
    return current().get(key)


def template_values() -> dict[str, Any]:
    """What every admin page shows of the platform settings."""
    return {"instance_name": get("instance_name")}
