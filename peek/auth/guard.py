"""Sign-in required on the admin site: every page, partial, API and websocket.

The session holds the administrator's id and a fingerprint of their password
hash, checked on every request: a new password or a deleted account ends every
session of that administrator at once.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Callable, TypeVar
from urllib.parse import urlsplit

from flask import Flask, current_app, g, jsonify, redirect, request, session, url_for
from flask_wtf.csrf import generate_csrf

from peek.config import ServiceConfig
from peek.extensions import csrf, db

#: Endpoints open without signing in.
OPEN_ENDPOINTS = {"auth.sign_in", "static", "health.healthz"}
SESSION_KEY = "admin"
F = TypeVar("F", bound=Callable)


def fingerprint(password_hash: str) -> str:
    return hashlib.sha256(password_hash.encode()).hexdigest()[:24]


def sign_in_session(user) -> None:
    """A fresh session for ``user`` (a new one: no fixation), with its CSRF
    token made now: pages loading at once afterwards all get the same one."""
    session.clear()
    session.permanent = True
    session[SESSION_KEY] = {"id": user.id, "key": fingerprint(user.password_hash)}
    generate_csrf()


def init_admin_auth(app: Flask, config: ServiceConfig) -> None:
    app.config.update(
        SESSION_COOKIE_NAME="peek_admin_session",  # the mobile site shares the host
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=config.get("admin.secureCookies"),
        PERMANENT_SESSION_LIFETIME=timedelta(hours=config.get("admin.sessionHours")),
        WTF_CSRF_TIME_LIMIT=None,  # valid for the session; pages stay open for hours
    )
    # In this order: nobody's request body is read before they are signed in,
    # and a view's own body limit applies when the CSRF check reads the form.
    app.before_request(_require_sign_in)
    app.before_request(_apply_body_limit)
    csrf.init_app(app)


def accepts_body(max_bytes: int) -> Callable[[F], F]:
    """Let a view take request bodies up to ``max_bytes`` rather than the
    site's ``MAX_CONTENT_LENGTH`` (signed-in administrators only)."""
    def mark(view: F) -> F:
        view.max_content_length = max_bytes
        return view
    return mark


def _apply_body_limit():
    limit = getattr(current_app.view_functions.get(request.endpoint), "max_content_length", None)
    if limit:
        request.max_content_length = limit


def current_admin():
    """The signed-in administrator of this request, or None."""
    from peek.models.admin_user import AdminUser

    if "admin_user" not in g:
        data = session.get(SESSION_KEY) or {}
        user = db.session.get(AdminUser, data.get("id")) if data.get("id") else None
        if user is not None and fingerprint(user.password_hash) != data.get("key"):
            user = None
        g.admin_user = user
    return g.admin_user


def _require_sign_in():
    if request.endpoint in OPEN_ENDPOINTS or current_admin() is not None:
        return None
    if request.headers.get("HX-Request"):
        response = jsonify(error="sign in first")
        response.status_code = 401
        response.headers["HX-Redirect"] = url_for("auth.sign_in")
        return response
    wants_page = request.method == "GET" and request.accept_mimetypes.accept_html \
        and request.headers.get("Upgrade", "").lower() != "websocket"
    if not wants_page:
        return jsonify(error="sign in to the admin site first"), 401
    return redirect(url_for("auth.sign_in", next=request.full_path.rstrip("?")))


def safe_next(target: str | None) -> str:
    """Only a path on this site: never an open redirect."""
    if not target:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") \
            or "\\" in target:
        return "/"
    return target
