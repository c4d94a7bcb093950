"""The tuples of peek_core_user (the platform imports this module on every
service the plugin runs on)."""

import datetime

from peek.plugin_api import Tuple


class UserTuple(Tuple, tag="peek_core_user.UserTuple"):
    """One user as other plugins see them: never a password or its hash."""
    name: str
    display_name: str = ""
    groups: list[str] = []
    enabled: bool = True
    created: datetime.datetime | None = None
    updated: datetime.datetime | None = None


class RevokedSessionTuple(Tuple, tag="peek_core_user.RevokedSessionTuple"):
    """A sign-in that was revoked (signed out, revoked by an administrator,
    its user disabled) while access tokens issued for it may still be
    unexpired.  The server observable of this type lists every such sign-in;
    each client service watches it and refuses their tokens at once.  It
    carries the sign-in's opaque id only."""
    session: str
    revoked_at: datetime.datetime | None = None
