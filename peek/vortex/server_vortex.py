"""The server's vortex: observables, action processors and RPCs, reached by
the client and agent services over their links (see peek.blueprints.peer)."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

import sqlalchemy

from peek.config import ServiceConfig
from peek.peering.registry import PeerRegistry
from peek.vortex.actions import ActionProcessors
from peek.vortex.frames import Frame, FrameError, frame
from peek.vortex.observable import Observables
from peek.vortex.rpc import RpcCalls, RpcEndpoints, RpcError, RpcFunction

log = logging.getLogger(__name__)


class ServerVortex:
    def __init__(self, config: ServiceConfig, engine_of: Callable[[], sqlalchemy.Engine],
                 peers: PeerRegistry):
        self.config = config
        self.peers = peers
        self.executor = ThreadPoolExecutor(config.get("vortex.threads"),
                                           thread_name_prefix="vortex")
        self.observables = Observables(self.executor)
        self._engine_of = engine_of
        self._actions: ActionProcessors | None = None
        self.rpcs = RpcEndpoints("server")
        self.calls = RpcCalls("server")

    @property
    def actions(self) -> ActionProcessors:
        if self._actions is None:  # the engine exists once the database is up
            self._actions = ActionProcessors(self._engine_of())
        return self._actions

    def start(self) -> None:
        self.actions.prune(self.config.get("vortex.actionRetentionDays"))

    def stop(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)

    def handle(self, link: Any, service: str, message: Frame) -> None:
        """A frame from a client or agent service's ``link``."""
        kind = message.type
        if kind == "ping":
            link.send(frame("pong"))
        elif kind in ("subscribe", "unsubscribe"):
            if message.selector is None:
                raise FrameError(f"a {kind} frame needs a selector")
            if kind == "subscribe":
                self.observables.subscribe(link, message.selector)
            else:
                self.observables.unsubscribe(link, message.selector)
        elif kind == "action":
            self.executor.submit(self._answer, link, message, service)
        elif kind == "call":
            self.executor.submit(lambda: link.send(self.rpcs.handle(message, service)))
        elif kind == "reply":
            self.calls.on_reply(message)
        else:
            raise FrameError(f"unknown frame type {kind!r}")

    def _answer(self, link: Any, message: Frame, service: str) -> None:
        link.send(self.actions.apply(message.id, message.tuple_, via=service))

    def link_closed(self, link: Any) -> None:
        self.observables.drop(link)
        self.calls.on_lost(link)

    def forget(self, owner: str) -> None:
        """Drop what plugin ``owner`` registered (it stopped)."""
        self.observables.remove_providers(owner)
        self.actions.remove(owner)
        self.rpcs.remove(owner)

    def call(self, function: RpcFunction, args: tuple, kwargs: dict[str, Any]) -> Any:
        """Call ``function`` where it runs: here, or on a connected peer serving it."""
        if function.service == "server":
            if "server" not in function.callers:
                raise RpcError(f"RPC {function.name} may not be called from the server "
                               f"service (callers: {', '.join(function.callers)})")
            return function.function(*args, **kwargs)
        for peer in self.peers.all():
            if peer.service == function.service and function.name in peer.rpcs:
                return self.calls.call(peer.link, function, args, kwargs)
        raise RpcError(f"RPC {function.name}: no connected {function.service} service "
                       "serves it")
