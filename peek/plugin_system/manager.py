"""Running the enabled plugins of one service: load, start, stop, unload.

Each step of each plugin runs inside its own guard: an exception marks that
plugin failed (with its traceback, logged) and the platform and every other
plugin go on.  Plugins requiring a plugin that did not start are not started.
"""

from __future__ import annotations

import hashlib
import hmac
import importlib
import importlib.util
import logging
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import sqlalchemy
from flask import Blueprint
from sqlalchemy.orm import Session, sessionmaker

from peek.config import ServiceConfig
from peek.plugin_api import SITES_OF_SERVICE, PluginApiError, PluginHook
from peek.plugin_system.discovery import Discovered, discover, origin
from peek.plugin_system.manifest import schema_name
from peek.plugin_system.ordering import start_order
from peek.plugin_system.pages import (MANIFEST_SLOTS, SLOTS, SlotItem, check_templates,
                                      manifest_item, url_prefix)
from peek.plugin_system.settings import PluginSettings
from peek.plugin_system.storage import (heads, migrate_plugin_schema, schemas_at,
                                        upgrade_plugin_schema)
from peek.services import AGENT, CLIENT, SERVER
from peek.vortex.selector import TupleSelector

log = logging.getLogger(__name__)

#: The module of a plugin's tuples, imported on every service the plugin runs on.
TUPLES_MODULE = "tuples"

# States a plugin is in on one service.
DISABLED, LOADED, STARTED, STOPPED, FAILED, NOT_STARTED = (
    "disabled", "loaded", "started", "stopped", "failed", "not started")


def identity(found: Discovered) -> tuple[str | None, str | None]:
    """What tells one installed copy of a plugin from another: its version and
    the real directory of its package (an upgrade or a rollback changes it)."""
    return (found.manifest.version if found.manifest else None,
            str(found.package_dir.resolve()) if found.package_dir else None)


def forget_modules(module: str) -> None:
    """Drop a plugin's modules from ``sys.modules`` so that the next import
    reads the code installed now; running code keeps the old objects."""
    for name in [n for n in sys.modules if n == module or n.startswith(module + ".")]:
        del sys.modules[name]
    importlib.invalidate_caches()


@dataclass
class PluginRecord:
    found: Discovered
    state: str = DISABLED
    error: str | None = None
    traceback: str | None = None
    hook: PluginHook | None = None
    platform: "Platform | None" = None
    #: :func:`identity` of the copy this record runs (taken when discovered).
    copy: tuple[str | None, str | None] = (None, None)

    def __post_init__(self) -> None:
        self.copy = identity(self.found)

    @property
    def name(self) -> str:
        return self.found.name

    def as_dict(self) -> dict[str, Any]:
        manifest = self.found.manifest
        return {"name": self.name, "state": self.state, "error": self.error,
                "traceback": self.traceback,
                "title": manifest.title if manifest else None,
                "version": manifest.version if manifest else None,
                "services": list(manifest.requires_services) if manifest else []}


@dataclass
class Platform:
    """The handle a plugin's hook gets (see :class:`peek.plugin_api.PluginPlatform`)."""

    manager: "PluginManager"
    plugin_name: str
    blueprints: list[tuple[str, Blueprint]] = field(default_factory=list)
    slot_items: list[tuple[str, SlotItem]] = field(default_factory=list)
    table_editors: list[Any] = field(default_factory=list)

    @property
    def service(self) -> str:
        return self.manager.service

    @property
    def log(self) -> logging.Logger:
        return logging.getLogger(self.plugin_name)

    @property
    def file_storage_dir(self) -> Path:
        path = self.manager.config.home / "plugin_data" / self.plugin_name
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def schema(self) -> str:
        return schema_name(self.plugin_name)

    @property
    def db_session(self) -> Callable[[], Session]:
        if self.manager.engine is None:
            raise PluginApiError(f"the {self.service} service has no database access; "
                                 "use it from the server or worker hook")
        return self.manager.session_factory

    @property
    def settings(self) -> PluginSettings:
        manifest = self.manager.records[self.plugin_name].found.manifest
        if self.manager.engine is None:
            raise PluginApiError(f"settings are kept in the database, which the "
                                 f"{self.service} service has no access to; read them "
                                 "from the server or worker hook")
        return PluginSettings(self.plugin_name, self.schema, manifest.settings,
                              self.manager.engine)

    def get_other_plugin_api(self, name: str) -> Any:
        return self.manager.api_of(name, asked_by=self.plugin_name)

    def signing_key(self, purpose: str) -> bytes:
        secret = str(self.manager.config.get("server.secret")).encode()
        return hmac.new(secret, f"{self.plugin_name}\0{purpose}".encode(),
                        hashlib.sha256).digest()

    # -- vortex ---------------------------------------------------------------------------
    def _vortex(self, what: str, services: tuple[str, ...]) -> Any:
        vortex = self.manager.vortex
        if self.service not in services or vortex is None:
            raise PluginApiError(f"{self.plugin_name}: {what} is for the "
                                 f"{' or '.join(services)} service, not {self.service}")
        return vortex

    def _own_type(self, tuple_type: type | str) -> str:
        name = TupleSelector.of(tuple_type).name
        if not name.startswith(self.plugin_name + "."):
            raise ValueError(f"{self.plugin_name} can only register its own tuple types "
                             f"({self.plugin_name}.*), not {name}")
        return name

    def add_tuple_provider(self, tuple_type: type | str,
                           provider: Callable[[TupleSelector], Any], *,
                           devices: bool = False) -> None:
        vortex = self._vortex("a tuple provider", (SERVER,))
        vortex.observables.add_provider(self._own_type(tuple_type), provider,
                                        self.plugin_name, devices)

    def notify(self, what: TupleSelector | type | str) -> None:
        self._vortex("notify", (SERVER,)).observables.notify(what)

    def add_action_processor(self, processor: Callable[[Any, Any], Any],
                             tuple_type: type | str | None = None, *,
                             devices: bool = False) -> None:
        vortex = self._vortex("an action processor", (SERVER,))
        name = None if tuple_type is None else self._own_type(tuple_type)
        vortex.actions.add(self.plugin_name, processor, name, devices)

    @property
    def workers(self) -> Any:
        pool = self.manager.workers
        if pool is None:
            raise PluginApiError(f"{self.plugin_name}: worker tasks are submitted from the "
                                 f"server service, not {self.service}")
        from peek.workers.pool import PluginWorkers

        return PluginWorkers(pool, self.plugin_name,
                             self.manager.records[self.plugin_name].found.module)

    def serve_rpc(self, function: Any) -> None:
        vortex = self._vortex("serving an RPC", (SERVER, CLIENT, AGENT))
        # A bundled plugin's RPCs are named after its module, peek.plugins.<name>.
        module = self.manager.records[self.plugin_name].found.module
        if not getattr(function, "name", "").startswith(
                (self.plugin_name + ".", module + ".")):
            raise ValueError(f"{self.plugin_name} can only serve RPCs declared in its "
                             f"own package, not {getattr(function, 'name', function)!r}")
        vortex.rpcs.serve(self.plugin_name, function)

    def call_rpc(self, function: Any, *args: Any, **kwargs: Any) -> Any:
        return self._vortex("calling an RPC", (SERVER, CLIENT, AGENT)).call(
            function, args, kwargs)

    def watch(self, what: TupleSelector | type | str,
              callback: Callable[[list[Any]], Any]) -> Callable[[], None]:
        selector = what if isinstance(what, TupleSelector) else TupleSelector.of(what)
        return self._vortex("watching a server observable", (CLIENT, AGENT)).watch(
            self.plugin_name, selector, callback)

    def set_device_sign_in(self, sign_in: Any) -> None:
        self._vortex("device sign-in", (CLIENT,)).set_sign_in(self.plugin_name, sign_in)

    def disconnect_signed_in(self, session: str) -> int:
        return self._vortex("device sign-in", (CLIENT,)).disconnect_session(session)

    def add_live_partial(self, name: str, template: str) -> str:
        vortex = self._vortex("a live partial", (CLIENT,))
        if not template.startswith(self.plugin_name + "/"):
            raise ValueError(f"{self.plugin_name}: a live partial's template must be in "
                             f"templates/{self.plugin_name}/, not {template!r}")
        return vortex.live.add_partial(self.plugin_name, name, template)

    def add_blueprint(self, blueprint: Blueprint, site: str) -> None:
        allowed = SITES_OF_SERVICE[self.service]
        if site not in allowed:
            raise ValueError(f"{self.plugin_name}: the {self.service} service serves "
                             f"{', '.join(allowed) or 'no sites'}, not {site!r}")
        check_templates(self.plugin_name, blueprint)
        self.blueprints.append((site, blueprint))

    def add_to_slot(self, slot: str, title: str, *, url: str | None = None,
                    icon: str | None = None, template: str | None = None,
                    priority: int = 100) -> None:
        site = SLOTS.get(slot)
        if site is None:
            raise ValueError(f"{self.plugin_name}: no slot {slot!r}; slots: {', '.join(SLOTS)}")
        if site not in SITES_OF_SERVICE[self.service]:
            raise ValueError(f"{self.plugin_name}: slot {slot!r} is on the {site} site, "
                             f"which the {self.service} service does not serve")
        if slot == "admin.dashboard" and not template:
            raise ValueError(f"{self.plugin_name}: a dashboard panel needs a template")
        if url is None and template is None:
            url = url_prefix(self.plugin_name, site) + "/"
        self.slot_items.append((slot, SlotItem(self.plugin_name, title, url, icon,
                                               template, priority)))

    def add_table_editor(self, model: type, *, title: str | None = None,
                         columns: list[Any] | None = None, notify: Any = None,
                         priority: int = 100) -> None:
        from peek.table_editor.editor import declare_editor

        if self.service != SERVER:
            raise PluginApiError(f"{self.plugin_name}: table editors are on the admin site, "
                                 f"declared from the server hook, not the {self.service} one")
        editor = declare_editor(self, model, title=title, columns=columns, notify=notify)
        if any(e.table.name == editor.table.name for e in self.table_editors):
            raise ValueError(f"{self.plugin_name}: {editor.table.name} already has an editor")
        self.table_editors.append(editor)
        self.add_to_slot("admin.menu", editor.title, url=editor.url, priority=priority)


class PluginManager:
    def __init__(self, config: ServiceConfig, engine: sqlalchemy.Engine | None = None,
                 migrate: bool = False, vortex: Any = None, workers: Any = None):
        self.config = config
        self.vortex = vortex
        self.workers = workers
        self.service = config.service
        self.engine = engine
        self.migrate = migrate
        self.session_factory = sessionmaker(bind=engine) if engine is not None else None
        self.records: dict[str, PluginRecord] = {}
        self.order: list[str] = []

    # -- what is installed and enabled -------------------------------------------------
    @property
    def enabled(self) -> set[str]:
        return set(self.config.get("plugin.enabled") or [])

    def discover(self, keep: dict[str, PluginRecord] | None = None) -> None:
        """Records of every installed plugin; those in ``keep`` (running, and
        not changed) stay as they are."""
        keep = keep or {}
        enabled = self.enabled
        found = discover(self.config.home.parent)
        self.records = {name: keep.get(name) or PluginRecord(found[name])
                        for name in sorted(found)}
        for name in sorted(enabled - set(self.records)):
            log.error("Plugin %s is enabled in %s but not installed", name, self.config.path)
        for record in self.records.values():
            if record.name not in enabled or record.name in keep:
                continue
            if record.found.error:
                self._fail(record, record.found.error, None)
            elif not record.found.manifest.runs_on(self.service):
                record.state = NOT_STARTED
                record.error = f"does not run on the {self.service} service"

    def _candidates(self) -> dict[str, tuple[str, ...]]:
        enabled = self.enabled
        return {r.name: r.found.manifest.requires_plugins for r in self.records.values()
                if r.state == DISABLED and r.name in enabled
                and r.found.manifest and r.found.manifest.runs_on(self.service)}

    def migrate_all(self) -> dict[str, str | None]:
        """Migrate the schema of every enabled plugin with storage, without
        loading any of them; returns each one's error, or None."""
        self.discover()
        results: dict[str, str | None] = {}
        for name in self._candidates():
            record = self.records[name]
            if "storage" in record.found.manifest.requires_services:
                ok = self._step(record, "migration", self._migrate)
                results[name] = None if ok else record.error
        return results

    # -- lifecycle -----------------------------------------------------------------------
    def load_all(self, keep: dict[str, PluginRecord] | None = None) -> None:
        """Load every enabled plugin that runs here (those in ``keep`` run already)."""
        self.discover(keep)
        running = {name: record.found.manifest.requires_plugins
                   for name, record in (keep or {}).items()}
        order, blocked = start_order({**running, **self._candidates()})
        for name, why in blocked.items():
            record = self.records[name]
            record.state, record.error = NOT_STARTED, why
            log.error("Plugin %s is not started on the %s service: it %s",
                      name, self.service, why)
        self.order = order
        current = self._schemas_at([self.records[name] for name in order
                                    if name not in running and self._migrates(self.records[name])])
        for name in order:
            record = self.records[name]
            if name in running or self._blocked(record):  # blocked: also by one failing here
                continue
            if (self._migrates(record) and schema_name(record.name) not in current
                    and not self._step(record, "migration", self._migrate_checked)):
                continue
            self._step(record, "load", self._load_one)

    def start_all(self) -> None:
        for name in self.order:
            record = self.records[name]
            if record.state != LOADED or self._blocked(record):
                continue
            if self._step(record, "start", lambda r: r.hook.start()):
                record.state = STARTED
                log.info("Plugin %s started on the %s service", name, self.service)

    def stop_all(self, only: set[str] | None = None) -> None:
        """Stop, then unload, the running plugins (or those in ``only``),
        dependents first."""
        names = [n for n in reversed(self.order) if only is None or n in only]
        for name in names:
            record = self.records[name]
            if record.state == STARTED and self._step(record, "stop", lambda r: r.hook.stop()):
                record.state = STOPPED
        for name in names:
            record = self.records[name]
            if record.hook is not None and record.state in (STOPPED, LOADED):
                if self._step(record, "unload", lambda r: r.hook.unload()):
                    record.state = STOPPED
                record.hook = None
            if self.vortex is not None:
                self.vortex.forget(name)

    def reconcile(self) -> tuple[list[str], list[str]]:
        """Bring the running plugins in line with what is installed and enabled
        now, without touching the others.  Plugins gone, disabled or changed
        (another version) stop, with the plugins that require them; then new
        and changed ones (and those that failed before) load and start.
        Returns (stopped, started) plugin names."""
        found = discover(self.config.home.parent)
        enabled = self.enabled
        running = {n: r for n, r in self.records.items() if r.hook is not None}
        stale = {n for n, r in running.items() if n not in enabled or n not in found
                 or identity(found[n]) != r.copy}
        while True:  # and whatever requires them, transitively
            more = {n for n, r in running.items() if n not in stale
                    and stale & set(r.found.manifest.requires_plugins)}
            if not more:
                break
            stale |= more
        self.stop_all(only=stale)
        home = self.config.home.parent
        for name, record in self.records.items():
            # Those stopped now, and those that failed (try the new copy); only
            # Peek's own installs change while Peek runs, not bundled or pip ones.
            if (name in stale or record.hook is None) and origin(record.found, home) is None:
                forget_modules(record.found.module)
        keep = {n: r for n, r in running.items() if n not in stale}
        self.load_all(keep)
        self.start_all()
        started = sorted(n for n, r in self.records.items()
                         if r.state == STARTED and n not in keep)
        if stale or started:
            log.info("Plugins on the %s service: stopped %s, started %s", self.service,
                     ", ".join(sorted(stale)) or "none", ", ".join(started) or "none")
        return sorted(stale), started

    def _migrates(self, record: PluginRecord) -> bool:
        return self.migrate and "storage" in record.found.manifest.requires_services

    def _schemas_at(self, records: list[PluginRecord]) -> set[str]:
        """The schemas of ``records`` with nothing to migrate, checked all at
        once; a plugin left out (its revisions unreadable, the database
        away) is migrated, or fails, on its own."""
        wanted = {}
        for record in records:
            try:
                wanted[schema_name(record.name)] = heads(record.found.package_dir)
            except Exception:  # its own migration step reports it
                continue
        try:
            return schemas_at(self.engine, wanted)
        except sqlalchemy.exc.SQLAlchemyError as e:
            log.warning("Could not check the plugins' schemas together (%s); "
                        "checking each on its own", e)
            return set()

    def _migrate(self, record: PluginRecord) -> None:
        upgrade_plugin_schema(self.engine, schema_name(record.name), record.found.package_dir)

    def _migrate_checked(self, record: PluginRecord) -> None:
        """Migrate a plugin that :meth:`_schemas_at` did not find ready."""
        migrate_plugin_schema(self.engine, schema_name(record.name), record.found.package_dir)

    def _load_one(self, record: PluginRecord) -> None:
        module = importlib.import_module(record.found.module)
        if importlib.util.find_spec(f"{record.found.module}.{TUPLES_MODULE}") is not None:
            # Every service can decode the plugin's tuples, whoever sends them.
            importlib.import_module(f"{record.found.module}.{TUPLES_MODULE}")
        factory = getattr(module, f"{self.service}_entry_hook", None)
        if factory is None:
            raise PluginApiError(f"{record.found.module} has no {self.service}_entry_hook() "
                                 f"but its manifest lists the {self.service} service")
        hook_class = factory()
        record.platform = Platform(self, record.name)
        record.hook = hook_class(record.platform)
        record.hook.load()
        record.state = LOADED

    def _step(self, record: PluginRecord, step: str,
              action: Callable[[PluginRecord], None]) -> bool:
        try:
            action(record)
            return True
        except Exception as e:  # isolation: one plugin's failure stays its own
            self._fail(record, f"{step} failed: {type(e).__name__}: {e}",
                       traceback.format_exc())
            return False

    def _fail(self, record: PluginRecord, error: str, trace: str | None) -> None:
        record.state, record.error, record.traceback = FAILED, error, trace
        if self.vortex is not None:
            self.vortex.forget(record.name)
        log.error("Plugin %s failed on the %s service: %s%s", record.name, self.service,
                  error, f"\n{trace}" if trace else "")

    def _blocked(self, record: PluginRecord) -> bool:
        """Mark ``record`` not started if a plugin it requires did not come up."""
        for need in record.found.manifest.requires_plugins:
            if self.records[need].state not in (LOADED, STARTED):
                record.state = NOT_STARTED
                record.error = f"requires {need}, which did not start"
                log.error("Plugin %s is not started: it %s", record.name, record.error)
                return True
        return False

    # -- what plugins give each other and the sites ----------------------------------------
    def api_of(self, name: str, asked_by: str) -> Any:
        record = self.records.get(name)
        if record is None or name not in self.enabled:
            raise PluginApiError(f"{asked_by} asked for the API of {name}, which is not "
                                 f"{'installed' if record is None else 'enabled'} on the "
                                 f"{self.service} service")
        if record.state not in (LOADED, STARTED) or record.hook is None:
            why = f": {record.error}" if record.error else ""
            raise PluginApiError(f"{asked_by} asked for the API of {name}, which is "
                                 f"{record.state} on the {self.service} service{why}")
        return record.hook.public_api

    def blueprints(self) -> list[tuple[str, str, Blueprint]]:
        """(plugin name, site, blueprint) of every started plugin."""
        return [(r.name, site, bp) for r in self.records.values()
                if r.state == STARTED and r.platform for site, bp in r.platform.blueprints]

    def slot_items(self, slot: str) -> list[SlotItem]:
        """What the started plugins put in ``slot``, in render order.  A plugin's
        manifest item shows only once it serves a page on that site."""
        items = []
        for record in self.records.values():
            if record.state != STARTED or record.platform is None:
                continue
            own = [item for name, item in record.platform.slot_items if name == slot]
            items += own
            sites = {site for site, _ in record.platform.blueprints}
            site = SLOTS[slot]
            if MANIFEST_SLOTS.get(site) == slot and site in sites:
                item = manifest_item(record.found.manifest, site)
                # An entry the hook added for the same page replaces the manifest's.
                if all(o.url != item.url for o in own):
                    items.append(item)
        return sorted(items, key=lambda item: item.sort_key)

    def table_editor(self, plugin: str, table: str) -> Any:
        """The editor started plugin ``plugin`` declared for its ``table``, or None."""
        record = self.records.get(plugin)
        if record is None or record.state != STARTED or record.platform is None:
            return None
        return next((e for e in record.platform.table_editors if e.table.name == table), None)

    def states(self) -> list[dict[str, Any]]:
        return [r.as_dict() for r in self.records.values()]
