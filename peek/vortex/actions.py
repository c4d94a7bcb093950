"""The server's action processors: each action applied exactly once.

An action arrives with an id its device made up.  The processor runs inside
one database transaction that also records the action's answer under that
id, so either both commit or neither does (the actions of one plugin that
arrive together share one transaction, so that one commit, one disk flush,
covers many; see ``ActionProcessors.apply``):

* a resend of an id already answered gets the recorded answer and the
  processor does not run again (also after a server restart);
* a crash before the commit leaves nothing behind, and the resend applies
  the action for the first time;
* two copies arriving at once: the second one's insert waits for the first
  transaction, finds the id taken, and its batch is rolled back and applied
  again, answering the copy with the first one's answer.

Database writes a processor wants covered by this must use ``ctx.session``.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

import msgspec
import sqlalchemy
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from peek.models.vortex_action import VortexAction
from peek.vortex import tuples
from peek.vortex.frames import frame

log = logging.getLogger(__name__)

ID_PATTERN = re.compile(r"^[A-Za-z0-9_.:-]{8,100}$")
_table = VortexAction.__table__
_RECORD = insert(_table).on_conflict_do_nothing().returning(_table.c.id)


@dataclass
class ActionContext:
    """What a processor gets besides the action."""

    #: The id the device gave the action.
    action_id: str
    #: The service the action came through (``client``, or ``server`` for REST on the server).
    via: str
    _open_session: Callable[[], Session] = field(repr=False)
    _session: Session | None = field(default=None, repr=False)
    _after_commit: list[Callable[[], Any]] = field(default_factory=list, repr=False)
    #: The name of the user signed in on the device that sent it (None when
    #: no sign-in plugin is enabled); a processor may refuse on it.
    user: str | None = None

    def after_commit(self, callback: Callable[[], Any]) -> None:
        """Run ``callback`` once the action is committed (``platform.notify``, say),
        never if it rolls back."""
        self._after_commit.append(callback)

    @property
    def session(self) -> Session:
        """A session inside the action's transaction: what it writes commits
        together with the action's answer, or not at all."""
        if self._session is None:
            self._session = self._open_session()
        return self._session


Processor = Callable[[Any, ActionContext], Any]

#: Attempts at a batch whose transaction the database rolled back.
RETRIES = 3
#: PostgreSQL's "try again" errors: deadlock detected, serialization failure.
_RETRYABLE_CODES = {"40P01", "40001"}


def _retryable(error: BaseException) -> bool:
    return (isinstance(error, sqlalchemy.exc.DBAPIError)
            and getattr(error.orig, "pgcode", None) in _RETRYABLE_CODES)


@dataclass
class PreparedAction:
    """An action decoded and routed, waiting in its plugin's lane."""

    action_id: str
    via: str
    name: str
    owner: str
    action: Any
    processor: Processor
    user: str | None = None


class _ProcessorFailed(Exception):
    """A processor failed on the fast path: apply the batch again, isolated."""


class _RecordedMeanwhile(Exception):
    """Another transaction recorded a copy of an action of this batch."""


def answer(action_id: str, result: Any = None, error: str | None = None) -> str:
    if error is not None:
        return frame("result", id=action_id, error=error)
    return frame("result", id=action_id, result=msgspec.Raw(tuples.encode(result)))


class ActionProcessors:
    def __init__(self, engine: sqlalchemy.Engine):
        self.engine = engine
        self._by_type: dict[str, tuple[str, Processor]] = {}
        self._defaults: dict[str, Processor] = {}  # plugin package -> processor
        self._lock = threading.Lock()

    def add(self, owner: str, processor: Processor, tuple_type: str | None = None) -> None:
        """Route actions of ``tuple_type`` to ``processor``; without a type,
        every action of the plugin ``owner`` that has no processor of its own."""
        with self._lock:
            if tuple_type is None:
                self._defaults[owner] = processor
                return
            taken = self._by_type.get(tuple_type)
            if taken and taken[0] != owner:
                raise ValueError(f"actions of {tuple_type} already go to {taken[0]}")
            self._by_type[tuple_type] = (owner, processor)

    def remove(self, owner: str) -> None:
        with self._lock:
            self._defaults.pop(owner, None)
            for name in [n for n, (o, _) in self._by_type.items() if o == owner]:
                del self._by_type[name]

    def _processor(self, tuple_type: str) -> tuple[str, Processor] | None:
        entry = self._by_type.get(tuple_type)
        if entry is not None:
            return entry
        owner = tuple_type.split(".", 1)[0]
        processor = self._defaults.get(owner)
        return None if processor is None else (owner, processor)

    def prepare(self, action_id: Any, encoded: msgspec.Raw | bytes,
                via: str, user: str | None = None) -> PreparedAction | str:
        """The action ready to apply, or the error answer it gets at once."""
        if not isinstance(action_id, str) or not ID_PATTERN.match(action_id):
            return frame("result", id=action_id if isinstance(action_id, str) else None,
                         error="an action needs an id of 8 to 100 letters, digits or "
                               "'_.:-' (a UUID, say), the same for every resend")
        try:
            if not encoded:
                raise tuples.TupleError("an action frame needs a tuple")
            action = tuples.decode(encoded)
            if isinstance(action, list):
                raise tuples.TupleError("an action is one tuple, not a list")
        except tuples.TupleError as e:
            return answer(action_id, error=f"bad action: {e}")
        name = type(action).__struct_config__.tag if isinstance(action, tuples.Tuple) \
            else action.__tuple_type__.__struct_config__.tag
        entry = self._processor(name)
        if entry is None:
            return answer(action_id, error=f"no action processor for {name} (is its "
                                           "plugin enabled and started?)")
        return PreparedAction(action_id, via, name, entry[0], action, entry[1], user)

    def apply(self, work: list[PreparedAction]) -> list[str]:
        """Apply actions in one transaction, so one commit covers them all, and
        return their answers in order.

        First all together, with no savepoints (the fast path).  If a
        processor fails, everything is rolled back and the batch applied again
        with a savepoint for each action, so the failure undoes only its own
        action.  A batch the database rolled back (a deadlock, a copy of an
        action recorded meanwhile by another transaction) is applied again;
        nothing of it was committed, so nothing is applied twice."""
        answers: dict[int, str] = {}
        isolated, error = False, None
        for _ in range(RETRIES + 1):
            answers.clear()
            try:
                self._apply(work, answers, isolated)
                return [answers[i] for i in range(len(work))]
            except _ProcessorFailed:
                isolated = True
            except _RecordedMeanwhile:
                log.info("Copies of %d actions were recorded meanwhile; applying again",
                         len(work))
            except sqlalchemy.exc.SQLAlchemyError as e:
                error = e
                if not _retryable(e):
                    break
                log.info("%d actions rolled back together (%s); applying them again",
                         len(work), type(e.orig).__name__)
        log.error("%d actions not recorded: %s", len(work), error)
        return [answer(item.action_id, error=(
            "the server could not record the action (database unavailable); "
            "resend it with the same id")) for item in work]

    def _recorded(self, conn: sqlalchemy.Connection, ids: list[str]) -> dict[str, str]:
        return dict(conn.execute(sqlalchemy.select(_table.c.id, _table.c.answer)
                                 .where(_table.c.id.in_(ids))).all())

    def _apply(self, work: list[PreparedAction], answers: dict[int, str],
               isolated: bool) -> None:
        after_commit: list[tuple[str, Callable[[], Any]]] = []
        records: list[dict[str, str]] = []
        with self.engine.connect() as conn, conn.begin() as transaction:
            recorded = self._recorded(conn, [item.action_id for item in work])
            shared: list[Session] = []  # the fast path's one session, once opened

            def open_shared() -> Session:
                if not shared:
                    shared.append(Session(bind=conn, join_transaction_mode="rollback_only"))
                return shared[0]
            try:
                for index, item in enumerate(work):
                    if item.action_id in recorded:
                        log.info("Action %s (%s) was already applied: answered again",
                                 item.action_id, item.name)
                        answers[index] = recorded[item.action_id]
                        continue
                    if isolated:
                        reply, callbacks = self._run_in_savepoint(conn, item)
                    else:
                        reply, callbacks = self._run(item, open_shared, transaction)
                    records.append({"id": item.action_id, "tuple_type": item.name,
                                    "answer": reply})
                    recorded[item.action_id] = answers[index] = reply
                    after_commit += [(item.action_id, c) for c in callbacks]
            finally:
                for session in shared:
                    session.close()
            if records:
                inserted = conn.execute(_RECORD, records).all()
                if len(inserted) < len(records):
                    raise _RecordedMeanwhile()
        for action_id, callback in after_commit:
            try:
                callback()
            except Exception:  # the action stands; its follow-up failed
                log.exception("After-commit step of action %s failed", action_id)

    @staticmethod
    def _run(item: PreparedAction, open_session: Callable[[], Session],
             transaction: sqlalchemy.RootTransaction) -> tuple[str, list]:
        context = ActionContext(item.action_id, item.via, open_session, user=item.user)
        try:
            reply = answer(item.action_id, result=item.processor(item.action, context))
            if context._session is not None:
                context._session.flush()
        except Exception as e:
            if _retryable(e):
                raise  # the whole transaction is lost, not just this action
            raise _ProcessorFailed() from e
        if not transaction.is_active:  # the processor rolled its session back
            raise _ProcessorFailed()
        return reply, context._after_commit

    @staticmethod
    def _run_in_savepoint(conn: sqlalchemy.Connection,
                          item: PreparedAction) -> tuple[str, list]:
        savepoint = conn.begin_nested()
        context = ActionContext(item.action_id, item.via, lambda: Session(
            bind=conn, join_transaction_mode="create_savepoint"), user=item.user)
        try:
            reply = answer(item.action_id, result=item.processor(item.action, context))
            if context._session is not None:
                context._session.commit()  # into the action's savepoint
            savepoint.commit()
            return reply, context._after_commit
        except Exception as e:  # the processor's failure is the action's answer
            if _retryable(e):
                raise
            if context._session is not None:
                # Its own savepoint, inside the action's: released before that
                # one is rolled back, which would take it along unannounced.
                context._session.close()
                context._session = None
            savepoint.rollback()
            log.warning("Action %s (%s) failed: %s: %s", item.action_id, item.name,
                        type(e).__name__, e)
            return answer(item.action_id, error=f"{type(e).__name__}: {e}"), []
        finally:
            if context._session is not None:
                context._session.close()

    def prune(self, days: int) -> int:
        """Forget answers older than ``days``; returns how many."""
        cutoff = datetime.now(timezone.utc) - timedelta(days=days)
        with self.engine.begin() as conn:
            result = conn.execute(sqlalchemy.delete(_table).where(_table.c.applied_at < cutoff))
        if result.rowcount:
            log.info("Forgot %d action answers older than %d days", result.rowcount, days)
        return result.rowcount
