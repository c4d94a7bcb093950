"""The server's end of the service-to-service link (see peek.peering.protocol)."""

import logging

from flask import request
from simple_websocket import ConnectionClosed

from peek.peering import protocol
from peek.peering.registry import Peer
from peek.runtime import current_runtime

log = logging.getLogger(__name__)


def _refuse(ws, address: str, reason: str) -> None:
    log.warning("Refused a service connection from %s: %s", address, reason)
    ws.send(protocol.encode("error", error=reason))


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
                                  connection=ws))
    log.info("%s service %s connected from %s", peer.service, peer.name, address)
    try:
        ws.send(protocol.encode("welcome"))
        limit = protocol.HEARTBEAT_S * protocol.SILENCE_LIMIT
        while True:
            frame = ws.receive(timeout=limit)
            if frame is None:
                log.warning("%s service %s silent for %.0f s; closing its link",
                            peer.service, peer.name, limit)
                break
            if protocol.decode(frame)["type"] == "ping":
                ws.send(protocol.encode("pong"))
    except protocol.ProtocolError as e:
        log.warning("%s service %s: %s; closing its link", peer.service, peer.name, e)
    except ConnectionClosed:
        pass
    finally:
        runtime.peers.remove(peer)
        log.info("%s service %s disconnected", peer.service, peer.name)
