"""Vortex RPC: a function on one service, called from another.

Declare it in the plugin's package, where both services import it::

    @rpc(service="agent", callers=("server",), timeout=10)
    def read_meter(meter_id: str) -> MeterTuple: ...

The hosting service's hook serves it (``platform.serve_rpc(read_meter)``);
another service calls it with ``platform.call_rpc(read_meter, "m-1")``.
The call travels over the service link (every link goes through the
server), is refused unless the caller's service is in ``callers``, fails
with :class:`RpcTimeout` after ``timeout`` seconds, and an exception raised
remotely is raised again in the caller: the same class when the caller can
import it, :class:`RemoteError` otherwise.
"""

from __future__ import annotations

import functools
import importlib
import itertools
import logging
import threading
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable

import msgspec

from peek.vortex import tuples
from peek.vortex.frames import Frame, frame

log = logging.getLogger(__name__)

SERVICES = ("server", "client", "agent")


class RpcError(Exception):
    """An RPC that could not be made: refused, unknown, no route."""


class RpcTimeout(RpcError, TimeoutError):
    """No reply within the RPC's timeout."""


class RemoteError(RpcError):
    """An exception raised by the remote function whose class the caller cannot import."""

    def __init__(self, message: str, remote_type: str, remote_traceback: str | None = None):
        super().__init__(f"{remote_type}: {message}")
        self.remote_type = remote_type
        self.remote_traceback = remote_traceback


@dataclass(eq=False)
class RpcFunction:
    """A function made callable from other services by :func:`rpc`."""

    function: Callable[..., Any]
    name: str
    service: str
    callers: tuple[str, ...]
    timeout: float

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.function(*args, **kwargs)  # a plain local call

    def refusal(self, caller: str) -> str | None:
        """Why the ``caller`` service may not call this, or None if it may."""
        if caller in self.callers:
            return None
        return (f"RPC {self.name} may not be called from the {caller} service "
                f"(callers: {', '.join(self.callers)})")

    def call_here(self, caller: str, args: tuple, kwargs: dict[str, Any]) -> Any:
        """A call from the ``caller`` service, which is where the function runs."""
        refusal = self.refusal(caller)
        if refusal:
            raise RpcError(refusal)
        return self.function(*args, **kwargs)


def rpc(*, service: str, callers: tuple[str, ...], timeout: float = 10.0
        ) -> Callable[[Callable[..., Any]], RpcFunction]:
    """Make a function callable from the ``callers`` services; it runs on ``service``."""
    for name in (service, *callers):
        if name not in SERVICES:
            raise ValueError(f"RPC services are {', '.join(SERVICES)}, not {name!r}")
    if timeout <= 0:
        raise ValueError("an RPC timeout must be positive")

    def declare(function: Callable[..., Any]) -> RpcFunction:
        wrapped = RpcFunction(function, f"{function.__module__}.{function.__qualname__}",
                              service, tuple(callers), float(timeout))
        functools.update_wrapper(wrapped, function)  # type: ignore[arg-type]
        return wrapped
    return declare


def encode_args(args: tuple, kwargs: dict[str, Any]) -> msgspec.Raw:
    return msgspec.Raw(tuples.encode([list(args), kwargs]))


class RpcEndpoints:
    """The RPCs one service serves."""

    def __init__(self, service: str):
        self.service = service
        self._served: dict[str, tuple[str, RpcFunction]] = {}

    def serve(self, owner: str, function: RpcFunction) -> None:
        if not isinstance(function, RpcFunction):
            raise TypeError(f"{function!r} is not declared with @rpc")
        if function.service != self.service:
            raise ValueError(f"RPC {function.name} runs on the {function.service} service, "
                             f"not on the {self.service} service")
        self._served[function.name] = (owner, function)

    def remove(self, owner: str) -> None:
        for name in [n for n, (o, _) in self._served.items() if o == owner]:
            del self._served[name]

    def names(self) -> list[str]:
        return sorted(self._served)

    def answer(self, send: Callable[[str], object], call: Frame, caller: str) -> None:
        """Run a ``call`` frame and ``send`` the reply back the way it came."""
        send(self.handle(call, caller))

    def handle(self, call: Frame, caller: str) -> str:
        """Run a ``call`` frame from the ``caller`` service; the ``reply`` frame."""
        entry = self._served.get(call.name or "")
        if entry is None:
            return frame("reply", id=call.id, exception="peek.vortex.rpc.RpcError",
                         error=f"the {self.service} service serves no RPC {call.name!r}")
        function = entry[1]
        refusal = function.refusal(caller)
        if refusal:
            log.warning("Refused: %s", refusal)
            return frame("reply", id=call.id, exception="peek.vortex.rpc.RpcError",
                         error=refusal)
        try:
            args, kwargs = tuples.from_builtins(msgspec.json.decode(call.args or b"[[],{}]"))
            result = function.function(*args, **kwargs)
            return frame("reply", id=call.id, result=msgspec.Raw(tuples.encode(result)))
        except Exception as e:  # raised again in the caller
            kind = type(e)
            return frame("reply", id=call.id, error=str(e),
                         exception=f"{kind.__module__}.{kind.__qualname__}",
                         state="".join(traceback.format_exception(e)))


def _rebuild(reply: Frame) -> BaseException:
    qualified = reply.exception or "peek.vortex.rpc.RemoteError"
    module_name, _, class_name = qualified.rpartition(".")
    message = reply.error or ""
    try:
        kind = getattr(importlib.import_module(module_name or "builtins"), class_name)
        if isinstance(kind, type) and issubclass(kind, Exception) and kind is not RemoteError:
            error = kind(message)
            if reply.state:
                error.add_note(f"raised remotely:\n{reply.state}")
            return error
    except Exception:  # not importable or not constructible from a message
        pass
    return RemoteError(message, qualified, reply.state)


@dataclass(eq=False)
class _Pending:
    link: object
    done: threading.Event = field(default_factory=threading.Event)
    reply: Frame | None = None


class RpcCalls:
    """Calls this service made and is waiting on."""

    def __init__(self, service: str):
        self.service = service
        self._pending: dict[str, _Pending] = {}
        self._ids = itertools.count(1)

    def call(self, link: Any, function: RpcFunction, args: tuple,
             kwargs: dict[str, Any]) -> Any:
        """Call over ``link`` (anything with ``send(frame)``) and wait for the reply."""
        call_id = f"{self.service}-{next(self._ids)}"
        pending = self._pending[call_id] = _Pending(link)
        send = link.send
        try:
            if not send(frame("call", id=call_id, name=function.name,
                              args=encode_args(args, kwargs))):
                raise RpcError(f"RPC {function.name}: the link to the "
                               f"{function.service} service is closed")
            if not pending.done.wait(function.timeout):
                raise RpcTimeout(f"RPC {function.name}: no reply from the "
                                 f"{function.service} service within {function.timeout:g} s")
        finally:
            self._pending.pop(call_id, None)
        reply = pending.reply
        assert reply is not None
        if reply.exception or reply.error is not None:
            raise _rebuild(reply)
        return tuples.from_builtins(msgspec.json.decode(reply.result or b"null"))

    def on_reply(self, reply: Frame) -> None:
        pending = self._pending.get(reply.id or "")
        if pending is not None:
            pending.reply = reply
            pending.done.set()

    def on_lost(self, link: Any) -> None:
        """A link went away: the calls waiting on it fail now, not at their timeout."""
        for pending in [p for p in list(self._pending.values()) if p.link is link]:
            pending.reply = Frame(type="reply", exception="peek.vortex.rpc.RpcError",
                                  error="the service link closed before the reply came")
            pending.done.set()
