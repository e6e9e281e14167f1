"""Saved segments: named rules over customer fields."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from rapport.crm.clock import utcnow
from rapport.crm.models.base import Base, UtcDateTime


class Segment(Base):
    """A named, saved rule over customer fields; evaluated in SQL when used."""

    __tablename__ = "segments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    rule: Mapped[str] = mapped_column(Text)
    """The rule as JSON (see rapport.crm.segments.rules); stored as text so both databases agree."""
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
