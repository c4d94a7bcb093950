"""The built-in user directory: the users in core_user's tables."""

from __future__ import annotations

import functools
from typing import Callable

import sqlalchemy as sa
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from ...api import UserDirectory
from ...tuples import UserTuple
from .. import accounts
from ..storage import UserAccount, UserGroup

#: Checked against when the name is unknown or the user disabled, so that
#: every refusal takes as long as a wrong password.
@functools.cache
def _dummy_hash() -> str:
    """Made on first use, not at import: scrypt is slow on purpose."""
    return generate_password_hash("not the password of anyone")


def as_tuple(user: UserAccount) -> UserTuple:
    return UserTuple(name=user.name, display_name=user.display_name,
                     groups=[g.name for g in user.groups], enabled=user.enabled,
                     created=user.created, updated=user.updated)


class TableDirectory(UserDirectory):
    def __init__(self, db_session: Callable[[], Session]):
        self._db_session = db_session

    def find(self, name: str) -> UserTuple | None:
        with self._db_session() as session:
            user = accounts.find(session, name)
            return user and as_tuple(user)

    def check_password(self, name: str, password: str) -> UserTuple | None:
        with self._db_session() as session:
            user = accounts.find(session, name) if name else None
            if user is None or not user.enabled:
                check_password_hash(_dummy_hash(), password or "")
                return None
            if not check_password_hash(user.password_hash, password or ""):
                return None
            return as_tuple(user)

    def in_group(self, group: str) -> list[UserTuple]:
        with self._db_session() as session:
            users = session.scalars(
                sa.select(UserAccount).join(UserAccount.groups)
                .where(sa.func.lower(UserGroup.name) == (group or "").lower())
                .order_by(sa.func.lower(UserAccount.name)))
            return [as_tuple(u) for u in users]

    def list_users(self) -> list[UserTuple]:
        with self._db_session() as session:
            users = session.scalars(sa.select(UserAccount).order_by(
                sa.func.lower(UserAccount.name)))
            return [as_tuple(u) for u in users]
