"""The tuples of peek_plugin_active_task: a task as devices see it, and the
actions devices send about their tasks.

The platform imports this module on every service the plugin runs on.
"""

from __future__ import annotations

import datetime
import enum

from peek.plugin_api import Tuple

__all__ = ["AutoDelete", "TaskTuple", "TaskReadAction", "TaskDoneAction", "TaskDismissAction",
           "NOTIFY_FLAGS"]

#: The notify flags a task may carry, as TaskTuple.notify names them.
NOTIFY_FLAGS = ("badge", "sound", "popup")


class AutoDelete(str, enum.Enum):
    """When a task deletes itself."""
    NEVER = "never"              # only when its plugin (or the user) removes it
    AT_TIME = "at_time"          # at ``auto_delete_at``
    WHEN_OPENED = "when_opened"  # when the user opens it (TaskReadAction)
    WHEN_DONE = "when_done"      # when the user marks it done (TaskDoneAction)


class TaskTuple(Tuple, tag="peek_plugin_active_task.TaskTuple", per_user=True):
    """One task of one user.  Per-user: a device sees only the tasks of the
    user signed in on it (the selector's ``user`` filter)."""
    id: int
    plugin_name: str
    key: str
    user: str
    title: str
    description: str = ""
    #: A local path to open (``/peek_plugin_example/item/3``), or None.
    route: str | None = None
    auto_delete: AutoDelete = AutoDelete.NEVER
    auto_delete_at: datetime.datetime | None = None
    #: How the device should notify the user: some of "badge", "sound", "popup".
    notify: list[str] = []
    created: datetime.datetime | None = None
    updated: datetime.datetime | None = None
    read_at: datetime.datetime | None = None
    done_at: datetime.datetime | None = None

    @property
    def unread(self) -> bool:
        """Neither opened nor done yet: what the home tile's badge counts."""
        return self.read_at is None and self.done_at is None


# Actions: what a device asks about one of its user's tasks. ------------------

class TaskReadAction(Tuple, tag="peek_plugin_active_task.TaskReadAction"):
    """The user opened the task (deletes it if it auto-deletes when opened)."""
    id: int


class TaskDoneAction(Tuple, tag="peek_plugin_active_task.TaskDoneAction"):
    """The user marked the task done (deletes it if it auto-deletes when done)."""
    id: int


class TaskDismissAction(Tuple, tag="peek_plugin_active_task.TaskDismissAction"):
    """The user removed the task from their list."""
    id: int
