"""RPCs declared where every service imports them."""

import os
import time

from peek.plugin_api import rpc


@rpc(service="server", callers=("agent", "client"), timeout=5)
def read_tally(name: str):
    from peek_plugin_tally._private.server import read_tallies
    tallies = read_tallies(name)
    return tallies[0] if tallies else None


@rpc(service="server", callers=("agent",), timeout=5)
def agent_only(): return "for agents"


@rpc(service="server", callers=("agent",), timeout=1)
def slow(seconds: float):
    time.sleep(seconds)
    return "done"


@rpc(service="server", callers=("agent", "client"), timeout=5)
def fail(message: str):
    raise ValueError(message)


@rpc(service="agent", callers=("server",), timeout=10)
def agent_probe(rpc_name: str, args: list):
    """Runs on the agent: call a server RPC and say what happened."""
    from peek_plugin_tally import rpcs
    from peek_plugin_tally._private.agent import PLATFORM
    try:
        return {"pid": os.getpid(), "result": PLATFORM.call_rpc(getattr(rpcs, rpc_name), *args)}
    except Exception as e:
        return {"pid": os.getpid(), "error": type(e).__name__, "message": str(e)}
