"""The server's action processors: each action applied exactly once.

An action arrives with an id its device made up.  The processor runs inside
one database transaction that also records the action's answer under that
id, so either both commit or neither does (the actions of one plugin that
arrive together share one transaction, so that one commit, one disk flush,
covers many; see ``ActionProcessors.apply``):

* a resend of an id already answered gets the recorded answer and the
  processor does not run again (also after a server restart); a resend by
  another user than the one who sent it gets an error instead (the answer
  is the sender's; one recorded with no user, without sign-in or before
  the platform schema's revision 0004, is anyone's);
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
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

import msgspec
import sqlalchemy
from sqlalchemy.orm import Session

from peek.models.vortex_action import VortexAction
from peek.vortex import tuples
from peek.vortex.frames import NO_PROCESSOR, RETRY, answers_to, frame, id_taken, result_frame

log = logging.getLogger(__name__)

ID_PATTERN = re.compile(r"^[A-Za-z0-9_.:-]{8,100}$")
_table = VortexAction.__table__
# The bookkeeping of every batch, as plain SQL (psycopg2 parameters, arrays
# for the ids) run on the driver's cursor: no statement to compile and no
# result objects, and two round trips whatever the batch's size: the
# transaction begins with the look-up of the ids already answered and commits
# with the insert of the new answers (a copy recorded meanwhile by another
# transaction fails it, as a unique violation).  ``{table}`` is the quoted
# name of peek.vortex_action.
_BEGIN_SQL = "BEGIN; SELECT id, answer, user_name FROM {table} WHERE id = ANY(%(ids)s)"
_COMMIT_SQL = ("INSERT INTO {table} (id, tuple_type, answer, user_name) SELECT * FROM "
               "unnest(%(ids)s::varchar[], %(types)s::varchar[], %(answers)s::text[], "
               "%(users)s::text[]); COMMIT")
_UNIQUE_VIOLATION = "23505"
_TRANSACTION_IDLE = 0  # libpq's PQTRANS_IDLE (psycopg2's TRANSACTION_STATUS_IDLE)
#: A connection that applied a batch less than this long ago applies the next
#: one as it is; an older one goes back to the pool, and the pool checks a
#: connection (pre-ping) before handing it out.  Up to ``_WARM_MAX`` are kept.
WARM_S = 1.0
_WARM_MAX = 8


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
    """A "try again" from the database, or a connection that broke (a kept
    one, say, after the database restarted): the whole transaction is lost,
    and applying the batch again, on another connection, may succeed."""
    if isinstance(error, sqlalchemy.exc.DBAPIError):
        return (error.connection_invalidated
                or getattr(error.orig, "pgcode", None) in _RETRYABLE_CODES)
    # What a processor runs on the driver's own cursor (ctx.session.connection()
    # .connection) raises the driver's errors, unwrapped.
    return getattr(error, "pgcode", None) in _RETRYABLE_CODES


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


def answer(action_id: str, result: Any = None, error: str | None = None,
           state: str | None = None) -> str:
    if error is not None:
        return frame("result", id=action_id, error=error, state=state)
    return result_frame(action_id, tuples.encode(result))


class ActionProcessors:
    def __init__(self, engine: sqlalchemy.Engine):
        self.engine = engine
        self._by_type: dict[str, tuple[str, Processor]] = {}
        self._defaults: dict[str, Processor] = {}  # plugin package -> processor
        # type name or "<plugin>.*" -> (plugin, whether devices may send it)
        self._device_access: dict[str, tuple[str, bool]] = {}
        self._lock = threading.Lock()
        table = engine.dialect.identifier_preparer.format_table(_table)
        self._begin_sql = _BEGIN_SQL.format(table=table)
        self._commit_sql = _COMMIT_SQL.format(table=table)
        # Connections that applied a batch lately, the latest last, with when.
        self._warm: deque[tuple[sqlalchemy.Connection, float]] = deque()
        self._warm_lock = threading.Lock()

    def add(self, owner: str, processor: Processor, tuple_type: str | None = None,
            devices: bool = False) -> None:
        """Route actions of ``tuple_type`` to ``processor``; without a type,
        every action of the plugin ``owner`` that has no processor of its own.
        ``devices``: devices may send them (else only the plugins' own code)."""
        with self._lock:
            if tuple_type is None:
                self._defaults[owner] = processor
            else:
                taken = self._by_type.get(tuple_type)
                if taken and taken[0] != owner:
                    raise ValueError(f"actions of {tuple_type} already go to {taken[0]}")
                self._by_type[tuple_type] = (owner, processor)
            key = f"{owner}.*" if tuple_type is None else tuple_type
            self._device_access[key] = (owner, devices)

    def remove(self, owner: str) -> None:
        with self._lock:
            self._defaults.pop(owner, None)
            for name in [n for n, (o, _) in self._by_type.items() if o == owner]:
                del self._by_type[name]
            for key in [k for k, (o, _) in self._device_access.items() if o == owner]:
                del self._device_access[key]

    def device_access(self) -> tuple[list[str], list[str]]:
        """The action types devices may send, and those they may not: type
        names, and ``<plugin>.*`` for a plugin's default processor."""
        with self._lock:
            return (sorted(k for k, (_, d) in self._device_access.items() if d),
                    sorted(k for k, (_, d) in self._device_access.items() if not d))

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
        except tuples.UnknownTupleType as e:
            return answer(action_id, error=f"bad action: {e}", state=NO_PROCESSOR)
        except tuples.TupleError as e:
            return answer(action_id, error=f"bad action: {e}")
        name = type(action).__struct_config__.tag if isinstance(action, tuples.Tuple) \
            else action.__tuple_type__.__struct_config__.tag
        entry = self._processor(name)
        if entry is None:
            # The type is known, so its plugin is here: stopped, starting or
            # being upgraded.  The action can still be applied: resend it.
            return answer(action_id, error=f"no action processor for {name} right now (is "
                                           "its plugin enabled and started?)", state=RETRY)
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
            except Exception as e:
                retry = _retryable(e)
                if not (retry or isinstance(e, sqlalchemy.exc.SQLAlchemyError)):
                    raise
                error = e
                if not retry:
                    break
                log.info("%d actions rolled back together (%s); applying them again",
                         len(work), type(getattr(e, "orig", e)).__name__)
        log.error("%d actions not recorded: %s", len(work), error)
        return [answer(item.action_id, state=RETRY, error=(
            "the server could not record the action (database unavailable); "
            "resend it with the same id")) for item in work]

    def _begin(self, conn: sqlalchemy.Connection,
               ids: list[str]) -> dict[str, tuple[str, str | None]]:
        """Begin the batch's transaction; the answers already recorded of
        ``ids``, with the user who sent each."""
        with self._execute(conn, self._begin_sql, {"ids": ids}) as cursor:
            return {id_: (reply, user) for id_, reply, user in cursor.fetchall()}

    def _commit(self, conn: sqlalchemy.Connection, ids: list[str], types: list[str],
                replies: list[str], users: list[str | None]) -> None:
        """Record the answers and commit."""
        if not ids:
            self._execute(conn, "COMMIT", None).close()
            return
        try:
            self._execute(conn, self._commit_sql, {
                "ids": ids, "types": types, "answers": replies, "users": users}).close()
        except sqlalchemy.exc.DBAPIError as e:
            if getattr(e.orig, "pgcode", None) == _UNIQUE_VIOLATION:
                raise _RecordedMeanwhile() from e
            raise

    def _rollback(self, conn: sqlalchemy.Connection) -> None:
        """End what is left of the batch's transaction (see _checkout)."""
        if conn.invalidated or conn.closed or self._idle(conn):
            return
        try:
            self._execute(conn, "ROLLBACK", None).close()
        except sqlalchemy.exc.DBAPIError:
            if not conn.invalidated:  # in no state to apply another batch
                conn.invalidate()

    @staticmethod
    def _idle(conn: sqlalchemy.Connection) -> bool:
        """Whether the database connection is in no transaction (libpq's own word)."""
        driver = conn.connection.driver_connection
        return driver.info.transaction_status == _TRANSACTION_IDLE

    def _execute(self, conn: sqlalchemy.Connection, statement: str,
                 params: dict[str, Any]) -> Any:
        """The driver's cursor on ``conn``, having run ``statement``.  A
        failure is raised as SQLAlchemy raises it (a DBAPIError, the
        connection invalidated if it broke), as exec_driver_sql would."""
        connection = conn.connection
        cursor = connection.cursor()
        try:
            cursor.execute(statement, params)
        except Exception as e:
            driver_error = self.engine.dialect.loaded_dbapi.Error
            if not isinstance(e, driver_error):
                cursor.close()
                raise
            lost = self.engine.dialect.is_disconnect(e, connection, cursor)
            cursor.close()
            if lost:
                conn.invalidate(e)
            raise sqlalchemy.exc.DBAPIError.instance(
                statement, params, e, driver_error, connection_invalidated=lost) from e
        return cursor

    def _checkout(self) -> sqlalchemy.Connection:
        """The connection to apply a batch on: the one that applied one last,
        if that was lately; otherwise one from the pool."""
        now, stale = time.monotonic(), []
        with self._warm_lock:
            while self._warm:
                conn, used = self._warm.pop()
                if now - used < WARM_S:
                    break
                stale.append(conn)
            else:
                conn = None
            if conn is not None:  # the rest, used before it, may have gone stale
                while self._warm and now - self._warm[0][1] >= WARM_S:
                    stale.append(self._warm.popleft()[0])
        for old in stale:
            old.close()
        if conn is None:
            # The driver in autocommit mode: it sends no BEGIN of its own before
            # a batch's first statement (a round trip), and nothing on commit or
            # rollback; the batch begins and ends its transaction itself, in
            # its first and last statements.  SQLAlchemy's transaction on it is
            # bookkeeping (savepoints and the processors' sessions nest in it),
            # and the pool resets the mode when it gets the connection back.
            conn = self.engine.connect()
            conn.execution_options(isolation_level="AUTOCOMMIT")
        return conn

    def _checkin(self, conn: sqlalchemy.Connection) -> None:
        if not (conn.closed or conn.invalidated or conn.in_transaction()
                or not self._idle(conn)):
            with self._warm_lock:
                if len(self._warm) < _WARM_MAX:
                    self._warm.append((conn, time.monotonic()))
                    return
        conn.close()

    def release(self) -> None:
        """Give the connections kept for the next batches back to the pool."""
        with self._warm_lock:
            kept, self._warm = [c for c, _ in self._warm], deque()
        for conn in kept:
            conn.close()

    def _apply(self, work: list[PreparedAction], answers: dict[int, str],
               isolated: bool) -> None:
        after_commit: list[tuple[str, Callable[[], Any]]] = []
        ids: list[str] = []
        types: list[str] = []
        replies: list[str] = []
        users: list[str | None] = []
        conn = self._checkout()
        try:
            with conn.begin() as transaction:  # SQLAlchemy's; the database's: _begin
                recorded = self._begin(conn, [item.action_id for item in work])
                shared: list[Session] = []  # the fast path's one session, once opened

                def open_shared() -> Session:
                    if not shared:
                        shared.append(Session(bind=conn,
                                              join_transaction_mode="rollback_only"))
                    return shared[0]
                try:
                    for index, item in enumerate(work):
                        if item.action_id in recorded:
                            reply, sender = recorded[item.action_id]
                            if not answers_to(sender, item.user):
                                log.warning("Action %s (%s) of user %s has the id of an "
                                            "action of user %s: refused", item.action_id,
                                            item.name, item.user, sender)
                                answers[index] = id_taken(item.action_id)
                            else:
                                log.info("Action %s (%s) was already applied: answered "
                                         "again", item.action_id, item.name)
                                answers[index] = reply
                            continue
                        if isolated:
                            reply, callbacks = self._run_in_savepoint(conn, item)
                        else:
                            reply, callbacks = self._run(item, open_shared, transaction)
                        ids.append(item.action_id)
                        types.append(item.name)
                        replies.append(reply)
                        users.append(item.user)
                        recorded[item.action_id] = (reply, item.user)
                        answers[index] = reply
                        if callbacks:
                            after_commit += [(item.action_id, c) for c in callbacks]
                finally:
                    for session in shared:
                        session.close()
                self._commit(conn, ids, types, replies, users)
        except sqlalchemy.exc.DBAPIError as e:
            if e.connection_invalidated:  # the database went away: so did the rest
                self.release()
            raise
        finally:
            self._rollback(conn)  # unless committed
            self._checkin(conn)
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
