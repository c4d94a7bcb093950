"""Greenlets for the client service: one process, thousands of device websockets.

Each device websocket needs a request handler, a reader and a writer that
wait most of their lives.  As OS threads, 10,000 devices would be 30,000
threads; as greenlets (gevent, with the standard library patched) they cost a
few kilobytes each and a switch between them is a function call, not a
system call.  The patch has to come before anything creates a socket, a lock
or a thread, so ``python -m peek client`` applies it first thing; the
``peek client`` script starts itself again that way.  (Under gunicorn the
client stays on gthread for now: see docs/deploy.md.)

The client service holds no database connection and runs no Dask, the two
things that would block a greenlet loop; the server and agent stay on threads.
"""

from __future__ import annotations

import sys

#: The services that run on greenlets.
GREENLET_SERVICES = frozenset({"client"})


def patch() -> None:
    from gevent import monkey
    monkey.patch_all()


def active() -> bool:
    """Whether this process runs on greenlets."""
    if "gevent" not in sys.modules:
        return False
    from gevent import monkey
    return monkey.is_module_patched("socket")


def yield_now() -> None:
    """Let the other greenlets run (a loop that always has work never would)."""
    import gevent
    gevent.sleep(0)
