"""Device sign-ins on the server: the session table, token issue and
rotation (with replays of rotated tokens revoking the sign-in), revocation,
and the slow-down after repeated failures."""

from __future__ import annotations

import datetime
import math
import threading
import time
from dataclasses import dataclass
from typing import Callable

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ...api import SignInRefused, SignInSlowedDown
from ...tuples import RevokedSessionTuple, UserTuple
from .. import tokens
from ..storage import SignInSession, UsedRefreshToken, _now

KINDS = ("site", "app")
#: Failures in a row that are answered normally; each one after waits a delay.
FREE_FAILURES = 3
MAX_DELAY_S = 300
#: Revoked sign-ins stay published this long after their last access token
#: expired (clocks of services differ a little).
CLOCK_MARGIN_S = 60
#: A rotated refresh token used again within this long is refused without
#: revoking its sign-in: two requests racing with one token (a retry after a
#: lost answer, two client services), not a replay.
REUSE_GRACE_S = 60
#: The admin Sign-ins page lists the sign-ins revoked this many days back.
REVOKED_SHOWN_DAYS = 7
#: Rotated tokens older than the refresh lifetime are purged at most this often.
PURGE_EVERY_S = 600


@dataclass
class _Failures:
    count: int = 0
    #: time.monotonic() before which attempts are refused unchecked.
    until: float = 0.0


class SlowDown:
    """Failed sign-ins in a row, per user name and per device address: after
    FREE_FAILURES, attempts are refused without checking the password until a
    delay has passed, 1 s, then 2, 4 ... up to MAX_DELAY_S.  A success resets
    both.  Kept in the server's memory (a restart forgets them)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._lock = threading.Lock()
        self._failures: dict[str, _Failures] = {}

    @staticmethod
    def keys(name: str, address: str) -> list[str]:
        return [f"name:{(name or '').lower()}", f"address:{address or '?'}"]

    def wait_s(self, keys: list[str]) -> int:
        """Seconds to wait before an attempt is checked (0: go ahead)."""
        now = self._clock()
        with self._lock:
            waits = [f.until - now for k in keys if (f := self._failures.get(k))]
        wait = max(waits, default=0.0)
        return math.ceil(wait) if wait > 0 else 0

    def failed(self, keys: list[str]) -> int:
        """Record a failure; returns the failures in a row (the most of the keys)."""
        now = self._clock()
        with self._lock:
            if len(self._failures) > 100_000:  # forget the long quiet ones
                for key in [k for k, f in self._failures.items()
                            if f.until < now - MAX_DELAY_S]:
                    del self._failures[key]
            counts = []
            for key in keys:
                failures = self._failures.setdefault(key, _Failures())
                failures.count += 1
                if failures.count >= FREE_FAILURES:
                    failures.until = now + min(2 ** (failures.count - FREE_FAILURES),
                                               MAX_DELAY_S)
                counts.append(failures.count)
            return max(counts)

    def succeeded(self, keys: list[str]) -> None:
        with self._lock:
            for key in keys:
                self._failures.pop(key, None)


def _tokens_of(key: bytes, row: SignInSession, user: UserTuple, refresh_token: str,
               access_s: float) -> dict:
    expires = time.time() + access_s
    row.access_expires = datetime.datetime.fromtimestamp(expires, datetime.timezone.utc)
    access = tokens.issue(key, tokens.Claims(
        session=row.id, name=user.name, display_name=user.display_name,
        groups=tuple(user.groups), expires=expires))
    return {"session": row.id, "access_token": access, "expires_in": max(1, round(access_s)),
            "refresh_token": refresh_token,
            "refresh_expires_in": round((row.refresh_expires - _now()).total_seconds()),
            "user": {"name": user.name, "display_name": user.display_name,
                     "groups": list(user.groups)}}


class SignIns:
    """Everything the server does with sign-ins; ``users`` is the UserApi."""

    def __init__(self, platform, users, key: bytes):
        self._platform = platform
        self._users = users
        self._key = key
        self.slow_down = SlowDown()
        self._purged_at = -float(PURGE_EVERY_S)

    @property
    def log(self):
        return self._platform.log

    def _access_s(self) -> float:
        # Whole minutes on the Settings page; a fraction stored otherwise is kept.
        return max(1.0, float(self._platform.settings.get("access_token_minutes")) * 60)

    def _refresh_lifetime(self) -> datetime.timedelta:
        return datetime.timedelta(days=max(1, self._platform.settings.get("refresh_token_days")))

    # -- signing in -------------------------------------------------------------------------
    def sign_in(self, name: str, password: str, kind: str, address: str,
                user_agent: str) -> dict:
        if kind not in KINDS:
            raise ValueError(f"a sign-in is of kind {' or '.join(KINDS)}, not {kind!r}")
        name, address = (name or "")[:200], (address or "")[:100]
        keys = self.slow_down.keys(name, address)
        wait = self.slow_down.wait_s(keys)
        if wait:
            self.log.warning("Sign-in of %r from %s refused unchecked: too many failures; "
                             "%d s to wait", name, address, wait)
            raise SignInSlowedDown(wait)
        user = self._users.check_password(name, password or "")
        if user is None:
            count = self.slow_down.failed(keys)
            self.log.warning("Failed sign-in of %r from %s (%s); %d failures in a row",
                             name, address, kind, count)
            raise SignInRefused("wrong name or password")
        self.slow_down.succeeded(keys)
        refresh_token = tokens.new_refresh_token()
        with self._platform.db_session() as session:
            row = SignInSession(id=tokens.new_session_id(), user_name=user.name, kind=kind,
                                created=_now(), last_used=_now(),
                                refresh_expires=_now() + self._refresh_lifetime(),
                                refresh_hash=tokens.digest(refresh_token),
                                address=address, user_agent=(user_agent or "")[:500])
            answer = _tokens_of(self._key, row, user, refresh_token, self._access_s())
            session.add(row)
            session.commit()
        self.log.info("User %s signed in from %s (%s sign-in %s)", user.name, address, kind,
                      answer["session"])
        return answer

    def refresh(self, refresh_token: str, address: str, user_agent: str) -> dict:
        refused = SignInRefused("the refresh token is not valid (unknown, expired, revoked "
                                "or already used)")
        if not refresh_token or not isinstance(refresh_token, str):
            raise refused
        digest = tokens.digest(refresh_token)
        with self._platform.db_session() as session:
            row = session.scalar(sa.select(SignInSession).where(
                SignInSession.refresh_hash == digest).with_for_update())
            if row is None:
                self._refused_unknown(session, digest, address)
                raise refused
            if row.revoked_at is not None or row.refresh_expires <= _now():
                self.log.warning("Refused a refresh from %s: sign-in %s of %s %s", address,
                                 row.id, row.user_name,
                                 "revoked" if row.revoked_at else "expired")
                raise refused
            user = self._users.find_user(row.user_name)
            if user is None or not user.enabled:
                row.revoked_at, row.revoked_by = _now(), "user disabled"
                session.commit()
                self.log.warning("Refused a refresh of %s's sign-in %s: the user is %s",
                                 row.user_name, row.id, "gone" if user is None else "disabled")
                self._notify()
                raise refused
            new_token = tokens.new_refresh_token()
            session.add(UsedRefreshToken(refresh_hash=digest, session_id=row.id,
                                         used_at=_now()))
            row.refresh_hash = tokens.digest(new_token)
            row.refresh_expires = _now() + self._refresh_lifetime()
            row.last_used = _now()
            if address:
                row.address = address[:100]
            if user_agent:
                row.user_agent = user_agent[:500]
            answer = _tokens_of(self._key, row, user, new_token, self._access_s())
            self._purge_used(session, row.id)
            session.commit()
        return answer

    def _refused_unknown(self, session: Session, digest: str, address: str) -> None:
        """A refresh token that is not a sign-in's current one.  If it was
        rotated away more than REUSE_GRACE_S ago, whoever holds it now is
        replaying it (or the holder of the current one got it by a replay):
        the sign-in is revoked, cutting both off."""
        used = session.execute(
            sa.select(UsedRefreshToken.used_at, SignInSession).join(
                SignInSession, SignInSession.id == UsedRefreshToken.session_id)
            .where(UsedRefreshToken.refresh_hash == digest)
            .with_for_update(of=SignInSession)).first()
        if used is None:
            self.log.warning("Refused a refresh from %s: unknown token", address)
            return
        used_at, row = used
        after_s = (_now() - used_at).total_seconds()
        if row.revoked_at is not None or row.refresh_expires <= _now():
            self.log.warning("Refused a refresh from %s: a used token of sign-in %s of %s, "
                             "%s", address, row.id, row.user_name,
                             "revoked" if row.revoked_at else "expired")
        elif after_s < REUSE_GRACE_S:
            self.log.warning("Refused a refresh from %s: the token of sign-in %s of %s was "
                             "rotated %.1f s ago (a race or a retry: the sign-in stays)",
                             address, row.id, row.user_name, after_s)
        else:
            row.revoked_at, row.revoked_by = _now(), "refresh token used again"
            session.commit()
            self.log.warning("Revoked sign-in %s of %s: a refresh token rotated %.0f s ago "
                             "was used again, from %s (stolen or copied?)", row.id,
                             row.user_name, after_s, address)
            self._notify()

    def _purge_used(self, session: Session, session_id: str) -> None:
        """Forget rotated tokens older than the refresh lifetime (expired
        anyway): this sign-in's at each rotation, every sign-in's at most
        every PURGE_EVERY_S."""
        now = time.monotonic()
        every = now >= self._purged_at + PURGE_EVERY_S
        if every:
            self._purged_at = now
        old = UsedRefreshToken.used_at < _now() - self._refresh_lifetime()
        done = session.execute(sa.delete(UsedRefreshToken).where(
            old if every else sa.and_(old, UsedRefreshToken.session_id == session_id))).rowcount
        if done and every:
            self.log.info("Forgot %d refresh tokens rotated longer ago than they live", done)

    # -- revoking ---------------------------------------------------------------------------
    def _notify(self) -> None:
        self._platform.notify(RevokedSessionTuple)

    def revoke(self, session_id: str, by: str) -> bool:
        with self._platform.db_session() as session:
            done = session.execute(sa.update(SignInSession).where(
                SignInSession.id == session_id, SignInSession.revoked_at.is_(None)).values(
                revoked_at=_now(), revoked_by=by[:200])).rowcount
            session.commit()
        if done:
            self.log.info("Sign-in %s revoked by %s", session_id, by)
            self._notify()
        return bool(done)

    def revoke_user(self, name: str, by: str) -> int:
        """Revoke every live sign-in of user ``name``; how many."""
        with self._platform.db_session() as session:
            done = session.execute(sa.update(SignInSession).where(
                sa.func.lower(SignInSession.user_name) == name.lower(),
                SignInSession.revoked_at.is_(None)).values(
                revoked_at=_now(), revoked_by=by[:200])).rowcount
            session.commit()
        if done:
            self.log.info("%d sign-ins of %s revoked by %s", done, name, by)
            self._notify()
        return done

    def live(self, session: Session) -> list[SignInSession]:
        return list(session.scalars(sa.select(SignInSession).where(
            SignInSession.revoked_at.is_(None), SignInSession.refresh_expires > _now())
            .order_by(sa.func.lower(SignInSession.user_name),
                      SignInSession.last_used.desc())))

    def revoked_since(self, session: Session, days: int = REVOKED_SHOWN_DAYS,
                      limit: int = 200) -> list[SignInSession]:
        """The sign-ins revoked in the last ``days``, the latest first (the
        admin Sign-ins page says who or what revoked each)."""
        since = _now() - datetime.timedelta(days=days)
        return list(session.scalars(sa.select(SignInSession).where(
            SignInSession.revoked_at > since).order_by(SignInSession.revoked_at.desc())
            .limit(limit)))

    def revoked_recently(self, selector=None) -> list[RevokedSessionTuple]:
        """The provider of RevokedSessionTuple: sign-ins revoked whose access
        tokens may not have expired yet."""
        since = _now() - datetime.timedelta(seconds=CLOCK_MARGIN_S)
        with self._platform.db_session() as session:
            rows = session.execute(sa.select(SignInSession.id, SignInSession.revoked_at).where(
                SignInSession.revoked_at.is_not(None), SignInSession.access_expires > since)
                .order_by(SignInSession.revoked_at)).all()
        return [RevokedSessionTuple(session=i, revoked_at=at) for i, at in rows]
