"""What plugins keep from devices on a client service.

A provider or an action processor reaches devices only when its plugin says
so (``add_tuple_provider(..., devices=True)``, ``add_action_processor(...,
devices=True)``); the others are for the plugins' own client and agent code.
The server's ``plugins`` frame names those others: the provided tuple types
and the action types devices may not reach.  A type the server does not
name (unknown, or its plugin not running yet) goes on to the server, which
answers for it, so that a device watching it gets its data once its plugin
starts and offers it.  When the server names a type newly kept from
devices, the devices already watching it are told and dropped.
"""

from __future__ import annotations

import logging
import threading

import msgspec

log = logging.getLogger(__name__)

#: Connections (or REST addresses) whose refusal was logged; forgotten when full.
_LOGGED_MAX = 1000


class _Typed(msgspec.Struct):
    tt: str = msgspec.field(name="_tt", default="")


_typed = msgspec.json.Decoder(_Typed)


def action_type(encoded_tuple: bytes) -> str | None:
    """The ``_tt`` of an action's tuple, or None if it is not a JSON object
    (the server answers what is wrong with it)."""
    try:
        return _typed.decode(encoded_tuple).tt
    except msgspec.DecodeError:
        return None


class DeviceExposure:
    def __init__(self) -> None:
        self._internal_data: frozenset[str] = frozenset()
        self._device_actions: frozenset[str] = frozenset()
        self._internal_actions: frozenset[str] = frozenset()
        self._logged: set[str] = set()
        self._lock = threading.Lock()

    def learn(self, internal_data: list[str], device_actions: list[str],
              internal_actions: list[str]) -> set[str]:
        """What the server said; returns the tuple types newly kept from devices."""
        before = self._internal_data
        self._internal_data = frozenset(internal_data)
        self._device_actions = frozenset(device_actions)
        self._internal_actions = frozenset(internal_actions)
        return set(self._internal_data - before)

    def data_refusal(self, tuple_type: str) -> str | None:
        """Why devices may not watch ``tuple_type``, or None when they may."""
        if tuple_type in self._internal_data:
            return f"{tuple_type} is not offered to devices by its plugin"
        return None

    def action_refusal(self, tuple_type: str) -> str | None:
        """Why devices may not send actions of ``tuple_type``, or None."""
        if tuple_type in self._device_actions:
            return None
        owner = tuple_type.split(".", 1)[0]
        if tuple_type in self._internal_actions or f"{owner}.*" in self._internal_actions:
            return f"actions of {tuple_type} are not offered to devices by its plugin"
        return None

    def log_once(self, who: str, refusal: str) -> None:
        """Log a refusal, once per connection (or REST address)."""
        with self._lock:
            if who in self._logged:
                return
            if len(self._logged) >= _LOGGED_MAX:
                self._logged.clear()
            self._logged.add(who)
        log.warning("Refused %s: %s", who, refusal)

    def forget(self, who: str) -> None:
        with self._lock:
            self._logged.discard(who)
