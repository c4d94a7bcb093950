"""The agent's side of the RPC the server calls (declared in ../../rpcs.py)."""

import logging

log = logging.getLogger("peek_plugin_tutorial")


def subtract_ints(a: int, b: int) -> int:
    log.info("the server asked to subtract %s - %s", a, b)
    return a - b
