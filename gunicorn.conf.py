"""gunicorn settings for one Peek service (see docs/deploy.md).

One worker process per service: a service keeps live state (connected peers,
subscriptions, caches) in memory.  The gthread worker gives each websocket a
thread for its lifetime, so ``threads`` bounds the websockets plus requests in
flight.  (``peek client`` serves devices on gevent greenlets instead; gunicorn's
gevent worker does not deliver device frames yet, see docs/deploy.md.)
"""

import os

from peek.config import load_config
from peek.services import SERVER
from peek.sites import site_address

service = os.environ.get("PEEK_SERVICE", "server")
_config = load_config(service)

bind = [":".join(map(str, site_address(_config, "admin" if service == SERVER else "mobile"
                                       if service == "client" else "agent")))]
if service == SERVER:
    bind.append(":".join(map(str, site_address(_config, "server"))))

workers = 1
worker_class = "gthread"
threads = int(os.environ.get("PEEK_THREADS", "256"))
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
