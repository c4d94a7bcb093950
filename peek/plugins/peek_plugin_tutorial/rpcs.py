"""The tutorial plugin's RPCs.  This module is public: the server and the
agent both import it, one to serve a function and the other to call it."""

from peek.plugin_api import rpc

from .tuples import StringIntTuple


# Served on the server, called by the agent.

@rpc(service="server", callers=("agent",), timeout=10)
def add_ints(a: int, b: int) -> int:
    from ._private.server.rpc_handlers import add_ints
    return add_ints(a, b)


@rpc(service="server", callers=("agent",), timeout=10)
def report_status(message: str) -> str:
    from ._private.server.rpc_handlers import report_status
    return report_status(message)


@rpc(service="server", callers=("agent",), timeout=10)
def insert_string_int(string1: str, int1: int) -> StringIntTuple:
    from ._private.server.rpc_handlers import insert_string_int
    return insert_string_int(string1, int1)


# Served on the agent, called by the server.

@rpc(service="agent", callers=("server",), timeout=10)
def subtract_ints(a: int, b: int) -> int:
    from ._private.agent.rpc_handlers import subtract_ints
    return subtract_ints(a, b)
