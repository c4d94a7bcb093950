"""Whose settings the Settings pages show: the platform's and those of every
installed plugin that declares settings."""

from __future__ import annotations

from dataclasses import dataclass

from flask import url_for

from peek import platform_settings
from peek.plugin_system.manager import STARTED, PluginRecord
from peek.plugin_system.settings import DeclaredSettings, Setting
from peek.runtime import current_runtime

#: The owner key of the platform's settings (plugin names start with ``peek_``).
PLATFORM = "platform"


@dataclass(frozen=True)
class SettingsOwner:
    key: str  # in the page's address: PLATFORM or the plugin's name
    title: str
    declared: dict[str, Setting]
    settings: DeclaredSettings | None  # None: a plugin not running on the server
    state: str = STARTED
    error: str | None = None

    @property
    def is_platform(self) -> bool:
        return self.key == PLATFORM

    def page_url(self) -> str:
        if self.is_platform:
            return url_for("settings.index")
        return url_for("settings.owner_page", owner=self.key)


def platform() -> SettingsOwner:
    settings = platform_settings.current()
    return SettingsOwner(PLATFORM, "Platform", settings.declared, settings)


def _records() -> list[PluginRecord]:
    manager = current_runtime().plugins
    return [r for r in (manager.records.values() if manager else [])
            if r.found.manifest and r.found.manifest.settings]


def _plugin(record: PluginRecord) -> SettingsOwner:
    manifest = record.found.manifest
    running = record.state == STARTED and record.platform is not None
    return SettingsOwner(record.name, manifest.title, manifest.settings,
                         record.platform.settings if running else None,
                         record.state, record.error)


def plugins() -> list[SettingsOwner]:
    """The installed plugins that declare settings, by title."""
    return sorted((_plugin(r) for r in _records()), key=lambda o: (o.title.lower(), o.key))


def find(key: str) -> SettingsOwner | None:
    if key == PLATFORM:
        return platform()
    return next((_plugin(r) for r in _records() if r.name == key), None)
