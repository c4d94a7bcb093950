"""Device sign-in: who uses the mobile and desktop sites, the device
websocket and the device REST API of a client service.

The platform knows no users of its own.  A sign-in plugin (peek_core_user)
registers a :class:`DeviceSignIn` on the client service
(``platform.set_device_sign_in``); while one is registered, every route of
the mobile site (which serves the desktop pages and ``/vortex/`` too) needs a
signed-in user, except static files and the views marked :func:`public`.
Without one, devices are anonymous and everything is open, as before.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Protocol
from urllib.parse import quote

from flask import Request, Response, current_app, g, jsonify, redirect, request

__all__ = ["DeviceUser", "DeviceSignIn", "SignInUnavailable", "public", "current_device_user",
           "current_device_user_name", "guard"]


class SignInUnavailable(Exception):
    """``user_of`` cannot tell who is signed in right now (the server that
    refreshes sign-ins is unreachable): the request is answered 503, to be
    tried again, not 401 (which would send the user to sign in again, and
    an outbox would give up on what it holds)."""


@dataclass(frozen=True)
class DeviceUser:
    """The user signed in on a request or a device connection."""

    name: str
    display_name: str = ""
    groups: tuple[str, ...] = ()
    #: The sign-in (session) this came from: what an administrator revokes.
    session: str = ""


class DeviceSignIn(Protocol):
    """What a sign-in plugin registers on the client service."""

    #: Where a browser signs in (the guard adds ``?next=<where it was going>``).
    sign_in_url: str
    #: Where the sites' menus post to sign out.
    sign_out_url: str

    def user_of(self, request: Request) -> DeviceUser | None:
        """The user signed in on ``request`` (a cookie, an ``Authorization:
        Bearer`` header), or None.  Called once per request; it may refresh
        what the request carries (set ``flask.session``), and raises
        :class:`SignInUnavailable` when it cannot tell now."""


def public(view: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a device view that needs no signed-in user (a sign-in page)."""
    view.peek_public = True  # type: ignore[attr-defined]
    return view


def current_device_user() -> DeviceUser | None:
    """The user signed in on the current request (None: nobody, or no
    sign-in plugin is enabled)."""
    return g.get("peek_device_user")


def current_device_user_name() -> str | None:
    """The name of :func:`current_device_user`, or None."""
    user = current_device_user()
    return user.name if user is not None else None


def _is_public(endpoint: str | None) -> bool:
    if endpoint is None:  # no such route: let it be a 404
        return True
    if endpoint == "static" or endpoint.endswith(".static"):
        return True
    return getattr(current_app.view_functions.get(endpoint), "peek_public", False)


def guard(sign_in_of: Callable[[], tuple[DeviceSignIn | None, str | None]]
          ) -> Callable[[], Response | None]:
    """The mobile site's ``before_request``: find the signed-in user and
    refuse a request that needs one and has none.  ``sign_in_of`` gives the
    registered sign-in, or None and why devices must wait for one (its plugin
    is enabled but not running): then every route but the public ones
    answers 503."""

    def check() -> Response | None:
        sign_in, waiting = sign_in_of()
        if sign_in is None:
            if waiting is None or _is_public(request.endpoint):
                return None
            return _unavailable(waiting)
        public_route = _is_public(request.endpoint)
        if public_route and request.endpoint in (None, "static"):
            return None
        try:
            user = sign_in.user_of(request)
        except SignInUnavailable as e:
            return None if public_route else _unavailable(str(e))
        g.peek_device_user = user
        if user is not None or public_route:
            return None
        return _refusal(sign_in)
    return check


def _unavailable(why: str) -> Response:
    """Sign-in is required but cannot be done now: fail closed, and say so."""
    message = f"sign-in is not available right now ({why}): try again shortly"
    if request.path.startswith("/vortex/") or request.headers.get("Upgrade", "").lower() \
            == "websocket" or request.accept_mimetypes["application/json"] >= \
            request.accept_mimetypes["text/html"]:
        response = jsonify(type="error", error=message, state="retry")
    else:
        response = Response(message, mimetype="text/plain")
    response.status_code = 503
    response.headers["Retry-After"] = "5"
    return response


def _refusal(sign_in: DeviceSignIn) -> Response:
    message = "sign in first: this service needs a signed-in user"
    # By quality, not ``best``: werkzeug sorts a type with parameters first, and
    # Chromium's navigations accept "application/signed-exchange;v=b3;q=0.7".
    accept = request.accept_mimetypes
    wants_html = accept["text/html"] > accept["application/json"]
    if request.headers.get("Upgrade", "").lower() == "websocket" or \
            request.path.startswith("/vortex/") or not wants_html:
        response = jsonify(type="error", error=message)
        response.status_code = 401
        response.headers["WWW-Authenticate"] = 'Bearer realm="peek"'
        return response
    target = f"{sign_in.sign_in_url}?next={quote(request.full_path.rstrip('?'), safe='/')}"
    if request.headers.get("HX-Request"):  # htmx follows this header, not a 302
        response = Response(message, status=401, mimetype="text/plain")
        response.headers["HX-Redirect"] = target
        return response
    return redirect(target, 303 if request.method != "GET" else 302)
