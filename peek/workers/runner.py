"""What runs on a Dask worker for each task a plugin submits.

The server submits :func:`run_task` with the task function's name and its
arguments pickled into bytes, so the scheduler (which unpickles every task it
is given) needs neither the plugin's code nor its classes: only workers do,
and the Peek worker plugin puts the enabled plugins there.
"""

from __future__ import annotations

import contextvars
import importlib
import pickle
from typing import Any, Callable

_owner: contextvars.ContextVar[str | None] = contextvars.ContextVar("peek_task_owner",
                                                                   default=None)


def function_ref(function: Callable[..., Any]) -> str:
    """``module:qualname`` of a module-level function; ValueError otherwise."""
    module = getattr(function, "__module__", None)
    qualname = getattr(function, "__qualname__", "")
    if not callable(function) or not module or "<" in qualname or "." in qualname:
        raise ValueError(f"a worker task must be a function defined at module level, "
                         f"not {function!r}")
    found = getattr(importlib.import_module(module), qualname, None)
    if found is not function:
        raise ValueError(f"{module}.{qualname} is not importable by that name; a worker "
                         "task must be a function defined at module level")
    return f"{module}:{qualname}"


def pack(args: tuple, kwargs: dict[str, Any]) -> bytes:
    return pickle.dumps((args, kwargs), protocol=5)


def _resolve(ref: str) -> Callable[..., Any]:
    module, _, qualname = ref.partition(":")
    return getattr(importlib.import_module(module), qualname)


def run_task(owner: str, ref: str, payload: bytes) -> bytes:
    """Run one plugin task on this worker; returns its result pickled.

    Results travel as bytes: Dask handles one bytes object far faster than a
    large list or dict (tens of microseconds per element otherwise).
    """
    from peek.workers.worker_plugin import check_owner

    check_owner(owner)
    args, kwargs = pickle.loads(payload)
    token = _owner.set(owner)
    try:
        return pickle.dumps(_resolve(ref)(*args, **kwargs), protocol=5)
    finally:
        _owner.reset(token)


def unpack(result: bytes) -> Any:
    return pickle.loads(result)


def current_owner() -> str | None:
    """The plugin whose task runs in this thread, if any."""
    return _owner.get()
