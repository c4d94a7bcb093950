"""The plugin API: what a plugin imports from Peek.

A plugin's root package defines one function per Python service it runs on,
``server_entry_hook``, ``client_entry_hook``, ``agent_entry_hook`` or
``worker_entry_hook``, each returning a :class:`PluginHook` subclass.  The
platform creates the hook with a :class:`PluginPlatform` and calls ``load``,
``start``, ``stop`` and ``unload`` in that order.  See docs/plugins.md.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable, Protocol

from flask import Blueprint
from sqlalchemy.orm import Session

from peek.device_auth import DeviceSignIn, DeviceUser, SignInUnavailable, current_device_user
from peek.device_auth import public as public_route
from peek.plugin_system.settings import PluginSettings, SettingError
from peek.vortex.actions import ActionContext
from peek.vortex.rpc import RemoteError, RpcError, RpcTimeout, rpc
from peek.vortex.selector import TupleSelector
from peek.vortex.tuples import Tuple, TupleError, decode, encode, orm_tuple
from peek.workers.errors import (BatchFailed, TaskCancelled, TaskKilledWorker, TaskTimeout,
                                 WorkerError, WorkersUnavailable)

__all__ = ["PluginHook", "PluginPlatform", "PluginApiError", "SettingError", "SITES_OF_SERVICE",
           "Tuple", "TupleError", "TupleSelector", "encode", "decode", "orm_tuple", "ActionContext", "rpc",
           "RpcError", "RpcTimeout", "RemoteError", "task_platform", "WorkerError",
           "WorkersUnavailable", "TaskTimeout", "TaskKilledWorker", "TaskCancelled",
           "BatchFailed", "DeviceSignIn", "DeviceUser", "SignInUnavailable",
           "current_device_user", "public_route"]


def task_platform() -> "PluginPlatform":
    """Inside a worker task: the platform handle of the task's plugin on this
    worker (``db_session``, ``settings``, ``log``, ``file_storage_dir``)."""
    from peek.workers.worker_plugin import task_platform as current

    return current()

#: The sites whose pages a plugin can add, by the service that serves them.
SITES_OF_SERVICE: dict[str, tuple[str, ...]] = {
    "server": ("admin",), "client": ("mobile", "desktop"), "agent": (), "worker": ()}


class PluginApiError(LookupError):
    """Another plugin's API is not available (missing, disabled, failed, not started)."""


class PluginPlatform(Protocol):
    """The platform handle a hook receives as ``self.platform``."""

    #: The service this hook runs on: server, client, agent or worker.
    service: str
    #: The plugin's package name, e.g. ``peek_plugin_noop``.
    plugin_name: str
    #: A directory of the plugin's own on this service, created for it.
    file_storage_dir: Path
    #: The logger to use (``logging.getLogger(plugin_name)``).
    log: logging.Logger

    def get_other_plugin_api(self, name: str) -> Any:
        """The API object of plugin ``name`` started on this same service.
        Raises :class:`PluginApiError` if it is missing, disabled or not started."""

    def signing_key(self, purpose: str) -> bytes:
        """A secret key of this plugin's for ``purpose`` (signing tokens, say):
        the same on every service of the installation, derived from its
        shared ``server.secret``, different for every plugin and purpose."""

    @property
    def db_session(self) -> Callable[[], Session]:
        """Session factory bound to the database (server and worker only)."""

    @property
    def schema(self) -> str:
        """The plugin's own PostgreSQL schema (``pl_<name>`` / ``core_<name>``)."""

    @property
    def settings(self) -> PluginSettings:
        """The plugin's declared settings: ``get``, ``set``, ``reset``, ``all``
        (server and worker only)."""

    def add_tuple_provider(self, tuple_type: type | str,
                           provider: Callable[[TupleSelector], Any], *,
                           devices: bool = False) -> None:
        """Server: ``provider(selector)`` returns the tuples a selector of
        ``tuple_type`` (one of the plugin's own) watches.  ``devices=True``
        lets devices (apps, the mobile and desktop pages) subscribe to it;
        without it only the plugins' own client and agent code may."""

    def notify(self, what: TupleSelector | type | str) -> None:
        """Server: the data of a selector (or of every watched selector of a
        tuple type) changed; subscribers get it again."""

    def add_action_processor(self, processor: Callable[[Any, ActionContext], Any],
                             tuple_type: type | str | None = None, *,
                             devices: bool = False) -> None:
        """Server: ``processor(action, ctx)`` applies actions of ``tuple_type``
        (without one: the plugin's actions no other processor takes) and
        returns the answer (a tuple, plain JSON data or None).  Write to the
        database through ``ctx.session`` so that the action is applied once.
        ``devices=True`` lets devices send these actions; without it only the
        plugins' own code may."""

    @property
    def workers(self) -> Any:
        """Server: the plugin's tasks on the Dask workers: ``submit``, ``map``
        and ``batch`` (see docs/workers.md and :class:`peek.workers.pool.PluginWorkers`)."""

    def serve_rpc(self, function: Any) -> None:
        """Make an ``@rpc`` function of this plugin callable from other services."""

    def call_rpc(self, function: Any, *args: Any, **kwargs: Any) -> Any:
        """Call an ``@rpc`` function where it runs; raises what it raised,
        :class:`RpcError` if refused or unreachable, :class:`RpcTimeout`."""

    def watch(self, what: TupleSelector | type | str,
              callback: Callable[[list[Any]], Any]) -> Callable[[], None]:
        """Client or agent: call ``callback(tuples)`` with the data of a server
        observable now, after every change and after every reconnect; returns
        the function that stops watching (stopping the plugin stops it too)."""

    def set_device_sign_in(self, sign_in: DeviceSignIn) -> None:
        """Client: from now on (until this plugin stops) devices need a user
        signed in through ``sign_in`` on every route not marked
        :func:`public_route` (see docs/sign_in.md).  ValueError if another
        plugin registered one."""

    def disconnect_signed_in(self, session: str) -> int:
        """Client: close the device websockets and live pages of sign-in
        ``session`` (revoked, signed out); they are told ``signed-out``."""

    def add_live_partial(self, name: str, template: str) -> str:
        """Client: a template that renders a selector's ``tuples`` on mobile and
        desktop pages, kept live; returns its full name (``<plugin>.<name>``)
        for ``{{ vortex_live(full_name, TupleType, **filter) }}`` in a page."""

    def add_blueprint(self, blueprint: Blueprint, site: str) -> None:
        """Serve ``blueprint`` on ``site`` (admin, mobile or desktop) under
        ``/<plugin_name>/`` (``/desktop/<plugin_name>/`` on the desktop site).
        Its templates must all be in ``templates/<plugin_name>/``."""

    def add_to_slot(self, slot: str, title: str, *, url: str | None = None,
                    icon: str | None = None, template: str | None = None,
                    priority: int = 100) -> None:
        """Put an entry in a slot of a platform page: ``admin.menu``,
        ``admin.dashboard`` (needs ``template``), ``mobile.home`` or
        ``desktop.home``.  Lower priorities render first."""

    def add_table_editor(self, model: type, *, title: str | None = None,
                         columns: list[Any] | None = None,
                         notify: TupleSelector | type | str | Callable[[dict[str, Any]], Any]
                         | None = None, priority: int = 100) -> None:
        """Server: let the administrator edit the rows of ``model``, one of the
        plugin's own SQLAlchemy ORM classes (its table in the plugin's schema),
        on a page at ``/tables/<plugin_name>/<table>`` listed in the admin menu
        as ``title`` (default: the table's name) at ``priority``.

        ``columns`` (names or model attributes) are the editable ones; by
        default every column but an autoincrement primary key.  After each
        saved change, ``notify`` (a tuple type, a selector, or a function called
        with the row's values as a dict, once as they were and once as they
        are, returning selectors) is notified so that subscribers get fresh
        data.  ValueError if ``model`` is not one of the plugin's models or a
        column cannot be edited."""


class PluginHook:
    """Base class of a plugin's entry hook on one service.

    Whatever ``load`` and ``start`` create, ``stop`` and ``unload`` release.
    """

    def __init__(self, platform: PluginPlatform):
        self.platform = platform

    def load(self) -> None:
        """Called after the plugin's schema is migrated; register things here."""

    def start(self) -> None:
        """Start working: controllers, handlers, background work."""

    def stop(self) -> None:
        """Stop what ``start`` started."""

    def unload(self) -> None:
        """Release what ``load`` took."""

    @property
    def public_api(self) -> Any:
        """The object other plugins on this service get from
        ``get_other_plugin_api``; ``None`` publishes nothing."""
        return None
