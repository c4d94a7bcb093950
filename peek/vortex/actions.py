"""The server's action processors: each action applied exactly once.

An action arrives with an id its device made up.  The processor runs inside
one database transaction that also records the action's answer under that
id, so either both commit or neither does (actions arriving together share
one transaction, each in a savepoint of its own, so that one commit, one disk
flush, covers many):

* a resend of an id already answered gets the recorded answer and the
  processor does not run again (also after a server restart);
* a crash before the commit leaves nothing behind, and the resend applies
  the action for the first time;
* two copies arriving at once: the second one's insert waits for the first
  transaction, finds the id taken, rolls its own work back and answers
  with the first one's answer.

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


@dataclass
class ActionContext:
    """What a processor gets besides the action."""

    #: The id the device gave the action.
    action_id: str
    #: The service the action came through (``client``, or ``server`` for REST on the server).
    via: str
    _connection: sqlalchemy.Connection = field(repr=False)
    _session: Session | None = field(default=None, repr=False)
    _after_commit: list[Callable[[], Any]] = field(default_factory=list, repr=False)

    def after_commit(self, callback: Callable[[], Any]) -> None:
        """Run ``callback`` once the action is committed (``platform.notify``, say),
        never if it rolls back."""
        self._after_commit.append(callback)

    @property
    def session(self) -> Session:
        """A session inside the action's transaction: what it writes commits
        together with the action's answer, or not at all."""
        if self._session is None:
            # Its own savepoint: what it writes stays in the action's transaction.
            self._session = Session(bind=self._connection,
                                    join_transaction_mode="create_savepoint")
        return self._session


Processor = Callable[[Any, ActionContext], Any]

#: Attempts at an action whose transaction the database rolled back.
RETRIES = 3
#: PostgreSQL's "try again" errors: deadlock detected, serialization failure.
_RETRYABLE_CODES = {"40P01", "40001"}


def _retryable(error: BaseException) -> bool:
    return (isinstance(error, sqlalchemy.exc.DBAPIError)
            and getattr(error.orig, "pgcode", None) in _RETRYABLE_CODES)


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

    def _processor(self, tuple_type: str) -> Processor | None:
        entry = self._by_type.get(tuple_type)
        if entry is not None:
            return entry[1]
        return self._defaults.get(tuple_type.split(".", 1)[0])

    def apply_batch(self, batch: list[tuple[Any, msgspec.Raw | bytes, str]]) -> list[str]:
        """Apply actions ``(id, encoded tuple, via)`` in one transaction, each in
        a savepoint of its own (one failing never undoes another), so a
        single commit covers them all; returns their answers, in order."""
        answers: list[str | None] = [None] * len(batch)
        work = []
        for index, (action_id, encoded, via) in enumerate(batch):
            prepared = self._prepare(action_id, encoded)
            if isinstance(prepared, str):
                answers[index] = prepared
            else:
                work.append((index, action_id, via, *prepared))
        if work:
            self._apply_with_retries(work, answers)
        return answers  # type: ignore[return-value]

    def _apply_with_retries(self, work: list[tuple], answers: list[str | None]) -> None:
        """A batch the database rolled back (a deadlock with another batch over
        the same rows, say) is applied again one action at a time; nothing of
        it was committed, so nothing is applied twice."""
        try:
            self._apply_once(work, answers)
            return
        except sqlalchemy.exc.SQLAlchemyError as e:
            error = e
            for index, *_ in work:
                answers[index] = None  # rolled back: not answered yet
        if len(work) > 1 and _retryable(error):
            log.info("%d actions rolled back together (%s); applying them one by one",
                     len(work), type(error.orig).__name__)
            for item in work:
                for attempt in range(RETRIES):
                    try:
                        self._apply_once([item], answers)
                        break
                    except sqlalchemy.exc.SQLAlchemyError as e:
                        error = e
                        answers[item[0]] = None
                        if not _retryable(e):
                            break
        for index, action_id, *_ in work:
            if answers[index] is None:
                log.error("Action %s not recorded: %s", action_id, error)
                answers[index] = answer(action_id, error=(
                    "the server could not record the action (database unavailable); "
                    "resend it with the same id"))

    def _prepare(self, action_id: Any, encoded: msgspec.Raw | bytes
                 ) -> str | tuple[str, Any, Processor]:
        """(type name, action, processor), or the error answer."""
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
        processor = self._processor(name)
        if processor is None:
            return answer(action_id, error=f"no action processor for {name} (is its "
                                           "plugin enabled and started?)")
        return name, action, processor

    def _recorded(self, conn: sqlalchemy.Connection, ids: list[str]) -> dict[str, str]:
        return dict(conn.execute(sqlalchemy.select(_table.c.id, _table.c.answer)
                                 .where(_table.c.id.in_(ids))).all())

    def _record(self, conn: sqlalchemy.Connection, action_id: str, name: str,
                reply: str) -> bool:
        inserted = conn.execute(insert(_table).values(
            id=action_id, tuple_type=name, answer=reply)
            .on_conflict_do_nothing().returning(_table.c.id)).first()
        return inserted is not None

    def _apply_once(self, work: list[tuple], answers: list[str | None]) -> None:
        after_commit: list[tuple[str, Callable[[], Any]]] = []
        with self.engine.connect() as conn, conn.begin():
            recorded = self._recorded(conn, [item[1] for item in work])
            for index, action_id, via, name, action, processor in work:
                if action_id in recorded:
                    log.info("Action %s (%s) was already applied: answered again",
                             action_id, name)
                    answers[index] = recorded[action_id]
                    continue
                savepoint = conn.begin_nested()
                context = ActionContext(action_id, via, conn)
                try:
                    reply = answer(action_id, result=processor(action, context))
                    if context._session is not None:
                        context._session.commit()  # into the action's transaction
                except Exception as e:  # the processor's failure is the action's answer
                    if _retryable(e):
                        raise  # the whole transaction is lost, not just this action
                    savepoint.rollback()
                    savepoint = conn.begin_nested()
                    context._after_commit.clear()
                    log.warning("Action %s (%s) failed: %s: %s", action_id, name,
                                type(e).__name__, e)
                    reply = answer(action_id, error=f"{type(e).__name__}: {e}")
                finally:
                    if context._session is not None:
                        context._session.close()
                if self._record(conn, action_id, name, reply):
                    savepoint.commit()
                    recorded[action_id] = answers[index] = reply
                    after_commit += [(action_id, c) for c in context._after_commit]
                else:  # a copy sent at the same time, in another transaction, won
                    savepoint.rollback()
                    answers[index] = self._recorded(conn, [action_id]).get(action_id, reply)
        for action_id, callback in after_commit:
            try:
                callback()
            except Exception:  # the action stands; its follow-up failed
                log.exception("After-commit step of action %s failed", action_id)

    def prune(self, days: int) -> int:
        """Forget answers older than ``days``; returns how many."""
        cutoff = datetime.now(timezone.utc) - timedelta(days=days)
        with self.engine.begin() as conn:
            result = conn.execute(sqlalchemy.delete(_table).where(_table.c.applied_at < cutoff))
        if result.rowcount:
            log.info("Forgot %d action answers older than %d days", result.rowcount, days)
        return result.rowcount
