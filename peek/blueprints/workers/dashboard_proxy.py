"""The Dask dashboard, served through the admin site.

The scheduler serves its dashboard on its own host and port (127.0.0.1 for the
embedded LocalCluster) under the same path prefix as here, so pages and links
need no rewriting: requests are passed on as they are, websockets (Bokeh's live
plots) are piped both ways.
"""

from __future__ import annotations

import http.client
import logging
import threading
from typing import Iterator
from urllib.parse import urlsplit

import simple_websocket
from flask import Response, abort, request

from peek.runtime import current_runtime
from peek.vortex.websocket import WebSocketClient
from peek.workers.cluster import DASHBOARD_PREFIX

log = logging.getLogger(__name__)

TIMEOUT_S = 30
#: Request headers not passed on (hop-by-hop, set by http.client, or the
#: admin session cookie, which is the admin site's alone).
DROPPED = {"host", "connection", "keep-alive", "transfer-encoding", "upgrade",
           "proxy-connection", "te", "trailer", "content-length", "accept-encoding",
           "cookie"}


def _target() -> str:
    target = current_runtime().dask.dashboard_target
    if target is None:
        abort(503, "The Dask dashboard is not available (Dask not connected, or bokeh "
                   "not installed)")
    return target


def proxy_http(path: str) -> Response:
    target = urlsplit(_target())
    connection = http.client.HTTPConnection(target.hostname, target.port, timeout=TIMEOUT_S)
    url = f"{DASHBOARD_PREFIX}/{path}" + (f"?{request.query_string.decode()}"
                                          if request.query_string else "")
    headers = {k: v for k, v in request.headers.items() if k.lower() not in DROPPED}
    try:
        connection.request(request.method, url, body=request.get_data() or None,
                           headers=headers)
        upstream = connection.getresponse()
    except OSError as e:
        connection.close()
        log.warning("Dask dashboard at %s: %s", target.netloc, e)
        abort(502, f"The Dask dashboard did not answer: {e}")

    def body() -> Iterator[bytes]:
        try:
            while chunk := upstream.read(65536):
                yield chunk
        finally:
            connection.close()

    passed = [(k, v) for k, v in upstream.getheaders() if k.lower() not in DROPPED]
    return Response(body(), status=upstream.status, headers=passed)


def proxy_websocket(ws: simple_websocket.Server, path: str) -> None:
    target = urlsplit(_target())
    url = f"ws://{target.netloc}{DASHBOARD_PREFIX}/{path}/ws"
    if request.query_string:
        url += f"?{request.query_string.decode()}"
    # Bokeh offers "bokeh" plus its session token as subprotocols: pass them on.
    offered = [p.strip() for p in
               request.headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()]
    try:
        upstream = WebSocketClient.connect(url, subprotocols=offered)
    except Exception as e:  # dashboard gone: the browser's plot reconnects later
        log.warning("Dask dashboard websocket %s: %s", url, e)
        ws.close(reason=1011, message="the Dask dashboard is not reachable")
        return

    def pipe(source, sink) -> None:
        try:
            while True:
                sink.send(source.receive())
        except (simple_websocket.ConnectionClosed, OSError):
            pass
        finally:
            for end in (source, sink):
                try:
                    end.close()
                except Exception:  # already closed
                    pass

    to_browser = threading.Thread(target=pipe, args=(upstream, ws), daemon=True,
                                  name="dashboard-ws")
    to_browser.start()
    pipe(ws, upstream)
    to_browser.join(timeout=5)
