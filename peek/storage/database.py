"""Which database a service uses, and making sure it is there."""

from __future__ import annotations

import logging
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import sqlalchemy

from peek.config import ServiceConfig
from peek.storage.embedded import EmbeddedPostgres

log = logging.getLogger(__name__)


def embedded_postgres(config: ServiceConfig) -> EmbeddedPostgres:
    """The embedded database of this PEEK_HOME: always the server's home."""
    server_home = config.home.parent / "peek-server.home"
    return EmbeddedPostgres(server_home / "pgdata", config.get("embeddedPostgres.port"),
                            root_dir=Path(config.get("embeddedPostgres.rootDir")),
                            config_file=str(server_home / "config.json"))


def uses_embedded(config: ServiceConfig) -> bool:
    return not config.get("sqlalchemy.connectUrl")


def database_url(config: ServiceConfig) -> str:
    return sqlalchemy_url(config.get("sqlalchemy.connectUrl") or embedded_postgres(config).url)


def sqlalchemy_url(url: str) -> str:
    """psycopg2 is the driver: accept the plain ``postgresql://`` (or
    ``postgres://``) form administrators write and name the driver."""
    for plain in ("postgres://", "postgresql://"):
        if url.startswith(plain):
            return "postgresql+psycopg2://" + url[len(plain):]
    return url


def safe_url(url: str) -> str:
    """The URL with any password hidden, for logs and messages."""
    return sqlalchemy.engine.make_url(url).render_as_string(hide_password=True)


@contextmanager
def database_available(config: ServiceConfig) -> Iterator[str]:
    """Yield the database URL, starting the embedded server for the duration
    when it is used and not already running."""
    embedded = embedded_postgres(config) if uses_embedded(config) else None
    if embedded:
        embedded.start()
    try:
        yield database_url(config)
    finally:
        if embedded and embedded.started_here:
            embedded.stop()
