"""Every change to administrator accounts goes through here (CLI and admin site).

Passwords are hashed with werkzeug's scrypt.  A name that fails to sign in
``max_failures`` times in a row is locked for ``lockout_s`` seconds; during the
lock even the right password is refused, so guessing gets nowhere.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from peek.models.admin_user import AdminUser

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$")
MIN_PASSWORD_LENGTH = 8
#: Compared against when the name is unknown, so that an unknown name takes as
#: long to refuse as a wrong password.
@functools.cache
def _dummy_hash() -> str:
    """Made on first use, not at import: scrypt is slow on purpose."""
    return generate_password_hash("not a password of anyone")


class AccountError(ValueError):
    """A name or password that cannot be used; the message says why."""


@dataclass(frozen=True)
class SignInPolicy:
    max_failures: int = 5
    lockout_s: float = 300.0


class SignInRefused(Exception):
    """Wrong name or password, or locked; the message is safe to show."""


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _check_name(name: str) -> None:
    if not NAME_PATTERN.match(name or ""):
        raise AccountError(f"{name!r} is not a valid name: use 1 to 100 letters, digits "
                           "and . _ @ -, starting with a letter or digit")


def _check_password(password: str) -> None:
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise AccountError(f"the password must have at least {MIN_PASSWORD_LENGTH} "
                           "characters")


def find(session: Session, name: str) -> AdminUser | None:
    return session.scalar(sa.select(AdminUser).where(AdminUser.name == name))


def any_users(session: Session) -> bool:
    return session.scalar(sa.select(sa.func.count()).select_from(AdminUser)) > 0


def list_users(session: Session) -> list[AdminUser]:
    return list(session.scalars(sa.select(AdminUser).order_by(AdminUser.name)))


def create_user(session: Session, name: str, password: str) -> AdminUser:
    _check_name(name)
    _check_password(password)
    if find(session, name) is not None:
        raise AccountError(f"an administrator named {name!r} already exists")
    user = AdminUser(name=name, password_hash=generate_password_hash(password))
    session.add(user)
    session.commit()
    return user


def set_password(session: Session, name: str, password: str) -> AdminUser:
    """New password; also lifts a lock-out."""
    _check_password(password)
    user = _existing(session, name)
    user.password_hash = generate_password_hash(password)
    user.failed_sign_ins, user.locked_until = 0, None
    session.commit()
    return user


def delete_user(session: Session, name: str) -> None:
    session.delete(_existing(session, name))
    session.commit()


def _existing(session: Session, name: str) -> AdminUser:
    user = find(session, name)
    if user is None:
        raise AccountError(f"there is no administrator named {name!r}")
    return user


def authenticate(session: Session, name: str, password: str,
                 policy: SignInPolicy = SignInPolicy()) -> AdminUser:
    """The user if ``password`` is theirs and they are not locked out, else
    :class:`SignInRefused`.  Failures are counted (and committed) per name."""
    user = session.scalar(sa.select(AdminUser).where(AdminUser.name == name)
                          .with_for_update())
    if user is None:
        check_password_hash(_dummy_hash(), password or "")
        session.rollback()
        raise SignInRefused("wrong name or password")
    now = _now()
    if user.locked_until is not None and user.locked_until > now:
        session.rollback()
        raise SignInRefused(_locked_message(user.locked_until - now))
    if not check_password_hash(user.password_hash, password or ""):
        user.failed_sign_ins += 1
        locked = user.failed_sign_ins >= policy.max_failures
        if locked:
            user.locked_until = now + timedelta(seconds=policy.lockout_s)
            user.failed_sign_ins = 0
        session.commit()
        raise SignInRefused(_locked_message(timedelta(seconds=policy.lockout_s))
                            if locked else "wrong name or password")
    user.failed_sign_ins, user.locked_until, user.last_sign_in = 0, None, now
    session.commit()
    return user


def _locked_message(left: timedelta) -> str:
    minutes = max(1, round(left.total_seconds() / 60))
    return (f"too many failed sign-ins: this account is locked for {minutes} more "
            f"minute{'s' if minutes != 1 else ''}")


FIRST_ADMIN = "admin"


def create_first_admin(session: Session) -> str | None:
    """On a platform with no administrator yet, create ``admin`` with a random
    password and return that password (``peek run`` prints it once)."""
    import secrets

    if any_users(session):
        return None
    password = secrets.token_urlsafe(12)
    create_user(session, FIRST_ADMIN, password)
    return password
