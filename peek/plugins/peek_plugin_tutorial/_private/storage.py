"""The tutorial plugin's tables, in its own schema (pl_tutorial)."""

import datetime

from sqlalchemy import DateTime, Integer, MetaData, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    metadata = MetaData(schema="pl_tutorial")


class StringInt(Base):
    __tablename__ = "string_int"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    string1: Mapped[str] = mapped_column(String(50))
    int1: Mapped[int] = mapped_column(Integer, default=0)


class JobRun(Base):
    """The result of one run of the worker job (see _private/worker/tasks.py)."""
    __tablename__ = "job_run"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    finished: Mapped[datetime.datetime] = mapped_column(DateTime(timezone=True))
    rows: Mapped[int] = mapped_column(Integer)
    total: Mapped[int] = mapped_column(Integer)
