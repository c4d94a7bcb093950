"""The OpenAPI document of the client service's device REST API."""

from __future__ import annotations

from typing import Any

from peek import __version__
from peek.vortex.frames import NO_PROCESSOR, RETRY, TIMEOUT
from peek.vortex.names import TUPLE_NAME_MAX, TUPLE_NAME_PATTERN

_TUPLE_NAME = {"type": "string", "pattern": TUPLE_NAME_PATTERN, "maxLength": TUPLE_NAME_MAX,
               "description": "tuple type name: dotted Python identifiers, "
                              "'<package>.<Name>'",
               "example": "peek_plugin_tutorial.StringIntTuple"}

_SELECTOR = {
    "type": "object", "required": ["name"],
    "properties": {
        "name": _TUPLE_NAME,
        "filter": {"type": "object", "additionalProperties": True, "default": {}}}}

_TUPLE = {"type": "object", "required": ["_tt"], "additionalProperties": True,
          "properties": {"_tt": _TUPLE_NAME}}

_ERROR = {"type": "object", "required": ["type", "error"],
          "properties": {"type": {"const": "error"}, "error": {"type": "string"},
                         "selector": {"$ref": "#/components/schemas/Selector"}}}

_RESULT = {
    "type": "object", "required": ["type", "id"],
    "properties": {
        "type": {"const": "result"}, "id": {"type": "string"},
        "result": {"description": "the processor's answer: a tuple, JSON data or null"},
        "error": {"type": "string", "description": "present when the action failed"},
        "state": {"type": "string", "enum": [TIMEOUT, NO_PROCESSOR, RETRY],
                  "description": f"{TIMEOUT}: no answer came in time (resend it); "
                                 f"{NO_PROCESSOR}: nothing on the server processes "
                                 f"this tuple type; {RETRY}: not applied for now, resend "
                                 "it with the same id"}}}


def _json(schema: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {
        "schema": {"$ref": f"#/components/schemas/{schema}"}}}}


_UNAUTHORISED = {"description": "a sign-in plugin runs and the request has no valid "
                                 "bearer token", "content": {"application/json": {
                                     "schema": {"$ref": "#/components/schemas/Error"}}}}


_TOO_MANY = _json("Error", "more requests a second than vortex.restRequestsPerS from this "
                           "address and user: wait Retry-After seconds")
_UNAVAILABLE = _json("Error", "sign-in is required and not available right now: try again "
                              "after Retry-After seconds")


def document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "Peek device API", "version": __version__,
                 "description": "REST endpoints of a Peek client service. The websocket "
                                "at /vortex/ws carries the same frames; see "
                                "docs/protocol.md."},
        "paths": {
            "/vortex/api/data": {"get": {
                "summary": "The current data of a selector",
                "parameters": [{"name": "selector", "in": "query", "required": True,
                                "description": "the selector as JSON",
                                "content": {"application/json": {
                                    "schema": {"$ref": "#/components/schemas/Selector"}}}}],
                "responses": {
                    "200": _json("Data", "the selector's tuples"),
                    "400": _json("Error", "the selector is not valid"),
                    "401": _UNAUTHORISED,
                    "403": _json("Error", "its plugin does not offer this tuple type to "
                                          "devices"),
                    "404": _json("Error", "no provider serves this tuple type (yet), or "
                                          "it failed to load the data"),
                    "429": _TOO_MANY,
                    "503": _UNAVAILABLE,
                    "504": _json("Error", "the server did not answer within "
                                          "vortex.dataTimeoutS (10 s)")}}},
            "/vortex/api/actions": {"post": {
                "summary": "Push an action; resending the same id never applies it twice",
                "requestBody": {"required": True, "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/Action"}}}},
                "responses": {
                    "200": _json("Result", "the action's answer"),
                    "400": _json("Error", "not an action frame"),
                    "401": _UNAUTHORISED,
                    "403": _json("Result", "its plugin does not offer these actions to "
                                           f"devices (state {NO_PROCESSOR})"),
                    "404": _json("Result", "nothing processes this tuple type (state "
                                           f"{NO_PROCESSOR})"),
                    "413": _json("Error", "the body is larger than vortex.maxFrameBytes"),
                    "422": _json("Result", "the action failed or is not valid"),
                    "429": _TOO_MANY,
                    "503": _json("Result", f"not applied for now (state {RETRY}): resend it "
                                           "with the same id, after Retry-After if given"),
                    "504": _json("Result", "no answer in time; resend with the same id")}}},
        },
        # Only while a sign-in plugin (peek_core_user) runs; see docs/core_user.md.
        "security": [{}, {"bearer": []}],
        "components": {
            "securitySchemes": {"bearer": {
                "type": "http", "scheme": "bearer",
                "description": "an access token from the sign-in plugin's token endpoint"}},
            "schemas": {
                "Selector": _SELECTOR,
                "Tuple": _TUPLE,
                "Data": {"type": "object", "required": ["type", "selector", "tuples"],
                         "properties": {"type": {"const": "data"},
                                        "selector": {"$ref": "#/components/schemas/Selector"},
                                        "tuples": {"type": "array", "items": {
                                            "$ref": "#/components/schemas/Tuple"}}}},
                "Action": {"type": "object", "required": ["type", "id", "tuple"],
                           "properties": {
                               "type": {"const": "action"},
                               "id": {"type": "string", "pattern": "^[A-Za-z0-9_.:-]{8,100}$",
                                      "description": "made by the device, the same for "
                                                     "every resend (a UUID, say)"},
                               "tuple": {"$ref": "#/components/schemas/Tuple"}}},
                "Result": _RESULT,
                "Error": _ERROR}},
    }
