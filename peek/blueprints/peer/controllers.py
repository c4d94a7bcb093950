"""The server's end of the service-to-service link (see peek.peering.protocol)."""

import logging
import time

from flask import jsonify, request
from simple_websocket import ConnectionClosed

from peek.peering import protocol
from peek.peering.registry import Peer
from peek.runtime import current_runtime

log = logging.getLogger(__name__)

#: How often a handler looks up from its socket to see if the server is stopping.
CLOSING_CHECK_S = 0.5


def _refuse(ws, address: str, reason: str) -> None:
    log.warning("Refused a service connection from %s: %s", address, reason)
    ws.send(protocol.encode("error", error=reason))


def _plugin_list(value: object) -> list[dict]:
    if not isinstance(value, list):
        return []
    return [p for p in value if isinstance(p, dict) and isinstance(p.get("name"), str)]


def peer_link(ws) -> None:
    runtime = current_runtime()
    address = request.remote_addr or "unknown"
    try:
        hello = protocol.decode(ws.receive(timeout=10))
    except protocol.ProtocolError as e:
        return _refuse(ws, address, f"bad hello: {e}")
    if hello["type"] != "hello" or hello.get("service") not in protocol.PEER_SERVICES:
        return _refuse(ws, address, "expected hello from a client or agent service")
    if not protocol.secret_matches(hello.get("secret"), runtime.config.get("server.secret")):
        return _refuse(ws, address, "wrong shared secret (server.secret in config.json)")

    peer = runtime.peers.add(Peer(service=hello["service"], name=str(hello.get("name")),
                                  version=str(hello.get("version")), address=address,
                                  plugins=_plugin_list(hello.get("plugins"))))
    log.info("%s service %s connected from %s", peer.service, peer.name, address)
    try:
        ws.send(protocol.encode("welcome"))
        limit = protocol.HEARTBEAT_S * protocol.SILENCE_LIMIT
        last_heard = time.monotonic()
        while not peer.closing.is_set():
            frame = ws.receive(timeout=CLOSING_CHECK_S)
            if frame is None:
                if time.monotonic() - last_heard > limit:
                    log.warning("%s service %s silent for %.0f s; closing its link",
                                peer.service, peer.name, limit)
                    break
                continue
            last_heard = time.monotonic()
            if protocol.decode(frame)["type"] == "ping":
                ws.send(protocol.encode("pong"))
    except protocol.ProtocolError as e:
        log.warning("%s service %s: %s; closing its link", peer.service, peer.name, e)
        ws.send(protocol.encode("error", error=str(e)))
    except ConnectionClosed:
        # simple_websocket closed it with 1009 itself; its frame counter says why.
        if getattr(ws, "incoming_message_len", 0) > runtime.config.get("vortex.maxFrameBytes"):
            log.warning("%s service %s sent a frame over vortex.maxFrameBytes (%s bytes); "
                        "closed its link", peer.service, peer.name,
                        runtime.config.get("vortex.maxFrameBytes"))
    finally:
        runtime.peers.remove(peer)
        log.info("%s service %s disconnected", peer.service, peer.name)


def plugin_states():
    """Every service's plugins and states (the server's own, each connected
    client and agent service, each Dask worker): for ``peek plugin list``.
    Needs ``Authorization: Bearer <server.secret>``."""
    runtime = current_runtime()
    given = (request.headers.get("Authorization") or "").removeprefix("Bearer ")
    if not protocol.secret_matches(given, runtime.config.get("server.secret")):
        log.warning("Refused a plugin list request from %s: wrong shared secret",
                    request.remote_addr)
        return jsonify(error="send Authorization: Bearer <server.secret>"), 401
    instances = {"server": [{"name": "server", "plugins": runtime.plugin_states()}]}
    for service in protocol.PEER_SERVICES:
        instances[service] = [{"name": p.name, "plugins": p.plugins}
                              for p in runtime.peers.by_service(service)]
    instances["worker"] = [{"name": address, "plugins": states if isinstance(states, list) else []}
                           for address, states in sorted(runtime.dask.plugin_states().items())]
    return jsonify(instances=instances, enabled=runtime.config.get("plugin.enabled"))
