"""Platform blueprints, and which of them each site serves."""

from __future__ import annotations

from flask import Blueprint


def site_blueprints(site: str) -> list[Blueprint]:
    from peek.blueprints.admin import bp as admin
    from peek.blueprints.auth import bp as auth
    from peek.blueprints.desktop import bp as desktop
    from peek.blueprints.health import bp as health
    from peek.blueprints.logs import bp as logs
    from peek.blueprints.mobile import bp as mobile
    from peek.blueprints.peer import bp as peer
    from peek.blueprints.plugins import bp as plugins
    from peek.blueprints.settings import bp as settings
    from peek.blueprints.table_editor import bp as table_editor
    from peek.blueprints.vortex import bp as vortex
    from peek.blueprints.workers import bp as workers

    return {
        "admin": [health, auth, admin, plugins, logs, settings, table_editor, workers],
        "server": [health, peer],
        "mobile": [health, mobile, desktop, vortex],
        "agent": [health],
    }[site]
