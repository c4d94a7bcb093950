"""peek_core_user's tables, in its own schema (core_user): the built-in
"table" user directory, and the device sign-ins."""

import datetime

from sqlalchemy import (Boolean, CheckConstraint, DateTime, ForeignKey, Index, Integer,
                        MetaData, String, func)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


class Base(DeclarativeBase):
    metadata = MetaData(schema="core_user")


class UserGroupMember(Base):
    """Which user is in which group."""
    __tablename__ = "user_group_member"

    user_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("core_user.user_account.id", ondelete="CASCADE"), primary_key=True)
    group_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("core_user.user_group.id", ondelete="CASCADE"), primary_key=True)


class UserGroup(Base):
    __tablename__ = "user_group"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)


class UserAccount(Base):
    """One user. ``name`` is what they sign in with, unique without regard to
    case; ``password_hash`` is werkzeug's scrypt hash, never the password."""
    __tablename__ = "user_account"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    display_name: Mapped[str] = mapped_column(String(200), default="")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    created: Mapped[datetime.datetime] = mapped_column(DateTime(timezone=True), default=_now)
    updated: Mapped[datetime.datetime] = mapped_column(DateTime(timezone=True), default=_now,
                                                       onupdate=_now)

    groups: Mapped[list[UserGroup]] = relationship(
        secondary=UserGroupMember.__table__, order_by=UserGroup.name, lazy="selectin")


Index("user_account_name_key", func.lower(UserAccount.name), unique=True)


class SignInSession(Base):
    """One device sign-in: a browser (``site``) or a native app (``app``).

    ``id`` is random and opaque (access tokens carry it); ``refresh_hash`` is
    the sha256 of its current refresh token, never the token.  A revoked one
    keeps its row (``revoked_at``, ``revoked_by``)."""
    __tablename__ = "sign_in_session"
    __table_args__ = (CheckConstraint("kind IN ('site', 'app')", name="sign_in_session_kind"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(10))
    created: Mapped[datetime.datetime] = mapped_column(DateTime(timezone=True), default=_now)
    last_used: Mapped[datetime.datetime] = mapped_column(DateTime(timezone=True), default=_now)
    refresh_expires: Mapped[datetime.datetime] = mapped_column(DateTime(timezone=True))
    refresh_hash: Mapped[str] = mapped_column(String(64))
    #: When the last access token issued for it expires (revoked sign-ins are
    #: published to the client services until then).
    access_expires: Mapped[datetime.datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime.datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_by: Mapped[str | None] = mapped_column(String(200))
    address: Mapped[str] = mapped_column(String(100), default="")
    user_agent: Mapped[str] = mapped_column(String(500), default="")


Index("sign_in_session_refresh_key", SignInSession.refresh_hash, unique=True)
Index("sign_in_session_user", func.lower(SignInSession.user_name))
Index("sign_in_session_revoked", SignInSession.revoked_at)


class UsedRefreshToken(Base):
    """The sha256 of a refresh token already rotated away, kept so that its
    use again is seen as a replay (docs/core_user.md, "Tokens").  Rows older
    than the refresh lifetime are purged: such a token has expired anyway."""
    __tablename__ = "sign_in_used_refresh"

    refresh_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    session_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("core_user.sign_in_session.id", ondelete="CASCADE"))
    used_at: Mapped[datetime.datetime] = mapped_column(DateTime(timezone=True), default=_now)


Index("sign_in_used_refresh_used_at", UsedRefreshToken.used_at)
Index("sign_in_used_refresh_session", UsedRefreshToken.session_id)
