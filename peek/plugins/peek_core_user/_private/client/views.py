"""peek_core_user's device routes on the client service: the sign-in page,
sign-out, the token endpoint for native apps and the account page."""

from __future__ import annotations

import hmac
import secrets
from typing import Any
from urllib.parse import urlsplit

from flask import (Blueprint, Response, jsonify, redirect, render_template, request,
                   session)

from peek.plugin_api import RpcError, current_device_user, public_route

from ... import rpcs
from ...api import DirectoryUnavailable, SignInRefused, SignInSlowedDown
from .. import tokens
from .sign_in import SESSION_KEY, DeviceSignInImpl

WRONG = "Wrong name or password."
EXPIRED = "This sign-in form has expired. Type your name and your password again."
#: Where the site session keeps the sign-in form's token.
FORM_KEY = "peek_core_user_form"
UNREACHABLE = "Signing in is not possible right now: the server cannot be reached. Try again shortly."


def local_path(target: str | None) -> str:
    """``target`` if it is a path on this site, else ``/``."""
    if not target or not target.startswith("/") or target.startswith("//") or \
            "\\" in target or any(ord(c) < 32 for c in target):
        return "/"
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else "/"


def _cross_site() -> bool:
    """A browser says the form was posted from another site (a forged sign-in).
    ``Sec-Fetch-Site`` is the browser's own, whatever proxies do to ``Host``."""
    return request.headers.get("Sec-Fetch-Site") == "cross-site"


def _form_token() -> str:
    """The sign-in form's token, kept in the site session until a sign-in: a
    form posted from another site (by a browser that does not send
    Sec-Fetch-Site) cannot know it."""
    token = session.get(FORM_KEY)
    if not isinstance(token, str):
        token = session[FORM_KEY] = secrets.token_urlsafe(24)
    return token


def _form_token_sent() -> bool:
    expected, sent = session.get(FORM_KEY), request.form.get("form_token", "")
    return isinstance(expected, str) and hmac.compare_digest(sent.encode(), expected.encode())


def _oauth_error(status: int, error: str, description: str, **headers: str) -> Response:
    response = jsonify(error=error, error_description=description)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    response.headers.update(headers)
    return response


def _device() -> tuple[str, str]:
    return request.remote_addr or "", request.headers.get("User-Agent", "")[:500]



def blueprint(platform: Any, sign_in: DeviceSignInImpl) -> Blueprint:
    """The sign-in page, sign-out, the token endpoint and the account page."""
    bp = Blueprint("mobile", __name__, template_folder="../../templates")
    call, log = platform.call_rpc, platform.log

    def page(status: int = 200, error: str | None = None, **headers: str):
        body = render_template("peek_core_user/sign_in.html", error=error,
                               next=local_path(request.values.get("next")),
                               username=request.form.get("username", ""),
                               form_token=_form_token())
        return Response(body, status=status, headers=headers)

    @public_route
    def sign_in_page():
        if request.method == "GET":
            return page()
        if _cross_site():
            return page(403, "This sign-in form was sent from another site.")
        if not _form_token_sent():
            return page(400, EXPIRED)
        name = request.form.get("username", "").strip()
        password = request.form.get("password", "")
        if not name or not password:
            return page(400, "Type your name and your password.")
        try:
            answer = call(rpcs.sign_in, name, password, "site", *_device())
        except SignInRefused:
            return page(401, WRONG)
        except SignInSlowedDown as e:
            return page(429, f"Too many failed sign-ins; try again in {e.retry_after} s.",
                        **{"Retry-After": str(e.retry_after)})
        except (RpcError, DirectoryUnavailable) as e:
            log.warning("Sign-in of %r impossible: %s", name, e)
            return page(503, UNREACHABLE)
        session.clear()
        sign_in.keep(answer)
        return redirect(local_path(request.form.get("next")), 303)

    def _revoke(claims: tokens.Claims | None, by: str) -> bool:
        if claims is None:
            return True
        sign_in.forget(claims.session)
        try:
            call(rpcs.sign_out, claims.session, by)
            return True
        except (RpcError, DirectoryUnavailable) as e:
            log.warning("Could not revoke sign-in %s at the server: %s", claims.session, e)
            return False

    @public_route
    def sign_out():
        kept = session.get(SESSION_KEY)
        claims = sign_in.read(kept.get("access")) if isinstance(kept, dict) else None
        _revoke(claims, claims.name if claims else "")
        session.clear()
        response = redirect(sign_in.sign_in_url, 303)
        response.headers["Clear-Site-Data"] = '"cache", "storage"'
        return response

    @public_route
    def token():
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            body = request.form.to_dict() if request.form else None
        if not isinstance(body, dict):
            return _oauth_error(400, "invalid_request",
                                "send a JSON object with grant_type")
        grant = body.get("grant_type")
        try:
            if grant == "password":
                name, password = body.get("username"), body.get("password")
                if not isinstance(name, str) or not isinstance(password, str) or \
                        not name.strip() or not password:
                    return _oauth_error(400, "invalid_request",
                                        "grant_type password needs username and password")
                answer = call(rpcs.sign_in, name.strip(), password, "app", *_device())
            elif grant == "refresh_token":
                refresh_token = body.get("refresh_token")
                if not isinstance(refresh_token, str) or not refresh_token:
                    return _oauth_error(400, "invalid_request",
                                        "grant_type refresh_token needs refresh_token")
                answer = call(rpcs.refresh, refresh_token, *_device())
            else:
                return _oauth_error(400, "invalid_request",
                                    "grant_type must be password or refresh_token")
        except SignInRefused as e:
            description = "wrong name or password" if grant == "password" else str(e)
            return _oauth_error(401, "invalid_grant", description)
        except SignInSlowedDown as e:
            response = _oauth_error(429, "slow_down", str(e),
                                    **{"Retry-After": str(e.retry_after)})
            return response
        except (RpcError, DirectoryUnavailable) as e:
            log.warning("Token request impossible: %s", e)
            return _oauth_error(503, "temporarily_unavailable",
                                "the server cannot be reached; try again shortly")
        response = jsonify(access_token=answer["access_token"], token_type="Bearer",
                           expires_in=answer["expires_in"],
                           refresh_token=answer["refresh_token"], user=answer["user"])
        response.headers["Cache-Control"] = "no-store"
        return response

    @public_route
    def api_sign_out():
        user = current_device_user()
        authorization = request.headers.get("Authorization", "")
        claims = sign_in.claims(authorization[7:].strip()) \
            if authorization[:7].lower() == "bearer " else None
        if user is None or claims is None:
            return _oauth_error(401, "invalid_token", "send the access token as "
                                "Authorization: Bearer <token>",
                                **{"WWW-Authenticate": 'Bearer realm="peek"'})
        if not _revoke(claims, claims.name):
            return _oauth_error(503, "temporarily_unavailable",
                                "the server cannot be reached; try again shortly")
        return Response(status=204)

    def account():
        return render_template("peek_core_user/account.html", user=current_device_user())

    bp.add_url_rule("/", "account", account)
    bp.add_url_rule("/sign-in", "sign_in", sign_in_page, methods=["GET", "POST"])
    bp.add_url_rule("/sign-out", "sign_out", sign_out, methods=["POST"])
    bp.add_url_rule("/api/token", "token", token, methods=["POST"])
    bp.add_url_rule("/api/sign-out", "api_sign_out", api_sign_out, methods=["POST"])
    return bp
