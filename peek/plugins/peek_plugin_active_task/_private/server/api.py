"""The implementation of the published API (../../api.py), and the queries
the server hook shares with it."""

from __future__ import annotations

import datetime
import re
from typing import Any, Callable, Iterable
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ...api import ActiveTaskApi, NewTask, TaskNotFound
from ...tuples import NOTIFY_FLAGS, AutoDelete, TaskTuple
from ..storage import Task, now

CORE_USER = "peek_core_user"
#: What update_task may change, and the NewTask fields add_task checks.
CHANGEABLE = ("user_name", "title", "description", "route", "auto_delete", "auto_delete_at",
              "notify")
_CONTROL = re.compile(r"[\x00-\x20\x7f\\]")


def as_tuple(row: Task) -> TaskTuple:
    return TaskTuple(
        id=row.id, plugin_name=row.plugin_name, key=row.task_key, user=row.user_name,
        title=row.title, description=row.description, route=row.route,
        auto_delete=AutoDelete(row.auto_delete), auto_delete_at=row.auto_delete_at,
        notify=[name for bit, name in zip((1, 2, 4), NOTIFY_FLAGS) if row.notify & bit],
        created=row.created, updated=row.updated, read_at=row.read_at, done_at=row.done_at)


def _text(name: str, value: Any, limit: int, needed: bool = True) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a string, not {type(value).__name__}")
    value = value.strip()
    if needed and not value:
        raise ValueError(f"a task needs a {name.replace('_', ' ')}")
    if len(value) > limit:
        raise ValueError(f"{name} is {len(value)} characters long: at most {limit}")
    return value


def check_route(route: Any) -> str | None:
    """A local path (``/peek_plugin_example/jobs/42?tab=1``), or None."""
    if route is None or route == "":
        return None
    if not isinstance(route, str):
        raise ValueError(f"route must be a string, not {type(route).__name__}")
    parts = urlsplit(route)
    if (not route.startswith("/") or route.startswith("//") or parts.scheme or parts.netloc
            or _CONTROL.search(route)):
        raise ValueError(f"route {route!r} is not a local path: give one starting with a "
                         "single / and without spaces, such as /peek_plugin_example/")
    if len(route) > 500:
        raise ValueError(f"route is {len(route)} characters long: at most 500")
    return route


def check_auto_delete(mode: Any, at: Any) -> tuple[AutoDelete, datetime.datetime | None]:
    try:
        mode = AutoDelete(mode)
    except ValueError:
        raise ValueError(f"auto_delete {mode!r} is not one of "
                         f"{', '.join(m.value for m in AutoDelete)}") from None
    if mode is AutoDelete.AT_TIME:
        if not isinstance(at, datetime.datetime):
            raise ValueError("auto_delete at_time needs auto_delete_at, a datetime")
        if at.tzinfo is None or at.utcoffset() is None:
            raise ValueError("auto_delete_at needs a time zone "
                             "(datetime.datetime.now(datetime.timezone.utc), say)")
        return mode, at
    if at is not None:
        raise ValueError(f"auto_delete_at is for auto_delete at_time, not {mode.value}")
    return mode, None


def check_notify(notify: Any) -> int:
    if isinstance(notify, bool) or not isinstance(notify, int) or not 0 <= notify <= 7:
        raise ValueError(f"notify {notify!r} is not NotifyBy flags "
                         "(NotifyBy.BADGE | NotifyBy.SOUND | NotifyBy.POPUP)")
    return int(notify)


class ActiveTaskApiImpl(ActiveTaskApi):
    def __init__(self, platform, changed: Callable[[Iterable[str]], None]):
        self._platform = platform
        #: Called with the names of the users whose tasks changed, after the commit.
        self._changed = changed

    # Checks ---------------------------------------------------------------

    def _user(self, name: Any) -> str:
        """The user's name as peek_core_user spells it."""
        name = _text("user_name", name, 100)
        user = self._platform.get_other_plugin_api(CORE_USER).find_user(name)
        if user is None:
            raise ValueError(f"there is no user named {name!r}")
        return user.name

    def _checked(self, fields: dict[str, Any]) -> dict[str, Any]:
        """The column values of ``fields`` (every CHANGEABLE one), checked."""
        mode, at = check_auto_delete(fields["auto_delete"], fields["auto_delete_at"])
        return {"title": _text("title", fields["title"], 200),
                "description": _text("description", fields["description"] or "", 10000,
                                     needed=False),
                "route": check_route(fields["route"]),
                "auto_delete": mode.value, "auto_delete_at": at,
                "notify": check_notify(fields["notify"]),
                # last: the one that asks another plugin
                "user_name": self._user(fields["user_name"])}

    @staticmethod
    def _identity(plugin_name: Any, key: Any) -> tuple[str, str]:
        return _text("plugin_name", plugin_name, 100), _text("key", key, 200)

    @staticmethod
    def _find(session: Session, plugin_name: str, key: str) -> Task | None:
        return session.scalars(sa.select(Task).where(
            Task.plugin_name == plugin_name, Task.task_key == key)).first()

    # The API ----------------------------------------------------------------

    def add_task(self, task: NewTask) -> TaskTuple:
        if not isinstance(task, NewTask):
            raise ValueError(f"add_task takes a NewTask, not {type(task).__name__}")
        plugin_name, key = self._identity(task.plugin_name, task.key)
        values = self._checked({name: getattr(task, name) for name in CHANGEABLE})
        affected = {values["user_name"]}
        with self._platform.db_session() as session:
            row = self._find(session, plugin_name, key)
            if row is not None and not task.overwrite:
                raise ValueError(f"{plugin_name} already has a task with key {key!r} "
                                 "(overwrite=True replaces it)")
            if row is None:
                row = Task(plugin_name=plugin_name, task_key=key, **values)
                session.add(row)
            else:  # replaced: as new
                affected.add(row.user_name)
                for name, value in values.items():
                    setattr(row, name, value)
                row.created, row.read_at, row.done_at = now(), None, None
            try:
                session.commit()
            except IntegrityError:  # another add of the same key won the race
                raise ValueError(f"{plugin_name} already has a task with key {key!r} "
                                 "(overwrite=True replaces it)") from None
            result = as_tuple(row)
        self._platform.log.info("%s added task %r for %s: %s", plugin_name, key,
                                result.user, result.title)
        self._changed(affected)
        return result

    def update_task(self, plugin_name: str, key: str, **changes: Any) -> TaskTuple:
        plugin_name, key = self._identity(plugin_name, key)
        unknown = sorted(set(changes) - set(CHANGEABLE))
        if unknown:
            raise ValueError(f"update_task cannot change {', '.join(unknown)}; it changes "
                             f"{', '.join(CHANGEABLE)}")
        if "auto_delete" in changes and "auto_delete_at" not in changes \
                and changes["auto_delete"] != AutoDelete.AT_TIME:
            changes["auto_delete_at"] = None  # another mode drops the time
        with self._platform.db_session() as session:
            row = self._find(session, plugin_name, key)
            if row is None:
                raise TaskNotFound(f"{plugin_name} has no task with key {key!r}")
            current = {name: getattr(row, name) for name in CHANGEABLE}
            values = self._checked({**current, **changes})
            affected = {row.user_name, values["user_name"]}
            for name, value in values.items():
                setattr(row, name, value)
            session.commit()
            result = as_tuple(row)
        self._changed(affected)
        return result

    def remove_task(self, plugin_name: str, key: str) -> bool:
        plugin_name, key = self._identity(plugin_name, key)
        with self._platform.db_session() as session:
            row = self._find(session, plugin_name, key)
            if row is None:
                return False
            user = row.user_name
            session.delete(row)
            session.commit()
        self._changed({user})
        return True

    def tasks_of(self, user_name: str) -> list[TaskTuple]:
        if not isinstance(user_name, str):
            raise ValueError(f"user_name must be a string, not {type(user_name).__name__}")
        with self._platform.db_session() as session:
            rows = session.scalars(sa.select(Task).where(
                sa.func.lower(Task.user_name) == user_name.strip().lower()).order_by(
                Task.created.desc(), Task.id.desc())).all()
            return [as_tuple(r) for r in rows]

    # For the server hook ------------------------------------------------------

    def all_tasks(self) -> list[TaskTuple]:
        with self._platform.db_session() as session:
            rows = session.scalars(sa.select(Task).order_by(
                sa.func.lower(Task.user_name), Task.created.desc(), Task.id.desc())).all()
            return [as_tuple(r) for r in rows]

    def remove_by_id(self, task_id: int) -> TaskTuple | None:
        with self._platform.db_session() as session:
            row = session.get(Task, task_id)
            if row is None:
                return None
            result = as_tuple(row)
            session.delete(row)
            session.commit()
        self._changed({result.user})
        return result

    def delete_due(self) -> tuple[int, datetime.datetime | None]:
        """Delete the tasks whose auto-delete time has come; returns how many,
        and when the next one is due (None: none is)."""
        at = now()
        with self._platform.db_session() as session:
            gone = session.execute(sa.delete(Task).where(
                Task.auto_delete == AutoDelete.AT_TIME.value, Task.auto_delete_at <= at)
                .returning(Task.user_name, Task.plugin_name, Task.task_key)).all()
            next_due = session.scalar(sa.select(sa.func.min(Task.auto_delete_at)).where(
                Task.auto_delete == AutoDelete.AT_TIME.value))
            session.commit()
        for user, plugin_name, key in gone:
            self._platform.log.info("task %r of %s for %s deleted itself at its time", key,
                                    plugin_name, user)
        if gone:
            self._changed({user for user, _, _ in gone})
        return len(gone), next_due
