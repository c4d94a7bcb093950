"""Logging for a service: console plus ``$PEEK_HOME/peek-<service>.log``."""

from __future__ import annotations

import logging
import logging.handlers
import sys
from pathlib import Path

from peek.config import ServiceConfig

FORMAT = "%(asctime)s %(levelname)s %(name)s [%(threadName)s]: %(message)s"


def log_path(config: ServiceConfig) -> Path:
    return config.home.parent / f"peek-{config.service}.log"


def setup_logging(config: ServiceConfig, console: bool = True) -> Path:
    """Route every log record of this process to the rotating file and console.

    Called once per process, before anything logs; calling again replaces the
    handlers (tests run several services in one process).
    """
    path = log_path(config)
    path.parent.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "peek_handler", False):
            root.removeHandler(handler)
            handler.close()

    formatter = logging.Formatter(FORMAT)
    handlers: list[logging.Handler] = [logging.handlers.RotatingFileHandler(
        path, maxBytes=config.get("logging.rotateSizeMb") * 1024 * 1024,
        backupCount=config.get("logging.rotationsToKeep"), encoding="utf-8")]
    if console:
        handlers.append(logging.StreamHandler(sys.stderr))
    for handler in handlers:
        handler.setFormatter(formatter)
        handler.peek_handler = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(config.get("logging.level"))
    # Chatty libraries stay at WARNING unless we debug.
    if config.get("logging.level") != "DEBUG":
        for name in ("werkzeug", "distributed", "asyncio"):
            logging.getLogger(name).setLevel(logging.WARNING)
    return path
