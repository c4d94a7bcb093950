"""Vortex frames: the JSON messages on every vortex websocket (see docs/protocol.md).

One frame is one JSON object with a ``type``.  Tuple payloads stay raw JSON
bytes (:class:`msgspec.Raw`) while a frame passes through a service: the
client service forwards the server's ``data`` and ``result`` frames to
devices byte for byte, so a tuple is encoded once, on the server.
"""

from __future__ import annotations

from typing import Any

import msgspec

from peek.vortex.selector import TupleSelector

__all__ = ["Frame", "FrameError", "parse", "frame", "data_frame", "result_frame",
           "error_frame"]


#: The ``state`` of an action's answer: no answer came in time (resend it) ...
TIMEOUT = "timeout"
#: ... or nothing on the server processes its tuple type (unknown, or its plugin stopped)
NO_PROCESSOR = "no_processor"
#: ... or it was not applied for now (a limit, the database, sign-in unavailable): resend.
RETRY = "retry"


class FrameError(ValueError):
    """A frame that is not valid JSON or does not follow the protocol."""


class Frame(msgspec.Struct, omit_defaults=True):
    """Every field any frame type uses; which ones a type needs is in docs/protocol.md."""

    type: str
    id: str | None = None
    selector: TupleSelector | None = None
    # Raw JSON, left undecoded; empty (false) when the frame has none.
    tuples: msgspec.Raw = msgspec.Raw()
    tuple_: msgspec.Raw = msgspec.field(default=msgspec.Raw(), name="tuple")
    result: msgspec.Raw = msgspec.Raw()
    error: str | None = None
    exception: str | None = None
    name: str | None = None
    args: msgspec.Raw = msgspec.Raw()
    partial: str | None = None
    state: str | None = None
    # On a service link: the device an action came from (its actions apply in
    # order), and the name of the user signed in on it.
    origin: str | None = None
    user: str | None = None
    # The handshake of a service link.
    service: str | None = None
    secret: str | None = None
    version: str | None = None
    plugins: list[dict[str, Any]] | None = None
    rpcs: list[str] | None = None
    # The server's plugin set (a ``plugins`` frame), for comparing at a glance,
    # and the tuple types it declares per-user.
    fingerprint: str | None = None
    per_user: list[str] | None = None
    # What plugins keep from devices (see peek.vortex.exposure).
    internal_data: list[str] | None = None
    device_actions: list[str] | None = None
    internal_actions: list[str] | None = None


_decoder = msgspec.json.Decoder(Frame)
_encoder = msgspec.json.Encoder(order="sorted")


def parse(data: str | bytes | None) -> Frame:
    """The frame in ``data``; :class:`FrameError` if it is none."""
    if data is None:
        raise FrameError("no frame")
    try:
        return _decoder.decode(data)
    except msgspec.DecodeError as e:
        if isinstance(e, msgspec.ValidationError):
            raise FrameError(f"not a vortex frame: {e}") from None
        raise FrameError(f"frame is not JSON: {e}") from None


def frame(kind: str, **fields: Any) -> str:
    """Encode a frame (websocket text); ``fields`` may hold raw JSON (:class:`msgspec.Raw`)."""
    if "tuple_" in fields:
        fields["tuple"] = fields.pop("tuple_")
    encoded = _encoder.encode({"type": kind, **{k: v for k, v in fields.items()
                                                if v is not None and not _empty(v)}}).decode()
    # A frame is one line (service links send several per message): a newline
    # can only be whitespace inside raw JSON a device sent, so a space will do.
    return encoded.replace("\n", " ") if "\n" in encoded else encoded


def utf8_length_over(text: str, limit: int) -> bool:
    """Whether ``text`` takes more than ``limit`` bytes as UTF-8 (without
    encoding it when its length alone says: a character is 1 to 4 bytes)."""
    if len(text) > limit:
        return True
    return len(text) * 4 > limit and len(text.encode()) > limit


def _empty(value: Any) -> bool:
    return isinstance(value, msgspec.Raw) and not value


def data_frame(selector: TupleSelector, encoded_tuples: bytes) -> str:
    """The frame carrying a selector's data; built once per update and sent,
    as the same text, to every subscriber."""
    return (b'{"type":"data","selector":%s,"tuples":%s}'
            % (selector.key, encoded_tuples)).decode()


def result_frame(action_id: str, encoded_result: bytes) -> str:
    """An action's answer, as :func:`frame` would make it (keys sorted), built
    directly: the server makes one per action."""
    if b"\n" in encoded_result:  # frame() keeps a frame one line
        return frame("result", id=action_id, result=msgspec.Raw(encoded_result))
    return (b'{"id":%s,"result":%s,"type":"result"}'
            % (msgspec.json.encode(action_id), encoded_result)).decode()


def answers_to(sender: str | None, user: str | None) -> bool:
    """Whether an action's answer may go to ``user``: its sender's only, or
    anyone's when it was sent with no user."""
    return sender is None or sender == user


def id_taken(action_id: str) -> str:
    """The answer to an action whose id is another user's action's."""
    return frame("result", id=action_id, error=(
        "this action id belongs to another user's action: give every action an id "
        "of its own (a UUID, say)"))


def error_frame(error: str, **fields: Any) -> str:
    return frame("error", error=error, **fields)


def route_subscription(target: Any, subscriber: Any, message: Frame) -> None:
    """A ``subscribe`` or ``unsubscribe`` frame, to the server's observables
    or a client's proxy (both take ``(subscriber, selector)``)."""
    if message.selector is None:
        raise FrameError(f"a {message.type} frame needs a selector")
    handle = target.subscribe if message.type == "subscribe" else target.unsubscribe
    handle(subscriber, message.selector)
