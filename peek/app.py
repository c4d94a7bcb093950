"""The app factory: one Flask app per site, built in one fixed order.

A service serves one or two sites (:data:`peek.services.SITES`); each site is
its own Flask app sharing the service's :class:`~peek.runtime.ServiceRuntime`.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from flask import Flask
from markupsafe import Markup

from peek import __version__
from peek.auth.guard import current_admin, init_admin_auth
from peek.blueprints import site_blueprints
from peek.customisations import customisations_dir, install_customisations
from peek.device_auth import current_device_user, current_device_user_name, guard
from peek.offline import mark_offline_page, offline_page
from peek.plugin_system.archive import Limits
from peek.extensions import db, migrate, sock
from peek.runtime import ServiceRuntime
from peek.vortex.selector import TupleSelector, for_user

PACKAGE_DIR = Path(__file__).resolve().parent


def migrations_dir() -> Path:
    """The platform's Alembic scripts (``migrations/`` beside the package)."""
    return PACKAGE_DIR.parent / "migrations"


def create_app(site: str, runtime: ServiceRuntime) -> Flask:
    app = Flask("peek", root_path=str(PACKAGE_DIR),
                template_folder="templates", static_folder="static")
    _configure(app, site, runtime)
    _init_extensions(app, site, runtime)
    for blueprint in site_blueprints(site):
        app.register_blueprint(blueprint)
    _add_template_globals(app, site, runtime)
    if site in ("mobile", "admin"):  # the client's / and /desktop/; the server's admin site
        install_customisations(app, customisations_dir(runtime.config))
    _add_commands(app)
    return app


def _configure(app: Flask, site: str, runtime: ServiceRuntime) -> None:
    secret = runtime.config.get("server.secret")
    app.config.update(
        PEEK_SERVICE=runtime.service,
        PEEK_SITE=site,
        SECRET_KEY=hashlib.sha256(f"{site}:{secret}".encode()).hexdigest(),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        # No ping_interval: it costs a select before every read.  The client
        # service pings its devices and pages itself (vortex.keepaliveS), and
        # the links between services send heartbeats of their own.
        SOCK_SERVER_OPTIONS={
            "max_message_size": runtime.config.get("vortex.maxFrameBytes"),
            "receive_queue_frames": runtime.config.get("vortex.receiveQueueFrames"),
            "receive_queue_bytes": runtime.config.get("vortex.receiveQueueBytes"),
            "flood_timeout_s": runtime.config.get("vortex.floodTimeoutS")},
    )
    if site == "admin":  # the Dask dashboard's plots, proxied (blueprints/workers)
        app.config["SOCK_SERVER_OPTIONS"]["subprotocols"] = ["bokeh"]
        # A plugin package plus the form around it; the upload view takes
        # release archives too (guard.accepts_body).
        app.config["MAX_CONTENT_LENGTH"] = Limits().max_archive_bytes + 2**20
    if site == "mobile":
        # A request body is at most a device frame (an action) and a little more.
        app.config["MAX_CONTENT_LENGTH"] = runtime.config.get("vortex.maxFrameBytes") + 2**16
        # Send the session cookie only when the session changed: otherwise a
        # response to a request that began before a sign-in's tokens were
        # refreshed would put the used tokens back into the browser.
        app.config["SESSION_REFRESH_EACH_REQUEST"] = False
    if runtime.database_url:
        app.config["SQLALCHEMY_DATABASE_URI"] = runtime.database_url
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {"pool_pre_ping": True}
    app.extensions["peek"] = runtime


def _init_extensions(app: Flask, site: str, runtime: ServiceRuntime) -> None:
    if runtime.database_url:
        import peek.models  # noqa: F401  (registers the platform tables)
        db.init_app(app)
        # Flask-Migrate's own commands stay reachable as `flask alembic ...`;
        # `peek db` / `flask db` is ours (platform and plugin schemas, backups).
        migrate.init_app(app, db, directory=str(migrations_dir()), command="alembic")
    sock.init_app(app)
    if site == "admin":
        init_admin_auth(app, runtime.config)
    if site == "mobile":  # the client's device routes: a sign-in plugin may guard them
        app.before_request(guard(runtime.device_sign_in))


def _add_template_globals(app: Flask, site: str, runtime: ServiceRuntime) -> None:
    app.jinja_env.globals.update(peek_version=__version__, peek_site=site,
                                 peek_service=runtime.service, slot_items=runtime.slot_items)
    if site == "admin":
        app.jinja_env.globals["current_admin"] = current_admin
    if site == "mobile":
        def vortex_live(partial: str, tuple_type: type | str, *, offline: bool = False,
                        **filter: object) -> Markup:
            """A live element: ``partial`` rendering the selector's tuples, kept
            current; ``offline`` keeps its latest data for offline use."""
            selector = for_user(TupleSelector.of(tuple_type, **filter),
                                current_device_user_name())
            return runtime.vortex.live.placeholder(partial, selector, offline=offline)
        app.jinja_env.globals.update(vortex_live=vortex_live, offline_page=offline_page,
                                     device_user=current_device_user,
                                     device_sign_in=lambda: runtime.vortex.sign_in,
                                     needs_sign_in=lambda: bool(runtime.vortex.sign_in and
                                                                not current_device_user()))
        app.after_request(mark_offline_page)


def _add_commands(app: Flask) -> None:
    """``flask --app wsgi <command>`` runs the same commands as ``peek``."""
    from peek.cli import COMMANDS

    for command in COMMANDS:
        if command.name != "run":  # `flask run` stays Flask's own
            app.cli.add_command(command)
