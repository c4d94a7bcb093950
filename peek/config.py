"""Service configuration: ``$PEEK_HOME/peek-<service>.home/config.json``.

Each service owns one JSON file.  Loading it creates the file when it is
missing and fills in every missing key with its default, keeping whatever the
administrator wrote (unknown keys included).  A file that is not valid JSON or
holds a value of the wrong type stops the service with a :class:`ConfigError`
naming the file, the key or line, and what is expected; such a file is never
rewritten.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from peek.services import AGENT, CLIENT, SERVER, SERVICES, WORKER
from peek.storage.embedded_root import DEFAULT_ROOT_DIR

log = logging.getLogger(__name__)

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class ConfigError(Exception):
    """A config file that cannot be used; the message says where and why."""


def peek_home() -> Path:
    """The directory holding every service's home: ``$PEEK_HOME`` or ``~``."""
    return Path(os.environ.get("PEEK_HOME") or Path.home()).expanduser().resolve()


def service_home(service: str, home: Path | None = None) -> Path:
    return (home or peek_home()) / f"peek-{service}.home"


@dataclass(frozen=True)
class Key:
    """One config key: its dotted path, type, default and the services using it.

    ``default`` may be a callable taking the :class:`ServiceConfig` (for values
    such as paths inside the home directory or a generated secret).  A key with
    ``default=None`` is optional: it is not written to the file and its absence
    has a meaning (``sqlalchemy.connectUrl`` absent means the embedded database).
    """

    path: str
    type: type
    default: Any
    services: tuple[str, ...]
    doc: str
    choices: tuple[Any, ...] = ()
    item_type: type | None = None


def _generated_secret(config: "ServiceConfig") -> str:
    # Services on one machine share the server's secret so that `peek run`
    # connects them without the administrator copying anything.
    if config.service != SERVER:
        server_file = service_home(SERVER, config.home.parent) / "config.json"
        try:
            secret = json.loads(server_file.read_text())["server"]["secret"]
            if isinstance(secret, str) and secret:
                return secret
        except (OSError, ValueError, KeyError, TypeError):
            pass
        log.warning(
            "Generated a new shared secret in %s: it must match server.secret in "
            "the server's config.json before this service can connect", config.path)
    return secrets.token_urlsafe(32)


def _bundled_plugins(config: "ServiceConfig") -> list[str]:
    from peek.plugin_system.discovery import bundled
    return bundled()


ALL = SERVICES
WEB = (SERVER, CLIENT, AGENT)
DB = (SERVER, WORKER)

KEYS: tuple[Key, ...] = (
    Key("logging.level", str, "INFO", ALL, "Log level", choices=LOG_LEVELS),
    Key("logging.rotateSizeMb", int, 20, ALL, "Rotate the log file at this size"),
    Key("logging.rotationsToKeep", int, 2, ALL, "Rotated log files kept"),
    Key("plugin.enabled", list, _bundled_plugins, ALL,
        "Plugins this service runs", item_type=str),
    Key("sqlalchemy.connectUrl", str, None, DB,
        "PostgreSQL URL; absent means the embedded PostgreSQL"),
    Key("embeddedPostgres.port", int, 5433, DB,
        "Loopback port of the embedded PostgreSQL"),
    Key("embeddedPostgres.rootDir", str, str(DEFAULT_ROOT_DIR), DB,
        "Where the embedded PostgreSQL's programs and data go when Peek runs as root "
        "and they are out of its unprivileged user's reach"),
    Key("http.host", str, "127.0.0.1", WEB, "Address this service's site binds"),
    Key("http.port", int, lambda c: {SERVER: 8010, CLIENT: 8000, AGENT: 8012}[c.service],
        WEB, "Port of this service's site (admin, mobile/desktop, agent health)"),
    Key("server.host", str, "127.0.0.1", WEB,
        "Server's service-to-service address (the server binds it, others connect)"),
    Key("server.port", int, 8011, WEB, "Server's service-to-service port"),
    Key("server.secret", str, _generated_secret, WEB,
        "Shared secret of the service-to-service connections"),
    Key("vortex.maxFrameBytes", int, 4 * 2**20, WEB,
        "Largest websocket frame accepted; a bigger one closes that connection"),
    Key("vortex.sendQueueFrames", int, 1000, WEB,
        "Frames waiting to be sent to one connection before it is dropped as too slow"),
    Key("vortex.receiveQueueFrames", int, 100, WEB,
        "Messages received on one websocket and not yet handled before it is read no more "
        "until they are"),
    Key("vortex.receiveQueueBytes", int, lambda c: 2 * c.get("vortex.maxFrameBytes"), WEB,
        "Bytes of messages received and not yet handled before a websocket is read no more"),
    Key("vortex.floodTimeoutS", float, 30.0, WEB,
        "Seconds a websocket may keep its received messages over those limits before it "
        "is closed (1008)"),
    Key("vortex.threads", int, 16, WEB,
        "Threads running providers, action processors and RPCs"),
    Key("vortex.subscriptionIdleS", float, 60.0, (CLIENT,),
        "Seconds an unwatched selector stays subscribed upstream"),
    Key("vortex.keepaliveS", float, 25.0, (CLIENT,),
        "Seconds between websocket pings to devices and pages; one that has not "
        "answered by the next ping is dropped"),
    Key("vortex.actionTimeoutS", float, 30.0, (CLIENT,),
        "Seconds a device waits for an action's answer"),
    Key("vortex.maxSubscriptionsPerDevice", int, 1000, (CLIENT,),
        "Selectors one device websocket may watch at once"),
    Key("vortex.maxActionsInFlightPerDevice", int, 1000, (CLIENT,),
        "Actions of one device websocket waiting for their answer at once"),
    Key("vortex.restRequestsPerS", float, 50.0, (CLIENT,),
        "REST requests per second from one address and user (twice that in a burst)"),
    Key("vortex.dataTimeoutS", float, 10.0, (CLIENT,),
        "Seconds a REST data request waits for the server's answer before a 504"),
    Key("vortex.actionRetentionDays", int, 30, (SERVER,),
        "Days an action's answer is kept for resends"),
    Key("dask.schedulerAddress", str, None, DB,
        "Dask scheduler; absent means the server starts a LocalCluster"),
    Key("dask.localWorkers", int, 2, (SERVER,), "Worker processes of the LocalCluster"),
    Key("dask.threadsPerWorker", int, 1, (SERVER, WORKER), "Threads per Dask worker"),
    Key("dask.dashboardPort", int, 8787, (SERVER,), "LocalCluster dashboard port"),
    Key("dask.allowedFailures", int, 3, (SERVER,),
        "Times a task may kill its worker process before it fails (LocalCluster)"),
    Key("dask.workerProcesses", int, 1, (WORKER,),
        "Worker processes (each under a nanny) that peek worker starts"),
    Key("admin.maxFailedSignIns", int, 5, (SERVER,),
        "Failed sign-ins in a row that lock an administrator out"),
    Key("admin.lockoutS", float, 300.0, (SERVER,),
        "Seconds an administrator stays locked out"),
    Key("admin.sessionHours", float, 12.0, (SERVER,),
        "Hours an admin sign-in lasts"),
    Key("admin.secureCookies", bool, False, (SERVER,),
        "Send the admin session cookie over HTTPS only (set when served over TLS)"),
    Key("frontend.customisationsDir", str, lambda c: str(c.home / "customisations"),
        (SERVER, CLIENT), "Overrides for the sites' templates and static files"),
)


def keys_for(service: str) -> tuple[Key, ...]:
    return tuple(k for k in KEYS if service in k.services)


@dataclass
class ServiceConfig:
    """The loaded, validated config of one service."""

    service: str
    home: Path
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def path(self) -> Path:
        return self.home / "config.json"

    def get(self, path: str) -> Any:
        node: Any = self.data
        for part in path.split("."):
            if not isinstance(node, dict) or part not in node:
                return None
            node = node[part]
        return node

    def set(self, path: str, value: Any) -> None:
        *parents, last = path.split(".")
        node = self.data
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value

    def save(self) -> None:
        """Write the file atomically, so a crash never leaves half a config."""
        self.home.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.data, indent=4, sort_keys=True) + "\n")
        os.replace(tmp, self.path)


def _type_name(t: type, item: type | None = None) -> str:
    names = {str: "a string", int: "an integer", float: "a number", bool: "true or false",
             list: "a list", dict: "an object"}
    name = names.get(t, t.__name__)
    return f"{name} of {names[item].split(' ', 1)[1]}s" if item else name


def _check(config: ServiceConfig, key: Key, value: Any) -> None:
    where = f"{config.path}: key '{key.path}'"
    kinds = (int, float) if key.type is float else key.type  # 60 is a fine number
    ok = isinstance(value, kinds) and not (key.type in (int, float) and isinstance(value, bool))
    if not ok:
        raise ConfigError(f"{where} must be {_type_name(key.type, key.item_type)}, "
                          f"not {json.dumps(value)}")
    if key.item_type and not all(isinstance(v, key.item_type) for v in value):
        raise ConfigError(f"{where} must be {_type_name(key.type, key.item_type)}, "
                          f"not {json.dumps(value)}")
    if key.choices and value not in key.choices:
        raise ConfigError(f"{where} must be one of {', '.join(map(str, key.choices))}, "
                          f"not {json.dumps(value)}")


def _read(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text()
    except OSError as e:
        raise ConfigError(f"{path}: cannot read the config file: {e.strerror}") from e
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ConfigError(f"{path}: line {e.lineno}, column {e.colno}: not valid JSON: "
                          f"{e.msg}. Fix the file; it was left untouched.") from e
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: must hold a JSON object ({{...}}) at the top level")
    return data


def load_config(service: str, home: Path | None = None, *, write: bool = True
                ) -> ServiceConfig:
    """Load (creating or completing) the config file of ``service``.

    With ``write=False`` the defaults are filled in memory only (``peek
    doctor`` inspects without changing anything).
    """
    if service not in SERVICES:
        raise ConfigError(f"unknown service {service!r}; expected one of {', '.join(SERVICES)}")
    config = ServiceConfig(service, service_home(service, home))
    exists = config.path.exists()
    config.data = _read(config.path) if exists else {}

    changed = not exists
    for key in keys_for(service):
        *parents, _ = key.path.split(".")
        node: Any = config.data
        for i, part in enumerate(parents):
            node = node.get(part) if isinstance(node, dict) else None
            if node is not None and not isinstance(node, dict):
                raise ConfigError(f"{config.path}: key '{'.'.join(parents[:i + 1])}' "
                                  f"must be an object, not {json.dumps(node)}")
        value = config.get(key.path)
        if value is None:
            if key.default is None:
                continue
            value = key.default(config) if callable(key.default) else key.default
            config.set(key.path, value)
            changed = True
        _check(config, key, value)

    if changed and write:
        config.save()
        log.info("%s %s", "Completed" if exists else "Created", config.path)
    return config
