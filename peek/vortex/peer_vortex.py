"""The vortex of a client or agent service: its end of the link to the
server, the RPCs it serves, and on the client the devices' websockets, the
observable proxy and the actions in flight."""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

from peek.config import ServiceConfig
from peek.vortex.connection import SERVICE_RESTART, SIGNED_OUT, SharedFrame
from peek.vortex.exposure import DeviceExposure, action_type
from peek.vortex.forwarder import ActionForwarder
from peek.vortex.frames import NO_PROCESSOR, Frame, FrameError, frame, route_subscription
from peek.vortex.live import LiveElements, status_html
from peek.vortex.proxy import ObservableProxy
from peek.vortex.rate_limit import RateLimiter
from peek.vortex.rpc import RpcCalls, RpcEndpoints, RpcError, RpcFunction
from peek.vortex.selector import TupleSelector, for_user
from peek.vortex.watch import Watcher

log = logging.getLogger(__name__)

#: How often in-flight actions are timed out and idle subscriptions dropped.
HOUSEKEEPING_S = 0.5


class PeerVortex:
    def __init__(self, config: ServiceConfig, send_upstream: Callable[[str], bool],
                 upstream_link: Callable[[], Any]):
        self.config = config
        self.service = config.service
        self.send_upstream = send_upstream
        self._upstream_link = upstream_link
        self.executor = ThreadPoolExecutor(config.get("vortex.threads"),
                                           thread_name_prefix="vortex")
        self.rpcs = RpcEndpoints(self.service)
        self.calls = RpcCalls(self.service)
        self.proxy = ObservableProxy(send_upstream, config.get("vortex.subscriptionIdleS")
                                     or 60.0)
        self.actions = ActionForwarder(send_upstream, config.get("vortex.actionTimeoutS")
                                       or 30.0, config.get("vortex.maxFrameBytes"),
                                       config.get("vortex.maxActionsInFlightPerDevice"))
        #: Seconds a REST data request waits for its first answer.
        self.data_timeout_s: float = config.get("vortex.dataTimeoutS") or 10.0
        self._max_subscriptions: int = config.get("vortex.maxSubscriptionsPerDevice") or 1000
        #: What devices may reach, as the server says (its plugins frames).
        self.exposure = DeviceExposure()
        #: REST requests per second per address and user (vortex.restRequestsPerS).
        self.rest_limit = RateLimiter(config.get("vortex.restRequestsPerS") or 0)
        self.live = LiveElements(self.proxy, self.executor)
        self.devices: set[Any] = set()
        self.pages: set[Any] = set()
        self.upstream_connected = False
        #: The device sign-in a plugin registered: (owner, sign-in) or None.
        self._sign_in: tuple[str, Any] | None = None
        self._watchers: set[Watcher] = set()
        #: Takes the server's ``plugins`` frames (set by the runtime).
        self.on_plugins: Callable[[Frame], None] | None = None
        self._stop = threading.Event()
        self._housekeeper = threading.Thread(target=self._housekeeping,
                                             name="vortex-housekeeping", daemon=True)

    def start(self) -> None:
        self._housekeeper.start()

    def stop(self) -> None:
        """Close the devices' websockets (they reconnect to the next start)."""
        self._stop.set()
        for connection in [*self.devices, *self.pages]:
            connection.close(code=SERVICE_RESTART)
        self.executor.shutdown(wait=True, cancel_futures=True)

    def forget(self, owner: str) -> None:
        """Drop what plugin ``owner`` registered (it stopped)."""
        self.rpcs.remove(owner)
        self.live.forget(owner)
        for watcher in [w for w in self._watchers if w.owner == owner]:
            self._watchers.discard(watcher)
            self.proxy.drop(watcher)
        if self._sign_in is not None and self._sign_in[0] == owner:
            self._sign_in = None
            log.info("Devices need no sign-in any more (%s stopped)", owner)

    # -- for plugins on this service ----------------------------------------------------------
    def watch(self, owner: str, selector: TupleSelector,
              callback: Callable[[list[Any]], Any]) -> Callable[[], None]:
        """Have ``callback(tuples)`` called with a server observable's data,
        now and after every change (and again after a reconnect)."""
        watcher = Watcher(owner, selector, callback, self.executor)
        self._watchers.add(watcher)
        self.proxy.subscribe(watcher, selector)

        def unwatch() -> None:
            self._watchers.discard(watcher)
            self.proxy.drop(watcher)
        return unwatch

    @property
    def sign_in(self) -> Any:
        """The :class:`~peek.device_auth.DeviceSignIn` devices use, or None."""
        return self._sign_in[1] if self._sign_in is not None else None

    def set_sign_in(self, owner: str, sign_in: Any) -> None:
        if self._sign_in is not None and self._sign_in[0] != owner:
            raise ValueError(f"devices already sign in through {self._sign_in[0]}; "
                             "enable one sign-in plugin only")
        self._sign_in = (owner, sign_in)
        log.info("Devices sign in through %s from now on", owner)
        anonymous = [c for c in [*self.devices, *self.pages] if c.user is None]
        for connection in anonymous:  # opened while nobody had to sign in
            if connection in self.pages:
                connection.send(status_html("signed-out", "sign in"))
            else:
                connection.send(frame("status", state="signed-out"))
            connection.finish("devices sign in from now on", code=SIGNED_OUT)

    def disconnect_session(self, session: str) -> int:
        """Close every device websocket and page opened under sign-in
        ``session`` (it was revoked or signed out); returns how many."""
        closing = [c for c in [*self.devices, *self.pages]
                   if getattr(c.user, "session", None) == session]
        for connection in closing:
            if connection in self.pages:
                connection.send(status_html("signed-out", "signed out"))
            else:
                connection.send(frame("status", state="signed-out"))
            connection.finish("its sign-in was revoked or signed out", code=SIGNED_OUT)
        return len(closing)

    def _housekeeping(self) -> None:
        # Devices' and pages' websockets are pinged this often (see _keepalive).
        keepalive_s = self.config.get("vortex.keepaliveS") or 25.0
        next_keepalive = time.monotonic() + keepalive_s
        while not self._stop.wait(HOUSEKEEPING_S):
            try:
                self.actions.expire()
                self.proxy.drop_idle()
                if time.monotonic() >= next_keepalive:
                    next_keepalive += keepalive_s
                    self._keepalive()
            except Exception:  # keep housekeeping alive whatever one round hit
                log.exception("Vortex housekeeping failed")

    def _keepalive(self) -> None:
        """Ping every device and page websocket, dropping those that did not
        answer the last round: a peer gone without a goodbye (a phone out
        of coverage) is noticed, and proxies on the way see traffic.  Done
        here rather than by simple_websocket's ``ping_interval``, which
        costs a select before every read of every socket."""
        for connection in [*self.devices, *self.pages]:
            connection.keepalive()

    # -- the link to the server -----------------------------------------------------------
    def on_connected(self) -> None:
        self.upstream_connected = True
        self.proxy.on_connected()
        self.actions.on_connected()
        self._tell_devices("connected")

    def on_lost(self, link: Any) -> None:
        self.upstream_connected = False
        self.proxy.on_lost()
        self.actions.on_lost()
        self.calls.on_lost(link)
        self._tell_devices("reconnecting")

    def _tell_devices(self, state: str) -> None:
        status = SharedFrame(frame("status", state=state))
        for device in list(self.devices):
            device.send(status)
        html = status_html(state)
        for page in list(self.pages):
            page.send(html)

    def from_upstream(self, message: Frame, raw: str) -> None:
        kind = message.type
        if kind == "data" and message.selector is not None:
            self.proxy.on_data(message.selector, raw)
        elif kind == "result":
            self.actions.on_answer(message.id, raw)
        elif kind == "call":
            self.executor.submit(self.rpcs.answer, self.send_upstream, message, "server")
        elif kind == "reply":
            self.calls.on_reply(message)
        elif kind == "plugins":
            if self.on_plugins is not None:
                self.on_plugins(message)
        elif kind == "error" and message.selector is not None:
            self.proxy.on_error(message.selector, raw)
        elif kind == "error":
            log.warning("The server reports: %s", message.error)
        elif kind != "pong":
            raise FrameError(f"unknown frame type {kind!r}")

    def call(self, function: RpcFunction, args: tuple, kwargs: dict[str, Any]) -> Any:
        if function.service == self.service:
            return function.call_here(self.service, args, kwargs)
        if function.service != "server":
            raise RpcError(f"RPC {function.name} runs on the {function.service} service; "
                           f"the {self.service} service only reaches the server")
        link = self._upstream_link()
        if link is None:
            raise RpcError(f"RPC {function.name}: not connected to the server")
        return self.calls.call(link, function, args, kwargs)

    # -- devices (client service) ------------------------------------------------------------
    def device_joined(self, device: Any) -> None:
        self.devices.add(device)
        device.send(frame("status", state="connected" if self.upstream_connected
                          else "reconnecting"))

    def device_left(self, device: Any) -> None:
        self.devices.discard(device)
        self.proxy.drop(device)
        self.exposure.forget(device.name)

    def action_refusal(self, encoded_tuple: bytes) -> tuple[str, str] | None:
        """(state, error) for an action devices may not send, else None."""
        name = action_type(encoded_tuple)
        if name is None:
            return None  # not a tuple: the server says what is wrong with it
        refusal = self.exposure.action_refusal(name)
        return None if refusal is None else (NO_PROCESSOR, refusal)

    def learn_exposure(self, message: Frame) -> None:
        """The server's word on what plugins keep from devices; the devices
        and pages watching a type newly kept from them are told, and dropped."""
        kept = self.exposure.learn(message.internal_data or [], message.device_actions or [],
                                   message.internal_actions or [])
        if kept:
            self.live.drop_types(kept)  # the pages' renderers
            self.proxy.drop_where(lambda subscriber, selector: selector.name in kept
                                  and not isinstance(subscriber, Watcher), self._kept_from)

    def _kept_from(self, subscriber: Any, selector: TupleSelector) -> None:
        getattr(subscriber, "watching", set()).discard(selector.key)
        refusal = self.exposure.data_refusal(selector.name) or ""
        subscriber.send(frame("error", selector=selector, error=refusal))

    def page_joined(self, page: Any) -> None:
        self.pages.add(page)
        page.send(status_html("connected" if self.upstream_connected else "reconnecting"))

    def page_left(self, page: Any) -> None:
        self.pages.discard(page)
        self.live.drop(page)
        self.exposure.forget(page.name)

    def from_device(self, device: Any, message: Frame) -> None:
        kind = message.type
        if kind == "ping":
            device.send(frame("pong"))
        elif kind in ("subscribe", "unsubscribe"):
            if message.selector is not None:
                message.selector = for_user(message.selector, device.user_name)
                refusal = kind == "subscribe" and self.exposure.data_refusal(
                    message.selector.name)
                if refusal:
                    self.exposure.log_once(device.name, refusal)
                    device.send(frame("error", selector=message.selector, error=refusal))
                    return
                if kind == "unsubscribe":
                    device.watching.discard(message.selector.key)
                elif message.selector.key not in device.watching:
                    if len(device.watching) >= self._max_subscriptions:
                        device.send(frame("error", selector=message.selector, error=(
                            f"this connection watches {len(device.watching)} selectors, "
                            "the most one may (vortex.maxSubscriptionsPerDevice): "
                            "unsubscribe from one first")))
                        return
                    device.watching.add(message.selector.key)
            route_subscription(self.proxy, device, message)
        elif kind == "action":
            if not message.id or not message.tuple_:
                device.send(frame("result", id=message.id, error=(
                    "an action frame needs an id and a tuple")))
                return
            refusal = self.action_refusal(message.tuple_)
            if refusal:
                self.exposure.log_once(device.name, refusal[1])
                device.send(frame("result", id=message.id, state=refusal[0], error=refusal[1]))
                return
            self.actions.forward(message.id, message.tuple_, device.send, device.name,
                                 device.user_name)
        else:
            raise FrameError(f"unknown frame type {kind!r}; devices send subscribe, "
                             "unsubscribe, action or ping")
