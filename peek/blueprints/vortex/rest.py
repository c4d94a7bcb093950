"""REST for native apps: a selector's current data, pushing an action, the OpenAPI document.

Answers are the same JSON frames the device websocket carries.
"""

from __future__ import annotations

import threading

import msgspec
from flask import Response, jsonify, request

from peek.blueprints.vortex.openapi import document
from peek.device_auth import current_device_user_name, public
from peek.peering.protocol import secret_matches
from peek.runtime import current_runtime
from peek.vortex import frames
from peek.vortex.frames import NO_PROCESSOR, RETRY, TIMEOUT
from peek.vortex.selector import TupleSelector, for_user


class _FirstFrame:
    """A one-off subscriber (or action reply): keeps the first frame it gets."""

    def __init__(self, name: str):
        self.name = name
        self.frame: str | None = None
        self.arrived = threading.Event()

    def send(self, frame: str) -> bool:
        if not self.arrived.is_set():
            self.frame = frame
            self.arrived.set()
        return True


def _json(text: str, status: int) -> Response:
    return Response(text, status=status, mimetype="application/json")


def _error(message: str, status: int) -> Response:
    return _json(frames.error_frame(message), status)


def _too_many() -> Response | None:
    """429 for a client past vortex.restRequestsPerS (per address and user)."""
    vortex = current_runtime().vortex
    wait = vortex.rest_limit.wait_s((request.remote_addr, current_device_user_name()))
    if not wait:
        return None
    response = _error(f"more than {vortex.rest_limit.rate:g} requests a second "
                      "(vortex.restRequestsPerS): slow down", 429)
    response.headers["Retry-After"] = str(max(1, round(wait)))
    return response


def data():
    """``GET /vortex/api/data?selector={"name": ..., "filter": {...}}``"""
    refused = _too_many()
    if refused is not None:
        return refused
    try:
        selector = msgspec.json.decode(request.args.get("selector", ""), type=TupleSelector)
    except msgspec.DecodeError as e:
        return _error(f"the selector query parameter must be a JSON selector "
                      f"{{\"name\": ..., \"filter\": {{...}}}}: {e}", 400)
    vortex = current_runtime().vortex
    refusal = vortex.exposure.data_refusal(selector.name)
    if refusal:
        vortex.exposure.log_once(f"rest {request.remote_addr}", refusal)
        return _json(frames.error_frame(refusal, selector=selector), 403)
    waiter = _FirstFrame(f"rest {request.remote_addr}")
    vortex.proxy.subscribe(waiter, for_user(selector, current_device_user_name()))
    try:
        if not waiter.arrived.wait(vortex.data_timeout_s):
            return _error(f"no answer from the server within {vortex.data_timeout_s:g} s "
                          "(vortex.dataTimeoutS); ask again", 504)
    finally:
        vortex.proxy.drop(waiter)
    message = frames.parse(waiter.frame)
    return _json(waiter.frame, 200 if message.type == "data" else 404)


#: An action answer's HTTP status by its ``state``; else 200, or 422 for an error.
_ACTION_STATUS = {TIMEOUT: 504, NO_PROCESSOR: 404, RETRY: 503}


def action():
    """``POST /vortex/api/actions`` with ``{"id": ..., "tuple": {...}}``"""
    refused = _too_many()
    if refused is not None:
        return refused
    try:
        message = frames.parse(request.get_data())
    except frames.FrameError:
        message = None
    if message is None or message.type != "action" or not message.id or not message.tuple_:
        return _error('send a JSON object {"type": "action", "id": "<unique id>", '
                      '"tuple": {"_tt": "<type name>", ...}}', 400)
    vortex = current_runtime().vortex
    refusal = vortex.action_refusal(message.tuple_)
    if refusal:
        vortex.exposure.log_once(f"rest {request.remote_addr}", refusal[1])
        return _json(frames.frame("result", id=message.id, state=refusal[0], error=refusal[1]),
                     403)
    reply = _FirstFrame(f"rest {request.remote_addr}")
    vortex.actions.forward(message.id, message.tuple_, reply.send, user=current_device_user_name())
    reply.arrived.wait(vortex.actions.timeout_s + 5)
    if reply.frame is None:  # the forwarder answers every action by its timeout
        return _error("no answer", 504)
    answer = frames.parse(reply.frame)
    return _json(reply.frame, _ACTION_STATUS.get(answer.state, 200 if answer.error is None
                                                 else 422))


@public
def openapi():
    return jsonify(document())


@public
def stats():
    """``GET /vortex/stats``: each selector the client watches, with its
    subscribers, for an administrator (``Authorization: Bearer
    <server.secret>``); ``/healthz`` gives the counts only."""
    runtime = current_runtime()
    given = (request.headers.get("Authorization") or "").removeprefix("Bearer ")
    if not secret_matches(given, runtime.config.get("server.secret")):
        return _error("send Authorization: Bearer <server.secret>", 401)
    return jsonify(subscriptions=runtime.vortex.proxy.details())


def too_large(_exc: Exception) -> Response:
    limit = current_runtime().config.get("vortex.maxFrameBytes")
    return _error(f"the request body is over vortex.maxFrameBytes ({limit} bytes)", 413)
