from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from peek.extensions import db


class VortexAction(db.Model):
    """The answer to an action, kept so that a resend of its id gets the same
    answer instead of applying the action again: to the same user only
    (``user_name``; an action with none is answered to anyone)."""

    __tablename__ = "vortex_action"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    tuple_type: Mapped[str] = mapped_column(String(200), nullable=False)
    answer: Mapped[str] = mapped_column(Text, nullable=False)
    user_name: Mapped[str | None] = mapped_column(Text)
    applied_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now(), index=True)
