"""The services Peek runs and the sites each one serves."""

from __future__ import annotations

SERVER = "server"
CLIENT = "client"
AGENT = "agent"
WORKER = "worker"

#: Every Python service, in the order ``peek run`` starts them.
SERVICES: tuple[str, ...] = (SERVER, CLIENT, AGENT, WORKER)

#: Services that run a web process (``peek server`` / ``client`` / ``agent``).
WEB_SERVICES: tuple[str, ...] = (SERVER, CLIENT, AGENT)

#: The sites each web service serves, by name.  The first one listens on the
#: service's ``http`` port; the server's ``server`` site listens on the
#: service-to-service port (``server.port``).
SITES: dict[str, tuple[str, ...]] = {
    SERVER: ("admin", "server"),
    CLIENT: ("mobile",),
    AGENT: ("agent",),
}
