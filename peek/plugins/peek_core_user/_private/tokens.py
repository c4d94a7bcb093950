"""Access tokens, which both services handle: the server issues them and
every client service checks them without asking the server.

An access token is the claims below, signed with itsdangerous under the
plugin's ``platform.signing_key("access tokens")``, the same on every service
of an installation (derived from its shared secret): it cannot be forged or
changed without that secret.
A refresh token is a random string the server keeps only the sha256 of.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeSerializer

_SALT = "peek_core_user.access-token"
#: The purpose of the platform signing key the tokens are signed with.
KEY_PURPOSE = "access tokens"


def _serializer(key: bytes) -> URLSafeSerializer:
    return URLSafeSerializer(key, salt=_SALT)


@dataclass(frozen=True)
class Claims:
    session: str
    name: str
    display_name: str
    groups: tuple[str, ...]
    #: When it stops being accepted (Unix time).
    expires: float

    @property
    def expired(self) -> bool:
        return time.time() >= self.expires


def issue(key: bytes, claims: Claims) -> str:
    return _serializer(key).dumps({
        "sid": claims.session, "sub": claims.name, "dn": claims.display_name,
        "grp": list(claims.groups), "exp": claims.expires})


def read(key: bytes, token: str | None) -> Claims | None:
    """The claims of a genuine token (expired or not), or None."""
    if not token or not isinstance(token, str) or len(token) > 8192:
        return None
    try:
        data = _serializer(key).loads(token)
        return Claims(session=str(data["sid"]), name=str(data["sub"]),
                      display_name=str(data.get("dn", "")),
                      groups=tuple(str(g) for g in data.get("grp", ())),
                      expires=float(data["exp"]))
    except (BadSignature, KeyError, TypeError, ValueError):
        return None


def new_refresh_token() -> str:
    return secrets.token_urlsafe(32)


def new_session_id() -> str:
    return secrets.token_urlsafe(18)


def digest(refresh_token: str) -> str:
    """What the server stores of a refresh token."""
    return hashlib.sha256(refresh_token.encode()).hexdigest()
