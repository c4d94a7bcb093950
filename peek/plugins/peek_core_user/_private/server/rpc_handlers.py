"""The server's side of the sign-in RPCs (declared in ../../rpcs.py)."""

#: The running server hook's SignIns, while it is loaded.
SIGN_INS = None


def _sign_ins():
    if SIGN_INS is None:
        from ...api import DirectoryUnavailable
        raise DirectoryUnavailable("peek_core_user is not running on the server")
    return SIGN_INS


def sign_in(name: str, password: str, kind: str, address: str, user_agent: str) -> dict:
    return _sign_ins().sign_in(name, password, kind, address, user_agent)


def refresh(refresh_token: str, address: str, user_agent: str) -> dict:
    return _sign_ins().refresh(refresh_token, address, user_agent)


def sign_out(session: str, by: str) -> bool:
    return _sign_ins().revoke(session, by)
