"""Every change to the built-in table of users goes through here (the admin
pages call it).  Each function checks everything first and raises
:class:`UserError` (nothing written) or commits once."""

from __future__ import annotations

import re
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from werkzeug.security import generate_password_hash

from .storage import UserAccount, UserGroup, _now

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$")
GROUP_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._@-]{0,99}$")
#: Never shorter than this, whatever the min_password_length setting says.
PASSWORD_FLOOR = 8
MAX_DISPLAY_NAME = 200
MAX_PASSWORD = 1000
#: Refused outright, however long: the first guesses of anyone.
COMMON_PASSWORDS = frozenset({
    "password", "password1", "password123", "passw0rd", "12345678", "123456789",
    "1234567890", "qwertyuiop", "qwerty123", "iloveyou", "letmein1", "welcome1",
    "abcdefgh", "abcd1234", "changeme", "administrator", "peekpeek"})


class UserError(ValueError):
    """A value that cannot be used; ``field`` names the form field it is about
    (``name``, ``display_name``, ``groups``, ``password``), the message says why."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class PasswordPolicy:
    min_length: int = 10

    def check(self, password: str, confirm: str | None, name: str) -> None:
        minimum = max(PASSWORD_FLOOR, self.min_length)
        password = password or ""
        if not password:
            raise UserError("password", "a password is needed")
        if len(password) < minimum:
            raise UserError("password", f"the password must have at least {minimum} characters")
        if len(password) > MAX_PASSWORD:
            raise UserError("password", f"the password must have at most {MAX_PASSWORD} characters")
        lowered = password.lower()
        if lowered in COMMON_PASSWORDS or len(set(password)) < 3:
            raise UserError("password", "that password is too easy to guess")
        if name and name.lower() in lowered:
            raise UserError("password", "the password must not contain the user's name")
        if confirm is not None and confirm != password:
            raise UserError("password", "the two passwords differ")


def check_name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise UserError("name", "a name is needed")
    if not NAME_PATTERN.match(name):
        raise UserError("name", f"{name!r} is not a valid name: use 1 to 100 letters, digits "
                                "and . _ @ -, starting with a letter or digit")
    return name


def check_display_name(display_name: str) -> str:
    display_name = " ".join((display_name or "").split())
    if len(display_name) > MAX_DISPLAY_NAME:
        raise UserError("display_name",
                        f"the display name must have at most {MAX_DISPLAY_NAME} characters")
    return display_name


def parse_groups(text: str | list[str]) -> list[str]:
    """Group names from a comma separated text (or a list), de-duplicated
    without regard to case, sorted."""
    parts = text.split(",") if isinstance(text, str) else list(text)
    groups: dict[str, str] = {}
    for part in parts:
        group = " ".join(part.split())
        if not group:
            continue
        if not GROUP_PATTERN.match(group):
            raise UserError("groups", f"{group!r} is not a valid group name: use 1 to 100 "
                                      "letters, digits, spaces and . _ @ -")
        groups.setdefault(group.lower(), group)
    return sorted(groups.values(), key=str.lower)


def find(session: Session, name: str) -> UserAccount | None:
    return session.scalar(sa.select(UserAccount).where(
        sa.func.lower(UserAccount.name) == (name or "").lower()))


def existing(session: Session, name: str) -> UserAccount:
    user = find(session, name)
    if user is None:
        raise UserError("name", f"there is no user named {name!r}")
    return user


def _groups(session: Session, names: list[str]) -> list[UserGroup]:
    found = {g.name.lower(): g for g in session.scalars(
        sa.select(UserGroup).where(sa.func.lower(UserGroup.name).in_(
            [n.lower() for n in names])))}
    groups = []
    for name in names:
        group = found.get(name.lower())
        if group is None:
            group = UserGroup(name=name)
            session.add(group)
        groups.append(group)
    return groups


def _prune_groups(session: Session) -> None:
    """Drop groups nobody is in any more."""
    from .storage import UserGroupMember
    session.execute(sa.delete(UserGroup).where(~UserGroup.id.in_(
        sa.select(UserGroupMember.group_id))))


def _commit(session: Session, name: str) -> None:
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise UserError("name", f"a user named {name!r} already exists") from None


def create_user(session: Session, policy: PasswordPolicy, *, name: str, password: str,
                confirm: str | None = None, display_name: str = "",
                groups: str | list[str] = (), enabled: bool = True) -> UserAccount:
    name = check_name(name)
    display_name = check_display_name(display_name)
    group_names = parse_groups(groups)
    if find(session, name) is not None:
        raise UserError("name", f"a user named {name!r} already exists")
    policy.check(password, confirm, name)
    user = UserAccount(name=name, display_name=display_name, enabled=enabled,
                       password_hash=generate_password_hash(password))
    user.groups = _groups(session, group_names)
    session.add(user)
    _commit(session, name)
    return user


def update_user(session: Session, name: str, *, display_name: str,
                groups: str | list[str], enabled: bool) -> UserAccount:
    user = existing(session, name)
    display_name = check_display_name(display_name)
    group_names = parse_groups(groups)
    user.display_name, user.enabled, user.updated = display_name, enabled, _now()
    user.groups = _groups(session, group_names)
    session.flush()
    _prune_groups(session)
    _commit(session, user.name)
    return user


def set_enabled(session: Session, name: str, enabled: bool) -> UserAccount:
    user = existing(session, name)
    user.enabled, user.updated = enabled, _now()
    _commit(session, user.name)
    return user


def set_password(session: Session, policy: PasswordPolicy, name: str, password: str,
                 confirm: str | None = None) -> UserAccount:
    user = existing(session, name)
    policy.check(password, confirm, user.name)
    user.password_hash, user.updated = generate_password_hash(password), _now()
    _commit(session, user.name)
    return user
