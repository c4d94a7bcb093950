"""The service-to-service link (vortex frames, see docs/protocol.md).

A peer (client or agent service) opens ``ws://<server.host>:<server.port>/peer``
and sends ``hello`` with its service name, instance name, version, plugins,
RPCs and the shared secret.  The server answers ``welcome`` or ``error``
(then closes).  After that the peer sends ``ping`` every :data:`HEARTBEAT_S`
seconds and the server answers ``pong``; either side treats
:data:`SILENCE_LIMIT` heartbeats of silence as a dead link.
"""

from __future__ import annotations

import hmac

PATH = "/peer"
HEARTBEAT_S = 5.0
SILENCE_LIMIT = 3
PEER_SERVICES = ("client", "agent")


class ProtocolError(ValueError):
    """The server refused this service's hello."""


def secret_matches(given: object, expected: str) -> bool:
    return isinstance(given, str) and hmac.compare_digest(given.encode(), expected.encode())
