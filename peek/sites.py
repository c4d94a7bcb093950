"""Where each site of a service listens, and how to show it to a person."""

from __future__ import annotations

import socket

from peek.config import ServiceConfig


def site_address(config: ServiceConfig, site: str) -> tuple[str, int]:
    prefix = "server" if site == "server" else "http"
    return config.get(f"{prefix}.host"), config.get(f"{prefix}.port")


def site_url(config: ServiceConfig, site: str, path: str = "/") -> str:
    host, port = site_address(config, site)
    if host in ("0.0.0.0", "::", ""):
        host = socket.gethostname()
    scheme = "ws" if path.startswith("/peer") else "http"
    return f"{scheme}://{host}:{port}{path}"
