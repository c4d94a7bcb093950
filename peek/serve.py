"""Running one web service (server, client or agent) as a process."""

from __future__ import annotations

import logging
import resource
import signal
import threading
from pathlib import Path
from typing import Callable

from flask import Flask

from werkzeug.serving import BaseWSGIServer, make_server

from peek import __version__, gc_tuning
from peek.app import create_app
from peek.config import ServiceConfig, load_config
from peek.logs import setup_logging
from peek.runtime import ServiceRuntime, make_runtime
from peek.plugin_system.pages import url_prefix
from peek.services import SERVER, SITES
from peek.sites import site_address, site_url
from peek.storage.migrations import upgrade_platform

log = logging.getLogger(__name__)


class ServiceStartError(Exception):
    pass


class ServiceProcess:
    """One service: its runtime, its sites' apps and their HTTP servers."""

    def __init__(self, config: ServiceConfig):
        gc_tuning.tune()
        self.config = config
        self.runtime: ServiceRuntime = make_runtime(config)
        self.apps: dict[str, Flask] = self._create_apps()
        self._servers: list[BaseWSGIServer] = []
        self._threads: list[threading.Thread] = []
        self.runtime.on_plugins_changed = self.rebuild_apps

    def start(self, listen: bool = True) -> None:
        """Start the runtime and migrate; with ``listen``, serve each site on
        its port (gunicorn listens itself and passes ``listen=False``)."""
        log.info("Starting the Peek %s service %s", self.config.service, __version__)
        self.runtime.start()
        try:
            if self.config.service == SERVER:
                upgrade_platform(self.apps["admin"])
            self.runtime.start_plugins()
            self._mount_plugin_blueprints()
            self.runtime.connect()
            if listen:
                for site in self.apps:
                    self._listen(site)
        except BaseException:
            self.stop()
            raise
        for site in self.apps:
            log.info("%s site at %s", site, site_url(self.config, site))

    def _create_apps(self) -> dict[str, Flask]:
        return {site: create_app(site, self.runtime) for site in SITES[self.config.service]}

    def _mount_plugin_blueprints(self, apps: dict[str, Flask] | None = None) -> None:
        apps = apps or self.apps
        for plugin, site, blueprint in self.runtime.plugins.blueprints():
            app = apps["admin" if site == "admin" else "mobile"]
            prefix = url_prefix(plugin, site)
            app.register_blueprint(blueprint, url_prefix=prefix,
                                   name=f"{plugin}_{blueprint.name}")
            log.debug("Mounted %s's %s blueprint at %s", plugin, site, prefix)

    def rebuild_apps(self) -> None:
        """New apps with the blueprints of the plugins running now, swapped in
        at once (Flask takes no blueprints once serving).  Requests in flight,
        and websockets, finish on the apps they started on."""
        apps = self._create_apps()
        self._mount_plugin_blueprints(apps)
        old, self.apps = self.apps, apps
        log.info("The %s service's sites now serve the plugins running", self.config.service)
        timer = threading.Timer(RETIRED_APP_GRACE_S, _dispose_engines, args=(old,))
        timer.daemon = True
        timer.start()

    def site_application(self, site: str) -> Callable:
        """The WSGI callable of one site: whichever app serves it now."""
        def serve(environ: dict, start_response: Callable):
            return self.apps[site](environ, start_response)
        return serve

    def wsgi_application(self) -> Callable:
        """One WSGI callable for all the service's sites, chosen by port."""
        by_port = {site_address(self.config, site)[1]: site for site in self.apps}
        default = next(iter(self.apps))

        def dispatch(environ: dict, start_response: Callable):
            site = by_port.get(int(environ.get("SERVER_PORT") or 0), default)
            return self.apps[site](environ, start_response)
        return dispatch

    def _listen(self, site: str) -> None:
        host, port = site_address(self.config, site)
        try:
            server = make_server(host, port, self.site_application(site), threaded=True)
        except OSError as e:
            key = "server.port" if site == "server" else "http.port"
            raise ServiceStartError(
                f"cannot listen on {host}:{port} for the {site} site: {e.strerror}. "
                f"Stop whatever uses it or change {key} in {self.config.path}") from e
        thread = threading.Thread(target=server.serve_forever, name=f"http-{site}",
                                  daemon=True)
        thread.start()
        self._servers.append(server)
        self._threads.append(thread)

    def stop(self) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self.runtime.stop()
        log.info("The Peek %s service stopped", self.config.service)


#: Seconds a replaced app keeps its database engines for requests still on it.
RETIRED_APP_GRACE_S = 60.0


def _dispose_engines(apps: dict[str, Flask]) -> None:
    from peek.extensions import db

    for app in apps.values():
        if "sqlalchemy" in app.extensions:
            with app.app_context():
                for engine in db.engines.values():
                    engine.dispose()


def raise_open_file_limit() -> int:
    """Every websocket is an open file: allow as many as the hard limit does
    (the soft limit is often 1,024).  Returns the limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError) as e:
            log.warning("Could not raise the open-file limit from %s: %s", soft, e)
    return soft


def run_service(service: str, home: Path | None = None) -> None:
    """Start ``service`` and serve until SIGINT or SIGTERM."""
    config = load_config(service, home)
    setup_logging(config)
    log.info("Up to %s open files (websockets included)", raise_open_file_limit())
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    process = ServiceProcess(config)
    process.start()
    stop.wait()
    log.info("Stopping the Peek %s service", service)
    process.stop()
