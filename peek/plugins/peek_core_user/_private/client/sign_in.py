"""The device sign-in the client service registers with the platform
(``platform.set_device_sign_in``): who is signed in on a request."""

from __future__ import annotations

import threading
import time
from typing import Any, Callable

from flask import Request, session

from peek.plugin_api import DeviceUser, RpcError, SignInUnavailable

from ... import rpcs
from ...api import DirectoryUnavailable, SignInRefused
from ...tuples import RevokedSessionTuple
from .. import tokens

BASE = "/peek_core_user"
#: Where the site session (Flask's signed cookie) keeps a browser's tokens.
SESSION_KEY = "peek_core_user"
#: A refresh's answer is reused this long (at least) for the same old refresh
#: token, so that a browser's requests racing with one cookie all succeed.
REFRESH_REUSE_S = 60.0


class _Refresh:
    def __init__(self) -> None:
        self.done = threading.Event()
        self.answer: dict | None = None
        self.refused = False
        self.until = float("inf")


class DeviceSignInImpl:
    """``user_of(request)``: an ``Authorization: Bearer`` access token, the
    ``access_token`` query parameter of a websocket handshake, or the tokens
    of the site session (refreshed when the access token expired)."""

    sign_in_url = f"{BASE}/sign-in"
    sign_out_url = f"{BASE}/sign-out"

    def __init__(self, platform: Any, key: bytes):
        self._platform = platform
        self._key = key
        self._lock = threading.Lock()
        self._revoked: frozenset[str] = frozenset()
        self._refreshes: dict[str, _Refresh] = {}

    @property
    def log(self):
        return self._platform.log

    # -- revocations (the server's RevokedSessionTuple observable) ---------------------------
    def revoked(self, revocations: list[RevokedSessionTuple]) -> None:
        ids = frozenset(r.session for r in revocations)
        new = ids - self._revoked
        self._revoked = ids
        for session_id in new:
            closed = self._platform.disconnect_signed_in(session_id)
            if closed:
                self.log.info("Sign-in %s was revoked: closed %d connections", session_id,
                              closed)

    def forget(self, session_id: str) -> None:
        """Signed out here: refuse it at once, before the server says so."""
        self._revoked = self._revoked | {session_id}
        self._platform.disconnect_signed_in(session_id)

    # -- who is signed in ----------------------------------------------------------------------
    def read(self, token: str | None) -> tokens.Claims | None:
        """The claims of a genuine access token, expired or revoked or not."""
        return tokens.read(self._key, token)

    def claims(self, token: str | None) -> tokens.Claims | None:
        """The claims of a genuine, unexpired, unrevoked access token, or None."""
        claims = tokens.read(self._key, token)
        if claims is None or claims.expired or claims.session in self._revoked:
            return None
        return claims

    @staticmethod
    def user(claims: tokens.Claims) -> DeviceUser:
        return DeviceUser(name=claims.name, display_name=claims.display_name,
                          groups=claims.groups, session=claims.session)

    def user_of(self, request: Request) -> DeviceUser | None:
        authorization = request.headers.get("Authorization", "")
        if authorization[:7].lower() == "bearer ":
            claims = self.claims(authorization[7:].strip())
            return claims and self.user(claims)
        if request.headers.get("Upgrade", "").lower() == "websocket" and \
                request.args.get("access_token"):
            claims = self.claims(request.args["access_token"])
            return claims and self.user(claims)
        kept = session.get(SESSION_KEY)
        if not isinstance(kept, dict):
            return None
        found = tokens.read(self._key, kept.get("access"))
        if found is not None and found.session in self._revoked:
            session.pop(SESSION_KEY, None)
            return None
        if found is not None and not found.expired:
            return self.user(found)
        # Expired: refresh through the server, once for concurrent requests.
        try:
            answer = self.refresh(kept.get("refresh"), request)
        except SignInRefused:
            return None  # the sign-in page replaces the tokens
        except (RpcError, DirectoryUnavailable) as e:
            self.log.warning("Could not refresh a sign-in (server unreachable?): %s", e)
            raise SignInUnavailable("the server that renews sign-ins is not reachable") from e
        self.keep(answer)
        claims = self.claims(answer["access_token"])
        return claims and self.user(claims)

    @staticmethod
    def keep(answer: dict) -> None:
        """Keep a sign-in's tokens in the site session (the browser's cookie)."""
        session[SESSION_KEY] = {"access": answer["access_token"],
                                "refresh": answer["refresh_token"]}
        session.permanent = True

    def refresh(self, refresh_token: Any, request: Request | None = None,
                call: Callable[..., dict] | None = None) -> dict:
        """The server's answer to a refresh of ``refresh_token``; the same
        answer for the same token for REFRESH_REUSE_S (at least: until the
        access token it carries expires)."""
        if not isinstance(refresh_token, str) or not refresh_token:
            raise SignInRefused("no refresh token")
        key = tokens.digest(refresh_token)
        now = time.monotonic()
        with self._lock:
            for old in [k for k, r in self._refreshes.items() if r.until < now]:
                del self._refreshes[old]
            entry = self._refreshes.get(key)
            mine = entry is None
            if mine:
                entry = self._refreshes[key] = _Refresh()
        if mine:
            try:
                address = (request.remote_addr or "") if request is not None else ""
                agent = request.headers.get("User-Agent", "") if request is not None else ""
                entry.answer = self._platform.call_rpc(rpcs.refresh, refresh_token,
                                                       address, agent)
                entry.until = time.monotonic() + max(REFRESH_REUSE_S,
                                                     entry.answer["expires_in"])
            except SignInRefused:
                entry.refused = True
                entry.until = time.monotonic() + REFRESH_REUSE_S
                raise
            except BaseException:
                with self._lock:  # not an answer: the next request asks again
                    self._refreshes.pop(key, None)
                raise
            finally:
                entry.done.set()
            return entry.answer
        if not entry.done.wait(30) or (entry.answer is None and not entry.refused):
            raise RpcError("the refresh of this sign-in failed; try again")
        if entry.refused:
            raise SignInRefused("the refresh token is not valid (unknown, expired, revoked "
                                "or already used)")
        return entry.answer
