import itertools
import threading
from typing import Iterable

from flask import Blueprint, abort, flash, redirect, render_template, url_for

from peek.plugin_api import ActionContext, PluginHook, TupleSelector

from ...tuples import AutoDelete, TaskDismissAction, TaskDoneAction, TaskReadAction, TaskTuple
from ..storage import Task, now
from .api import ActiveTaskApiImpl, as_tuple

#: The longest the auto-delete timer sleeps without looking (a task added
#: meanwhile wakes it sooner).
TIMER_MAX_S = 30.0


def _admin_name() -> str:
    from peek.auth.guard import current_admin
    admin = current_admin()
    return admin.name if admin is not None else "?"


class ServerHook(PluginHook):
    def load(self) -> None:
        self._api = ActiveTaskApiImpl(self.platform, self.changed)
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._timer: threading.Thread | None = None

        # Devices watch their user's tasks; they open, finish and dismiss them.
        self.platform.add_tuple_provider(TaskTuple, self.provide, devices=True)
        self.platform.add_action_processor(self.mark_read, TaskReadAction, devices=True)
        self.platform.add_action_processor(self.mark_done, TaskDoneAction, devices=True)
        self.platform.add_action_processor(self.dismiss, TaskDismissAction, devices=True)

        # Admin: what is pending, per user.
        admin = Blueprint("admin", __name__, template_folder="../../templates")
        admin.add_url_rule("/", "index", self._index)
        admin.add_url_rule("/tasks/<int:task_id>/remove", "remove", self._remove,
                           methods=["POST"])
        self.platform.add_blueprint(admin, "admin")

    def start(self) -> None:
        self._stopping.clear()
        self._timer = threading.Thread(target=self._auto_delete_loop,
                                       name="active-task-auto-delete", daemon=True)
        self._timer.start()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._timer is not None:
            self._timer.join(timeout=15)
            self._timer = None

    @property
    def public_api(self) -> ActiveTaskApiImpl:
        return self._api

    def changed(self, users: Iterable[str]) -> None:
        """The tasks of ``users`` changed: tell their devices (and the timer,
        which may have a new time to wait for)."""
        for user in sorted(set(users)):
            self.platform.notify(TupleSelector.of(TaskTuple, user=user))
        self._wake.set()

    # Observable ---------------------------------------------------------------

    def provide(self, selector: TupleSelector) -> list[TaskTuple]:
        user = selector.filter.get("user")
        return self._api.tasks_of(user) if isinstance(user, str) else []

    # Actions from the user's devices --------------------------------------------

    def _own_task(self, ctx: ActionContext, task_id: int) -> Task:
        if ctx.user is None:
            raise PermissionError("sign in first: tasks belong to a signed-in user")
        row = ctx.session.get(Task, task_id, with_for_update=True)
        if row is None or row.user_name.lower() != ctx.user.lower():
            raise PermissionError(f"there is no task {task_id} of yours")
        return row

    def _finish(self, ctx: ActionContext, row: Task, delete: bool) -> TaskTuple | None:
        user = row.user_name
        if delete:
            ctx.session.delete(row)
        ctx.after_commit(lambda: self.changed({user}))
        if delete:
            return None
        ctx.session.flush()
        return as_tuple(row)

    def mark_read(self, action: TaskReadAction, ctx: ActionContext) -> TaskTuple | None:
        """The user opened the task; None if that deleted it."""
        row = self._own_task(ctx, action.id)
        row.read_at = row.read_at or now()
        return self._finish(ctx, row, row.auto_delete == AutoDelete.WHEN_OPENED.value)

    def mark_done(self, action: TaskDoneAction, ctx: ActionContext) -> TaskTuple | None:
        """The user finished the task; None if that deleted it."""
        row = self._own_task(ctx, action.id)
        row.done_at = row.done_at or now()
        row.read_at = row.read_at or row.done_at
        return self._finish(ctx, row, row.auto_delete == AutoDelete.WHEN_DONE.value)

    def dismiss(self, action: TaskDismissAction, ctx: ActionContext) -> None:
        """The user removed the task from their list."""
        return self._finish(ctx, self._own_task(ctx, action.id), True)

    # Auto-delete at a time -------------------------------------------------------

    def _auto_delete_loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.clear()
            wait = TIMER_MAX_S
            try:
                _, next_due = self._api.delete_due()
                if next_due is not None:
                    wait = min(wait, max(0.05, (next_due - now()).total_seconds()))
            except Exception:  # the database is away: look again later
                self.platform.log.exception("the auto-delete timer could not look for "
                                            "tasks due")
            self._wake.wait(wait)

    # Admin page ---------------------------------------------------------------------

    def _index(self) -> str:
        tasks = self._api.all_tasks()
        by_user = [(user, list(group)) for user, group in
                   itertools.groupby(tasks, key=lambda t: t.user.lower())]
        return render_template("peek_plugin_active_task/admin.html", by_user=by_user,
                               total=len(tasks), unread=sum(t.unread for t in tasks))

    def _remove(self, task_id: int):
        task = self._api.remove_by_id(task_id)
        if task is None:
            abort(404, f"there is no task {task_id}")
        self.platform.log.info("Administrator %s removed task %r of %s for %s",
                               _admin_name(), task.key, task.plugin_name, task.user)
        flash(f"Removed the task {task.title!r} of {task.user}.")
        return redirect(url_for("peek_plugin_active_task_admin.index"))
