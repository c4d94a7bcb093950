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
