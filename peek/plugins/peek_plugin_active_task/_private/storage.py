"""peek_plugin_active_task's table, in its own schema (pl_active_task)."""

import datetime

from sqlalchemy import (DateTime, Index, Integer, MetaData, String, Text, UniqueConstraint,
                        func)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


class Base(DeclarativeBase):
    metadata = MetaData(schema="pl_active_task")


class Task(Base):
    """One task of one user, known by (plugin_name, task_key)."""
    __tablename__ = "task"
    __table_args__ = (UniqueConstraint("plugin_name", "task_key", name="task_plugin_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    plugin_name: Mapped[str] = mapped_column(String(100))
    task_key: Mapped[str] = mapped_column(String(200))
    user_name: Mapped[str] = mapped_column(String(100))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    route: Mapped[str | None] = mapped_column(String(500), nullable=True)
    #: An AutoDelete value: never, at_time, when_opened, when_done.
    auto_delete: Mapped[str] = mapped_column(String(20), default="never")
    auto_delete_at: Mapped[datetime.datetime | None] = mapped_column(
        DateTime(timezone=True), nullable=True)
    #: NotifyBy flags: 1 badge, 2 sound, 4 popup.
    notify: Mapped[int] = mapped_column(Integer, default=1)
    created: Mapped[datetime.datetime] = mapped_column(DateTime(timezone=True), default=now)
    updated: Mapped[datetime.datetime] = mapped_column(DateTime(timezone=True), default=now,
                                                       onupdate=now)
    read_at: Mapped[datetime.datetime | None] = mapped_column(DateTime(timezone=True),
                                                              nullable=True)
    done_at: Mapped[datetime.datetime | None] = mapped_column(DateTime(timezone=True),
                                                              nullable=True)


Index("task_user_name", func.lower(Task.user_name))
Index("task_auto_delete_at", Task.auto_delete_at)
