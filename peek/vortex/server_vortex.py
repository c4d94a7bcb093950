"""The server's vortex: observables, action processors and RPCs, reached by
the client and agent services over their links (see peek.blueprints.peer)."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

import sqlalchemy

from peek.config import ServiceConfig
from peek.peering.registry import PeerRegistry
from peek.vortex.actions import ActionProcessors, PreparedAction, answer
from peek.vortex.frames import Frame, FrameError, error_frame, frame, route_subscription
from peek.vortex.lanes import Lanes
from peek.vortex.observable import Observables
from peek.vortex.rpc import RpcCalls, RpcEndpoints, RpcError, RpcFunction
from peek.vortex.selector import per_user_allowed

log = logging.getLogger(__name__)

#: The most actions one transaction applies; how many transactions a plugin's
#: actions may have open at once when batches run long (see peek.vortex.lanes),
#: and after how long a batch counts as long.
ACTION_BATCH, ACTION_PARALLEL, ACTION_SPILL_AFTER_S = 200, 4, 0.2


class ServerVortex:
    def __init__(self, config: ServiceConfig, engine_of: Callable[[], sqlalchemy.Engine],
                 peers: PeerRegistry):
        self.config = config
        self.peers = peers
        self.executor = ThreadPoolExecutor(config.get("vortex.threads"),
                                           thread_name_prefix="vortex")
        self.observables = Observables(self.executor, config.get("vortex.maxFrameBytes"))
        self._engine_of = engine_of
        self._actions: ActionProcessors | None = None
        self.rpcs = RpcEndpoints("server")
        self.calls = RpcCalls("server")
        self._lanes = Lanes(self.executor, self._apply_actions, ACTION_BATCH,
                            ACTION_PARALLEL, ACTION_SPILL_AFTER_S)

    @property
    def actions(self) -> ActionProcessors:
        if self._actions is None:  # the engine exists once the database is up
            self._actions = ActionProcessors(self._engine_of())
        return self._actions

    def start(self) -> None:
        self.actions.prune(self.config.get("vortex.actionRetentionDays"))

    def stop(self) -> None:
        self._lanes.stop()
        self.executor.shutdown(wait=True, cancel_futures=True)
        if self._actions is not None:
            self._actions.release()

    def handle(self, link: Any, service: str, message: Frame) -> None:
        """A frame from a client or agent service's ``link``."""
        kind = message.type
        if kind == "ping":
            link.send(frame("pong"))
        elif kind == "subscribe" and message.selector is not None \
                and not per_user_allowed(message.selector, message.user):
            link.send(error_frame(
                f"{message.selector.name} is a per-user tuple type: a device sees only its own "
                "user's data", selector=message.selector))
        elif kind in ("subscribe", "unsubscribe"):
            route_subscription(self.observables, link, message)
        elif kind == "action":
            prepared = self.actions.prepare(message.id, message.tuple_, service, message.user)
            if isinstance(prepared, str):
                link.send(prepared)
            else:
                # One device's actions apply in the order it sent them.
                self._lanes.put(prepared.owner, (link, prepared), message.origin or message.id)
        elif kind == "call":
            self.executor.submit(self.rpcs.answer, link.send, message, service)
        elif kind == "reply":
            self.calls.on_reply(message)
        else:
            raise FrameError(f"unknown frame type {kind!r}")

    def _apply_actions(self, lane: tuple[str, int], batch: list[tuple[Any, PreparedAction]]) -> None:
        try:
            replies = self.actions.apply([prepared for _, prepared in batch])
        except Exception as e:  # every action gets an answer, whatever went wrong
            log.exception("%d actions for %s could not be applied", len(batch), lane[0])
            replies = [answer(p.action_id, error=f"the server failed to apply it: "
                              f"{type(e).__name__}: {e}") for _, p in batch]
        for (link, _), reply in zip(batch, replies):
            link.send(reply)

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
            return function.call_here("server", args, kwargs)
        for peer in self.peers.all():
            if peer.service == function.service and function.name in peer.rpcs:
                return self.calls.call(peer.link, function, args, kwargs)
        raise RpcError(f"RPC {function.name}: no connected {function.service} service "
                       "serves it")
