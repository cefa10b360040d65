"""The experiment record, as stored by SQLAlchemy (schema changes go through migrations/versions)."""

import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import JSON, DateTime, Dialect, ForeignKey, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from azuraforge_common import names


def new_id() -> str:
    return uuid.uuid4().hex


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every database (SQLite hands back naive ones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime, dict[str, Any]: JSON, list[str]: JSON}


class Experiment(Base):
    __tablename__ = "experiments"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    app: Mapped[str] = mapped_column(String(200), index=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[str] = mapped_column(String(16), index=True, default="queued")
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    batch_id: Mapped[str | None] = mapped_column(String(32), index=True, default=None)
    created_at: Mapped[datetime] = mapped_column(index=True, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    baseline_metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    history: Mapped[dict[str, Any]] = mapped_column(default=dict)
    artifacts: Mapped[list[str]] = mapped_column(default=list)
    progress: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    # The learner's RunResult as JSON (this package does not import the learner; the API validates it).
    # Null for runs that ended before it was stored or before the run began.
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    traceback: Mapped[str | None] = mapped_column(Text, default=None)
    # The queue (resource class) it was sent to, and the most memory its run took above the worker's idle size.
    queue: Mapped[str] = mapped_column(String(64), default=names.DEFAULT_QUEUE, server_default=names.DEFAULT_QUEUE)
    peak_rss_mb: Mapped[int | None] = mapped_column(Integer, default=None)

    tag_rows: Mapped[list["ExperimentTag"]] = relationship(
        back_populates="experiment",
        cascade="all, delete-orphan",
        passive_deletes=True,
        lazy="selectin",
        order_by="ExperimentTag.position",
    )

    @property
    def tags(self) -> list[str]:
        return [row.tag for row in self.tag_rows]

    @tags.setter
    def tags(self, tags: list[str]) -> None:
        self.tag_rows = [ExperimentTag(tag=tag, position=i) for i, tag in enumerate(tags)]


class ExperimentTag(Base):
    """Tags live in their own table so that filtering by tag is one indexed query on every database."""

    __tablename__ = "experiment_tags"

    experiment_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("experiments.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(String(100), primary_key=True, index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)

    experiment: Mapped[Experiment] = relationship(back_populates="tag_rows")


class IdempotencyKey(Base):
    """The first answer to a POST carrying an Idempotency-Key: its experiment, or its grid's batch."""

    __tablename__ = "idempotency_keys"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    experiment_id: Mapped[str | None] = mapped_column(
        String(32), ForeignKey("experiments.id", ondelete="CASCADE"), default=None
    )
    batch_id: Mapped[str | None] = mapped_column(String(32), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
