"""The client service's actions in flight to the server.

Each action waits here, under its id, for the server's answer; copies of an
id that is already in flight wait for the same answer instead of going up
again (a copy from another user is refused: the answer is the sender's,
unless the action has no user).  After a reconnect every action still
waiting is sent again (the server answers a resend without applying it
twice).  An action with no answer after ``timeout_s`` gets a timeout error.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable

import msgspec

from peek.vortex.frames import RETRY, TIMEOUT, answers_to, frame, id_taken, utf8_length_over

Reply = Callable[[str], object]


@dataclass(eq=False)
class _InFlight:
    request: str
    deadline: float
    user: str | None
    origin: str | None
    replies: list[Reply] = field(default_factory=list)


class ActionForwarder:
    def __init__(self, send_upstream: Callable[[str], bool], timeout_s: float,
                 max_frame_bytes: int | None = None, max_per_origin: int | None = None):
        self._send_upstream = send_upstream
        self.timeout_s = timeout_s
        #: The largest frame the link to the server carries (vortex.maxFrameBytes).
        self.max_frame_bytes = max_frame_bytes
        #: Actions of one device in flight at once (vortex.maxActionsInFlightPerDevice).
        self.max_per_origin = max_per_origin
        self._per_origin: Counter[str] = Counter()
        self.connected = False
        self._in_flight: dict[str, _InFlight] = {}
        self._lock = threading.Lock()

    def forward(self, action_id: str, encoded_tuple: msgspec.Raw, reply: Reply,
                origin: str | None = None, user: str | None = None) -> None:
        """Send the action up (once per id in flight); ``origin`` names the
        device, whose actions the server applies in the order they came, and
        ``user`` who is signed in on it (the processor's ``ctx.user``)."""
        request = frame("action", id=action_id, tuple_=encoded_tuple, origin=origin,
                        user=user)
        if self.max_frame_bytes and utf8_length_over(request, self.max_frame_bytes):
            # Refused to this device alone: the link would close on it (1009).
            reply(frame("result", id=action_id, error=(
                "this action is too large for the link to the server: with its envelope it "
                f"is over vortex.maxFrameBytes ({self.max_frame_bytes} bytes); send less "
                "in one action")))
            return
        with self._lock:
            waiting = self._in_flight.get(action_id)
            taken = waiting is not None and not answers_to(waiting.user, user)
            busy = waiting is None and origin is not None and self.max_per_origin \
                and self._per_origin[origin] >= self.max_per_origin
            if waiting is None and not busy:
                self._in_flight[action_id] = _InFlight(
                    request, time.monotonic() + self.timeout_s, user, origin, [reply])
                if origin is not None:
                    self._per_origin[origin] += 1
            elif waiting is not None and not taken:
                waiting.replies.append(reply)
                return
            connected = self.connected
        if busy:
            reply(frame("result", id=action_id, state=RETRY, error=(
                f"{self.max_per_origin} actions of this connection wait for their answer, "
                "the most one may (vortex.maxActionsInFlightPerDevice): send it again once "
                "some are answered")))
        elif taken:
            reply(id_taken(action_id))
        elif connected:
            self._send_upstream(request)

    def _done(self, waiting: _InFlight) -> None:
        if waiting.origin is not None:
            self._per_origin[waiting.origin] -= 1
            if self._per_origin[waiting.origin] <= 0:
                del self._per_origin[waiting.origin]

    def on_answer(self, action_id: str | None, answer: str) -> None:
        with self._lock:
            waiting = self._in_flight.pop(action_id, None) if action_id else None
            if waiting is not None:
                self._done(waiting)
        for reply in waiting.replies if waiting else ():
            reply(answer)

    def on_connected(self) -> None:
        with self._lock:
            self.connected = True
            requests = [w.request for w in self._in_flight.values()]
        for request in requests:
            self._send_upstream(request)

    def on_lost(self) -> None:
        with self._lock:
            self.connected = False

    def expire(self, now: float | None = None) -> int:
        """Answer the actions past their deadline with a timeout error."""
        now = time.monotonic() if now is None else now
        with self._lock:
            # Every action gets the same timeout, so deadlines grow in the
            # order actions came (the dict's order): stop at the first not due.
            late = {}
            for action_id, waiting in self._in_flight.items():
                if waiting.deadline > now:
                    break
                late[action_id] = waiting
            for action_id in late:
                self._done(self._in_flight.pop(action_id))
        for action_id, waiting in late.items():
            error = frame("result", id=action_id, state=TIMEOUT, error=(
                f"no answer from the server within {self.timeout_s:g} s"
                f"{'' if self.connected else ' (the server is not reachable)'}; "
                "resend it with the same id: it is applied at most once"))
            for reply in waiting.replies:
                reply(error)
        return len(late)

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)
