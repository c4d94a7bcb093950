"""The server's side of the RPCs (declared in ../../rpcs.py).

The RPC functions are module-level (both services import them), so they
reach the running hook's objects through :data:`RUNNING`."""

from __future__ import annotations

from typing import Any, NamedTuple

#: What the client's UserClientApi may ask of the server's UserApi.
LOOKUPS = ("find_user", "check_password", "users_in_group", "list_users")


class Running(NamedTuple):
    sign_ins: Any  # sessions.SignIns
    users: Any     # api.UserApiImpl


#: The loaded server hook's objects, or None.
RUNNING: Running | None = None


def _running() -> Running:
    if RUNNING is None:
        from ...api import DirectoryUnavailable
        raise DirectoryUnavailable("peek_core_user is not running on the server")
    return RUNNING


def sign_in(name: str, password: str, kind: str, address: str, user_agent: str) -> dict:
    return _running().sign_ins.sign_in(name, password, kind, address, user_agent)


def refresh(refresh_token: str, address: str, user_agent: str) -> dict:
    return _running().sign_ins.refresh(refresh_token, address, user_agent)


def sign_out(session: str, by: str) -> bool:
    return _running().sign_ins.revoke(session, by)


def lookup(method: str, *args: Any) -> Any:
    if method not in LOOKUPS:
        raise ValueError(f"no user lookup {method!r}; lookups: {', '.join(LOOKUPS)}")
    return getattr(_running().users, method)(*args)
