"""The server's log as the admin pages show it: its reader, and links to records."""

from __future__ import annotations

from flask import url_for

from peek.log_reader import SCAN_BYTES, LogReader, LogRecord, log_filter
from peek.logs import log_path
from peek.runtime import current_runtime

#: The dashboard's "recent warnings and errors": how many, and within the last
#: how many bytes of the log (the dashboard asks every few seconds).
RECENT_PROBLEMS = 10
RECENT_BYTES = 1024 * 1024


def server_log(scan_bytes: int = SCAN_BYTES) -> LogReader:
    return LogReader(log_path(current_runtime().config), scan_bytes)


def installed_plugins() -> dict[str, str]:
    """Each installed plugin's name and module (the module's loggers are the plugin's too)."""
    plugins = current_runtime().plugins
    return {name: r.found.module for name, r in plugins.records.items()} if plugins else {}


def log_link(plugin: str) -> str:
    """The Logs page at ``plugin``'s latest error: for pages showing that it failed.

    A plugin that is not installed (enabled but missing) has no plugin filter:
    the link looks for its name in the errors instead.
    """
    plugins = installed_plugins()
    if plugin not in plugins:
        return url_for("logs.index", level="ERROR", q=plugin)
    latest = server_log().latest_id(log_filter("ERROR", plugin, plugins=plugins))
    return url_for("logs.index", plugin=plugin, level="ERROR",
                   _anchor=f"log-{latest}" if latest else None)


def recent_problems(limit: int = RECENT_PROBLEMS) -> list[LogRecord]:
    """The server's latest warnings and errors, oldest first."""
    return server_log(RECENT_BYTES).latest(log_filter("WARNING"), limit=limit).records
