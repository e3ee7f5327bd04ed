"""The database schema as SQLAlchemy 2.x typed ORM classes.

Enumerations are stored as plain strings (the values of the core's StrEnums) so that
adding a value never needs a database enum migration. Every change here needs an Alembic
migration in `storage/migrations/versions/`; a test compares the two.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import overload

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# Deterministic constraint names: SQLite batch migrations can only alter named constraints.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """Return the current time in UTC (only for rows whose port method takes no `now`)."""
    return datetime.now(UTC)


@overload
def as_utc(value: datetime) -> datetime: ...
@overload
def as_utc(value: None) -> None: ...
def as_utc(value: datetime | None) -> datetime | None:
    """Return `value` as an aware UTC datetime; a naive one is taken to be UTC already."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware datetime that always comes back in UTC.

    SQLite has no time zones and drops tzinfo, so values are stored as naive UTC there
    and made aware again on the way out. Naive input is taken to be UTC already.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        value = as_utc(value)
        # SQLite's DATETIME drops the offset: store the UTC wall clock, comparable as text.
        return value.replace(tzinfo=None) if value and dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return as_utc(value)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class OrganisationRow(Base):
    __tablename__ = "organisations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    slug: Mapped[str] = mapped_column(String(100), unique=True)
    discipline: Mapped[str] = mapped_column(String(20))
    slack_team: Mapped[str | None] = mapped_column(String(50), unique=True)


class MemberRow(Base):
    __tablename__ = "members"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    locale: Mapped[str] = mapped_column(String(10))
    timezone: Mapped[str] = mapped_column(String(64))
    digest: Mapped[bool] = mapped_column(Boolean)
    unreachable: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # When the last weekly digest was claimed for this member: a restart never resends it.
    last_digest_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    identities: Mapped[list[IdentityRow]] = relationship(
        lazy="selectin", order_by="IdentityRow.id", passive_deletes=True
    )


class IdentityRow(Base):
    __tablename__ = "identities"
    __table_args__ = (UniqueConstraint("platform", "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), index=True)
    platform: Mapped[str] = mapped_column(String(20))
    user_id: Mapped[str] = mapped_column(String(100))


class IncidentParticipantRow(Base):
    __tablename__ = "incident_participants"

    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True
    )
    member_id: Mapped[int] = mapped_column(
        ForeignKey("members.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class IncidentRow(Base):
    __tablename__ = "incidents"
    __table_args__ = (Index("ix_incidents_org_occurred", "org_id", "occurred_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    title: Mapped[str] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(20))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"))

    participants: Mapped[list[IncidentParticipantRow]] = relationship(
        lazy="selectin", order_by="IncidentParticipantRow.member_id", passive_deletes=True
    )


class ReflectionRow(Base):
    __tablename__ = "reflections"
    __table_args__ = (
        # The visibility filter of every lesson query starts with these columns.
        Index("ix_reflections_visible", "draft", "hidden", "visibility", "org_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    # Imported lessons have no member in this network.
    member_id: Mapped[int | None] = mapped_column(
        ForeignKey("members.id", ondelete="CASCADE"), index=True
    )
    incident_id: Mapped[int | None] = mapped_column(
        ForeignKey("incidents.id", ondelete="SET NULL"), index=True
    )
    went_well: Mapped[str] = mapped_column(Text)
    improve: Mapped[str] = mapped_column(Text)
    lesson: Mapped[str] = mapped_column(Text)
    title: Mapped[str | None] = mapped_column(String(300))
    visibility: Mapped[str] = mapped_column(String(20))
    loop_level: Mapped[str | None] = mapped_column(String(20))
    themes: Mapped[list[str]] = mapped_column(JSON)
    language: Mapped[str] = mapped_column(String(10))
    draft: Mapped[bool] = mapped_column(Boolean)
    draft_step: Mapped[str | None] = mapped_column(String(50))
    thanks: Mapped[str | None] = mapped_column(Text)
    external_id: Mapped[str | None] = mapped_column(String(200), unique=True)
    source: Mapped[str | None] = mapped_column(String(200))
    hidden: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class EmbeddingRow(Base):
    __tablename__ = "lesson_embeddings"
    __table_args__ = (
        UniqueConstraint("reflection_id", "model"),
        # Unchanged texts reuse their vector: looked up by model and hash.
        Index("ix_lesson_embeddings_model_hash", "model", "content_hash"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reflection_id: Mapped[int] = mapped_column(ForeignKey("reflections.id", ondelete="CASCADE"))
    model: Mapped[str] = mapped_column(String(200))
    content_hash: Mapped[str] = mapped_column(String(64))
    dim: Mapped[int] = mapped_column(Integer)
    vector: Mapped[bytes] = mapped_column(LargeBinary)


class KudosRow(Base):
    __tablename__ = "kudos"
    __table_args__ = (Index("ix_kudos_giver_created", "giver_id", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    giver_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    receiver_id: Mapped[int] = mapped_column(
        ForeignKey("members.id", ondelete="CASCADE"), index=True
    )
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    reflection_id: Mapped[int | None] = mapped_column(
        ForeignKey("reflections.id", ondelete="SET NULL")
    )
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id", ondelete="SET NULL"))


class PromptRow(Base):
    __tablename__ = "prompts"
    __table_args__ = (Index("ix_prompts_state_due", "state", "due_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), index=True)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    state: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reflection_id: Mapped[int | None] = mapped_column(
        ForeignKey("reflections.id", ondelete="SET NULL")
    )
    # Delivery bookkeeping (migration 0002): who claimed it, when, how often, and why the
    # last attempt failed. `due_at` is when the next message (ask or reminder) is due.
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(String(300))


class FeedbackRow(Base):
    __tablename__ = "feedback"
    # One vote per member per lesson; pressing "Nuttig" again updates it.
    __table_args__ = (UniqueConstraint("member_id", "reflection_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    reflection_id: Mapped[int] = mapped_column(
        ForeignKey("reflections.id", ondelete="CASCADE"), index=True
    )
    helpful: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ProcessedEventRow(Base):
    __tablename__ = "processed_events"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ConversationRow(Base):
    __tablename__ = "conversations"

    member_id: Mapped[int] = mapped_column(
        ForeignKey("members.id", ondelete="CASCADE"), primary_key=True
    )
    last_query: Mapped[str | None] = mapped_column(Text)
    shown: Mapped[list[int]] = mapped_column(JSON)
    pending: Mapped[str | None] = mapped_column(String(100))
    data: Mapped[dict[str, str]] = mapped_column(JSON)


class InviteRow(Base):
    __tablename__ = "invites"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    uses_left: Mapped[int] = mapped_column(Integer)


class NoticeRow(Base):
    __tablename__ = "notices"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), index=True)
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AuditRow(Base):
    __tablename__ = "audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    actor_id: Mapped[int | None] = mapped_column(
        ForeignKey("members.id", ondelete="SET NULL"), index=True
    )
    action: Mapped[str] = mapped_column(String(100))
    target: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    # Through which channel (migration 0004): "chat", "cli", "api"; an operator at the
    # command line has no member id, so this is what tells their actions apart.
    via: Mapped[str | None] = mapped_column(String(20))


class IndexChangeRow(Base):
    """A reflection whose searchable state may have changed (migration 0003).

    Written in the same transaction as the change; every process reads it "since my last
    id" to keep its own search index in step. No foreign key: deletions are logged too.
    """

    __tablename__ = "index_changes"
    # Ids are never reused, on SQLite either: readers rely on them only growing.
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reflection_id: Mapped[int] = mapped_column(Integer)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
