"""Turning the platform's own errors into clear CLI messages (no tracebacks)."""

from __future__ import annotations

import functools
from typing import Any, Callable

import click

from peek.auth.operations import AccountError
from peek.config import ConfigError
from peek.plugin_system.packages import PluginOperationError
from peek.serve import ServiceStartError
from peek.storage.backup import BackupError
from peek.storage.embedded import EmbeddedPostgresError

EXPECTED = (AccountError, ConfigError, ServiceStartError, BackupError, EmbeddedPostgresError,
            PluginOperationError)


def reported(func: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except EXPECTED as e:
            raise click.ClickException(str(e)) from e
    return wrapper
