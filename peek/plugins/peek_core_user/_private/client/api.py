"""The published API on the client service (``UserClientApi`` in ../../api.py)."""

from __future__ import annotations

from typing import Any

from peek.plugin_api import current_device_user

from ... import rpcs
from ...api import UserClientApi
from ...tuples import UserTuple


def as_user_tuple(user: Any) -> UserTuple | None:
    if user is None:
        return None
    return UserTuple(name=user.name, display_name=user.display_name,
                     groups=list(user.groups), enabled=True)


class UserClientApiImpl(UserClientApi):
    def __init__(self, platform: Any):
        self._platform = platform

    def _ask(self, method: str, *args: Any) -> Any:
        return self._platform.call_rpc(rpcs.lookup, method, *args)

    def find_user(self, name: str) -> UserTuple | None:
        return self._ask("find_user", name)

    def check_password(self, name: str, password: str) -> UserTuple | None:
        return self._ask("check_password", name, password)

    def users_in_group(self, group: str, include_disabled: bool = False) -> list[UserTuple]:
        return self._ask("users_in_group", group, include_disabled)

    def list_users(self, include_disabled: bool = False) -> list[UserTuple]:
        return self._ask("list_users", include_disabled)

    def current_user(self) -> UserTuple | None:
        try:
            return as_user_tuple(current_device_user())
        except RuntimeError:  # outside a request
            return None

    def user_of_connection(self, connection: Any) -> UserTuple | None:
        return as_user_tuple(getattr(connection, "user", None))
