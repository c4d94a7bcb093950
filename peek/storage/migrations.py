"""Bringing the database schema up to date."""

from __future__ import annotations

import logging

import flask_migrate
from flask import Flask

from peek.extensions import migrate

log = logging.getLogger(__name__)


def upgrade_platform(app: Flask) -> None:
    """Apply the platform's pending Alembic revisions (schema ``peek``)."""
    with app.app_context():
        flask_migrate.upgrade(directory=migrate.directory)
    log.info("Platform schema is up to date")
