"""The RPCs of device sign-in, and of the user lookups of the client's API.
This module is public: the server serves them and the client service calls
them (``platform.call_rpc``).

Each answers a dict of the tokens of a sign-in (see ``_private/tokens.py``)::

    {"session": <id>, "access_token": ..., "expires_in": <s>,
     "refresh_token": ..., "refresh_expires_in": <s>,
     "user": {"name": ..., "display_name": ..., "groups": [...]}}

and raises :class:`~.api.SignInRefused`, :class:`~.api.SignInSlowedDown` or
:class:`~.api.DirectoryUnavailable` (raised again on the caller's side).
"""

from peek.plugin_api import rpc


@rpc(service="server", callers=("client",), timeout=15)
def sign_in(name: str, password: str, kind: str, address: str, user_agent: str) -> dict:
    """Check ``name`` and ``password`` (through the user directory, as
    ``UserApi.check_password``) and open a sign-in of ``kind`` (``site``: a
    browser; ``app``: a native app) for the device at ``address``."""
    from ._private.server.rpc_handlers import sign_in
    return sign_in(name, password, kind, address, user_agent)


@rpc(service="server", callers=("client",), timeout=15)
def refresh(refresh_token: str, address: str, user_agent: str) -> dict:
    """New tokens for the sign-in of ``refresh_token``, which stops working
    (rotation); SignInRefused if it is unknown, expired, revoked or already
    used (a used one, long after it was rotated, revokes the sign-in)."""
    from ._private.server.rpc_handlers import refresh
    return refresh(refresh_token, address, user_agent)


@rpc(service="server", callers=("client",), timeout=15)
def sign_out(session: str, by: str) -> bool:
    """Revoke sign-in ``session`` (``by``: who, for the record); False if it
    was unknown or revoked already."""
    from ._private.server.rpc_handlers import sign_out
    return sign_out(session, by)


@rpc(service="server", callers=("client",), timeout=15)
def lookup(method: str, *args) -> object:
    """``UserApi.<method>(*args)`` on the server, for the client's
    :class:`~.api.UserClientApi` (one of its :class:`~.api.UserLookup` methods)."""
    from ._private.server.rpc_handlers import lookup
    return lookup(method, *args)
