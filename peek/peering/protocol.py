"""Frames of the service-to-service link (JSON text frames over a websocket).

A peer (client or agent service) opens ``ws://<server.host>:<server.port>/peer``
and sends ``hello`` with its service name, instance name, version and the
shared secret.  The server answers ``welcome`` or ``error`` (then closes).
After that the peer sends ``ping`` every :data:`HEARTBEAT_S` seconds and the
server answers ``pong``; either side treats :data:`SILENCE_LIMIT` heartbeats of
silence as a dead link.
"""

from __future__ import annotations

import hmac
import json
from typing import Any

PATH = "/peer"
HEARTBEAT_S = 5.0
SILENCE_LIMIT = 3
PEER_SERVICES = ("client", "agent")


class ProtocolError(ValueError):
    """A frame that does not follow the protocol."""


def encode(kind: str, **fields: Any) -> str:
    return json.dumps({"type": kind, **fields})


def decode(frame: str | bytes | None) -> dict[str, Any]:
    if frame is None:
        raise ProtocolError("no frame")
    try:
        message = json.loads(frame)
    except ValueError as e:
        raise ProtocolError(f"frame is not JSON: {e}") from e
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        raise ProtocolError("frame must be a JSON object with a string 'type'")
    return message


def secret_matches(given: object, expected: str) -> bool:
    return isinstance(given, str) and hmac.compare_digest(given.encode(), expected.encode())
