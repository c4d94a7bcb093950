"""The server's end of the service-to-service link (see peek.peering.protocol)."""

import logging
import time

from flask import Response, jsonify, request
from simple_websocket import ConnectionClosed

from peek.peering import protocol
from peek.plugin_system import packages
from peek.peering.registry import Peer
from peek.runtime import current_runtime
from peek.vortex import frames
from peek.vortex.connection import SERVICE_LINK_QUEUE_FACTOR, Connection, split_frames

log = logging.getLogger(__name__)

#: How often a handler looks up from its socket to see if the server is stopping.
CLOSING_CHECK_S = 0.5


def _refuse(ws, address: str, reason: str) -> None:
    log.warning("Refused a service connection from %s: %s", address, reason)
    ws.send(frames.error_frame(reason))


def _plugin_list(value: object) -> list[dict]:
    if not isinstance(value, list):
        return []
    return [p for p in value if isinstance(p, dict) and isinstance(p.get("name"), str)]


def peer_link(ws) -> None:
    runtime = current_runtime()
    address = request.remote_addr or "unknown"
    try:
        hello = frames.parse(ws.receive(timeout=10))
    except frames.FrameError as e:
        return _refuse(ws, address, f"bad hello: {e}")
    if hello.type != "hello" or hello.service not in protocol.PEER_SERVICES:
        return _refuse(ws, address, "expected hello from a client or agent service")
    if not protocol.secret_matches(hello.secret, runtime.config.get("server.secret")):
        return _refuse(ws, address, "wrong shared secret (server.secret in config.json)")

    ws.send(frames.frame("welcome"))
    link = Connection(ws, f"{hello.service} service {hello.name}",
                      SERVICE_LINK_QUEUE_FACTOR * runtime.config.get("vortex.sendQueueFrames"),
                      coalesce=True, max_message_bytes=runtime.config.get("vortex.maxFrameBytes"))
    peer = runtime.peers.add(Peer(service=hello.service, name=str(hello.name),
                                  version=str(hello.version), address=address,
                                  plugins=_plugin_list(hello.plugins),
                                  rpcs=[r for r in hello.rpcs or [] if isinstance(r, str)],
                                  link=link))
    log.info("%s connected from %s", link.name, address)
    link.send(runtime.plugins_frame())  # it runs what the server says
    try:
        _serve(ws, link, peer, runtime)
    except ConnectionClosed:
        # simple_websocket closed it with 1009 itself; its frame counter says why.
        if getattr(ws, "incoming_message_len", 0) > runtime.config.get("vortex.maxFrameBytes"):
            log.warning("%s sent a frame over vortex.maxFrameBytes (%s bytes); closed its "
                        "link", link.name, runtime.config.get("vortex.maxFrameBytes"))
    finally:
        runtime.peers.remove(peer)
        runtime.vortex.link_closed(link)
        link.close()
        log.info("%s disconnected", link.name)


def _serve(ws, link: Connection, peer: Peer, runtime) -> None:
    limit = protocol.HEARTBEAT_S * protocol.SILENCE_LIMIT
    last_heard = time.monotonic()
    while not peer.closing.is_set() and not link.closed.is_set():
        raw = ws.receive(timeout=CLOSING_CHECK_S)
        if raw is None:
            if time.monotonic() - last_heard > limit:
                log.warning("%s silent for %.0f s; closing its link", link.name, limit)
                return
            continue
        last_heard = time.monotonic()
        if isinstance(raw, bytes):
            _frame_failed(link, "a binary message: service links carry JSON text frames")
            continue
        for one in split_frames(raw):
            try:
                message = frames.parse(one)
                if message.type == "plugin_states":
                    peer.plugins = _plugin_list(message.plugins)
                else:
                    runtime.vortex.handle(link, peer.service, message)
            except frames.FrameError as e:
                _frame_failed(link, f"malformed frame: {e}")
            except Exception as e:  # one frame's failure; the link and the others go on
                log.exception("Handling a frame from %s failed", link.name)
                _frame_failed(link, f"the server failed to handle a frame: "
                                    f"{type(e).__name__}: {e}", logged=True)


def _frame_failed(link: Connection, error: str, logged: bool = False) -> None:
    """Answer a frame the server could not handle; the link stays up."""
    if not logged:
        log.warning("%s: %s", link.name, error)
    link.send(frames.error_frame(error))


def _authorised() -> bool:
    runtime = current_runtime()
    given = (request.headers.get("Authorization") or "").removeprefix("Bearer ")
    if protocol.secret_matches(given, runtime.config.get("server.secret")):
        return True
    log.warning("Refused a %s request from %s: wrong shared secret", request.path,
                request.remote_addr)
    return False


def vortex_stats():
    """The server's observables: providers and subscriptions (who watches what).
    Needs ``Authorization: Bearer <server.secret>``."""
    if not _authorised():
        return jsonify(error="send Authorization: Bearer <server.secret>"), 401
    return jsonify(current_runtime().vortex.observables.stats())


def plugin_package(name: str, version: str):
    """One installed plugin version, zipped, for a client or agent service on
    another machine.  Needs ``Authorization: Bearer <server.secret>``."""
    if not _authorised():
        return jsonify(error="send Authorization: Bearer <server.secret>"), 401
    try:
        data = packages.version_zip(current_runtime().config.home.parent, name, version)
    except packages.PluginOperationError as e:
        return jsonify(error=str(e)), 404
    return Response(data, mimetype="application/zip")


def apply_plugins():
    """Run what is installed and enabled now (``peek plugin`` commands call it
    after changing a running platform).  Needs the shared secret."""
    if not _authorised():
        return jsonify(error="send Authorization: Bearer <server.secret>"), 401
    stopped, started = current_runtime().apply_plugins()
    return jsonify(stopped=stopped, started=started)


def plugin_states():
    """Every service's plugins and states (the server's own, each connected
    client and agent service, each Dask worker): for ``peek plugin list``.
    Needs ``Authorization: Bearer <server.secret>``."""
    if not _authorised():
        return jsonify(error="send Authorization: Bearer <server.secret>"), 401
    runtime = current_runtime()
    instances = {"server": [{"name": "server", "plugins": runtime.plugin_states()}]}
    for service in protocol.PEER_SERVICES:
        instances[service] = [{"name": p.name, "plugins": p.plugins}
                              for p in runtime.peers.by_service(service)]
    instances["worker"] = [{"name": address, "plugins": states if isinstance(states, list) else []}
                           for address, states in sorted(runtime.dask.plugin_states().items())]
    return jsonify(instances=instances, enabled=runtime.config.get("plugin.enabled"))
