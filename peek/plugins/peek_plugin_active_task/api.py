"""The published server API of peek_plugin_active_task, for other plugins:

    tasks: ActiveTaskApi = self.platform.get_other_plugin_api("peek_plugin_active_task")
    tasks.add_task(NewTask(plugin_name="peek_plugin_example", key="job-42",
                           user_name="alice", title="Job 42 is waiting",
                           route="/peek_plugin_example/jobs/42"))

A task belongs to one user and is known by (plugin name, key): each plugin
keeps its own keys.  See docs/active_task.md.
"""

from __future__ import annotations

import datetime
import enum
from abc import ABC, abstractmethod
from dataclasses import dataclass

from .tuples import AutoDelete, TaskTuple

__all__ = ["ActiveTaskApi", "NewTask", "NotifyBy", "AutoDelete", "TaskTuple", "TaskNotFound"]


class NotifyBy(enum.IntFlag):
    """How a device tells the user about a task.  Every unread task counts
    on the home tile's badge whatever its flags; ``SOUND`` and ``POPUP`` are
    for the device page to act on (TaskTuple.notify lists them)."""
    NONE = 0
    BADGE = 1
    SOUND = 2
    POPUP = 4


class TaskNotFound(LookupError):
    """There is no task of that plugin with that key."""


@dataclass(frozen=True)
class NewTask:
    """What ``add_task`` needs to know about a task."""
    #: The package name of the plugin adding it; with ``key``, the task's identity.
    plugin_name: str
    #: Unique among the tasks of ``plugin_name`` (the plugin's own id of the thing).
    key: str
    #: The user it is for (a peek_core_user name).
    user_name: str
    title: str
    description: str = ""
    #: A local path the task's Open link goes to (``/peek_plugin_example/jobs/42``), or None.
    route: str | None = None
    auto_delete: AutoDelete = AutoDelete.NEVER
    #: When it deletes itself: a time-zone aware datetime, only with AutoDelete.AT_TIME.
    auto_delete_at: datetime.datetime | None = None
    notify: NotifyBy = NotifyBy.BADGE
    #: Replace a task with the same key (as new: unread, not done) instead of refusing.
    overwrite: bool = False


class ActiveTaskApi(ABC):
    """What ``get_other_plugin_api("peek_plugin_active_task")`` returns on the server.

    Every call checks its arguments and raises ValueError saying what is
    wrong (and stores nothing); the user's devices see each change at once."""

    @abstractmethod
    def add_task(self, task: NewTask) -> TaskTuple:
        """Store ``task`` and show it to its user.  ValueError for an unknown
        user, an empty title or key, a route that is not a local path, a bad
        auto-delete, or a key the plugin already uses (unless ``overwrite``)."""

    @abstractmethod
    def update_task(self, plugin_name: str, key: str, **changes) -> TaskTuple:
        """Change fields of a task: ``user_name``, ``title``, ``description``,
        ``route``, ``auto_delete``, ``auto_delete_at``, ``notify``.  Whether it
        was read or done stays.  TaskNotFound if there is no such task,
        ValueError for another name or a value ``add_task`` would refuse."""

    @abstractmethod
    def remove_task(self, plugin_name: str, key: str) -> bool:
        """Delete a task; False if there was none."""

    @abstractmethod
    def tasks_of(self, user_name: str) -> list[TaskTuple]:
        """The tasks of a user, newest first (done ones too)."""
