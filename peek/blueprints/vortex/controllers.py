"""The devices' websockets: JSON frames for native apps, HTML for HTMX pages."""

from __future__ import annotations

import logging
from typing import Any, Callable

from flask import current_app, render_template, request
from simple_websocket import ConnectionClosed

from peek import greenlets
from peek.device_auth import current_device_user
from peek.runtime import current_runtime
from peek.vortex import frames
from peek.vortex.connection import PROTOCOL_ERROR, UNSUPPORTED_DATA, Connection
from peek.vortex.live import status_html
from peek.vortex.selector import for_user

log = logging.getLogger(__name__)


def _connection(ws, kind: str) -> Connection:
    runtime = current_runtime()
    address = request.remote_addr or "unknown"
    port = request.environ.get("REMOTE_PORT", "")
    connection = Connection(ws, f"{kind} {address}:{port}",
                            runtime.config.get("vortex.sendQueueFrames"))
    connection.user = current_device_user()  # signed in at the handshake (device_auth)
    return connection


def _serve(ws, connection: Connection, handle: Callable[[frames.Frame], Any],
           error_reply: Callable[[str], str]) -> None:
    """Read frames until the peer leaves; a malformed one gets an error reply
    and closes this connection only."""
    yielding = greenlets.active()
    try:
        while not connection.closed.is_set():
            raw = ws.receive()
            if raw is None:
                continue
            if isinstance(raw, bytes):
                connection.send(error_reply("binary messages are not part of the device "
                                            "protocol: send JSON text frames"))
                connection.finish("sent a binary message", code=UNSUPPORTED_DATA)
                connection.closed.wait(5)
                return
            try:
                handle(frames.parse(raw))
                if yielding:
                    greenlets.yield_now()  # one frame at a time: the others get their turn
            except (frames.FrameError, LookupError) as e:
                connection.send(error_reply(str(e)))
                if isinstance(e, frames.FrameError):
                    connection.finish(f"malformed frame: {e}", code=PROTOCOL_ERROR)
                    connection.closed.wait(5)
                    return
    except ConnectionClosed:
        limit = current_runtime().config.get("vortex.maxFrameBytes")
        if getattr(ws, "incoming_message_len", 0) > limit:
            log.warning("%s sent a frame over vortex.maxFrameBytes (%s bytes); closed it",
                        connection.name, limit)


def device_socket(ws) -> None:
    """A native app's websocket: subscribe, unsubscribe, action, ping."""
    vortex = current_runtime().vortex
    device = _connection(ws, "device")
    vortex.device_joined(device)
    try:
        _serve(ws, device, lambda message: vortex.from_device(device, message),
               lambda error: frames.error_frame(error))
    finally:
        vortex.device_left(device)
        device.close()


def live_socket(ws) -> None:
    """An HTMX page's websocket (htmx's ws extension): the page subscribes its
    live elements; rendered partials come back as out-of-band swaps."""
    vortex = current_runtime().vortex
    app = current_app._get_current_object()
    vortex.live.render = lambda template, items, selector: _render(app, template, items,
                                                                   selector)
    page = _connection(ws, "page")
    vortex.page_joined(page)

    def handle(message: frames.Frame) -> None:
        if message.type == "subscribe" and message.selector and message.partial:
            refusal = vortex.exposure.data_refusal(message.selector.name)
            if refusal:
                vortex.exposure.log_once(page.name, refusal)
                page.send(status_html("error", refusal))
                return
            vortex.live.subscribe(page, message.partial,
                                  for_user(message.selector, page.user_name))
        elif message.type != "ping":
            raise frames.FrameError("a page sends subscribe frames with a selector and a "
                                    "partial")
    try:
        _serve(ws, page, handle, lambda error: status_html("error", error))
    finally:
        vortex.page_left(page)
        page.close()


def _render(app, template: str, items: list, selector) -> str:
    with app.app_context():
        return render_template(template, tuples=items, selector=selector)
