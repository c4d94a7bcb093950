"""The published API on the client service (``UserClientApi`` in ../../api.py)."""

from __future__ import annotations

from typing import Any

from peek.plugin_api import current_device_user

from ...api import UserClientApi
from ...tuples import UserTuple


def as_user_tuple(user: Any) -> UserTuple | None:
    if user is None:
        return None
    return UserTuple(name=user.name, display_name=user.display_name,
                     groups=list(user.groups), enabled=True)


class UserClientApiImpl(UserClientApi):
    def current_user(self) -> UserTuple | None:
        try:
            return as_user_tuple(current_device_user())
        except RuntimeError:  # outside a request
            return None

    def user_of_connection(self, connection: Any) -> UserTuple | None:
        return as_user_tuple(getattr(connection, "user", None))
