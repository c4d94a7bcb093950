"""gunicorn settings for one Peek service (see docs/deploy.md).

One worker process per service: a service keeps live state (connected peers,
subscriptions, caches) in memory.  The client service runs on gevent
greenlets (see peek/greenlets.py), so one process holds thousands of device
websockets; ``worker_connections`` bounds them.  The server and agent use the
gthread worker: each websocket and request in flight takes one of ``threads``.
"""

import os

from peek.config import load_config
from peek.greenlets import GREENLET_SERVICES
from peek.services import SERVER
from peek.sites import site_address

service = os.environ.get("PEEK_SERVICE", "server")
_config = load_config(service)

bind = [":".join(map(str, site_address(_config, "admin" if service == SERVER else "mobile"
                                       if service == "client" else "agent")))]
if service == SERVER:
    bind.append(":".join(map(str, site_address(_config, "server"))))

workers = 1
worker_class = "gevent" if service in GREENLET_SERVICES else "gthread"
threads = int(os.environ.get("PEEK_THREADS", "256"))
worker_connections = int(os.environ.get("PEEK_CONNECTIONS", "15000"))
# Websockets stay open for hours; gthread's timeout only guards the worker's heartbeat.
timeout = 60
graceful_timeout = 30
keepalive = 5
accesslog = None


def post_worker_init(worker):
    from wsgi import process
    process.start(listen=False)


def worker_exit(server, worker):
    from wsgi import process
    process.stop()
