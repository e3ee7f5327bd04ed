"""Kudos, prompts, feedback, processed events, conversations, invites, notices and audit."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from bot.errors import LimitReached, NotFound
from bot.models import AuditEntry, Conversation, Feedback, Invite, Kudos, Prompt, PromptState
from storage import convert
from storage.lessons import LessonStore
from storage.tables import (
    AuditRow,
    ConversationRow,
    FeedbackRow,
    InviteRow,
    KudosRow,
    NoticeRow,
    ProcessedEventRow,
    PromptRow,
    as_utc,
)

PROMPT_FIELDS = frozenset(
    {"state", "due_at", "sent_at", "reminded_at", "answered_at", "reflection_id"}
)


class ActivityStore(LessonStore):
    """The part of SqlStore about what members do with each other and with the bot."""

    # kudos

    def add_kudos(
        self,
        giver_id: int,
        receiver_id: int,
        reason: str,
        now: datetime,
        reflection_id: int | None = None,
        incident_id: int | None = None,
    ) -> Kudos:
        """Record kudos from one member to another."""
        with self._session() as s:
            row = KudosRow(
                giver_id=giver_id,
                receiver_id=receiver_id,
                reason=reason,
                created_at=now,
                reflection_id=reflection_id,
                incident_id=incident_id,
            )
            s.add(row)
            s.flush()
            return convert.kudos(row)

    def count_kudos_given(self, giver_id: int, since: datetime) -> int:
        """Count the kudos a member gave at or after `since` (for the daily limit)."""
        with self._session() as s:
            query = select(func.count()).where(
                KudosRow.giver_id == giver_id, KudosRow.created_at >= since
            )
            return s.scalar(query) or 0

    def kudos_received(self, member_id: int, since: datetime | None = None) -> list[Kudos]:
        """Return the kudos a member received (since `since`), newest first."""
        query = select(KudosRow).where(KudosRow.receiver_id == member_id)
        if since is not None:
            query = query.where(KudosRow.created_at >= since)
        query = query.order_by(KudosRow.created_at.desc(), KudosRow.id.desc())
        with self._session() as s:
            return [convert.kudos(r) for r in s.scalars(query)]

    def kudos_given(self, member_id: int) -> list[Kudos]:
        """Return the kudos a member gave, newest first."""
        query = (
            select(KudosRow)
            .where(KudosRow.giver_id == member_id)
            .order_by(KudosRow.created_at.desc(), KudosRow.id.desc())
        )
        with self._session() as s:
            return [convert.kudos(r) for r in s.scalars(query)]

    # prompts

    def add_prompt(
        self,
        incident_id: int,
        member_id: int,
        due_at: datetime,
        now: datetime,
        expires_at: datetime | None = None,
    ) -> Prompt:
        """Schedule a request for a reflection."""
        with self._session() as s:
            row = PromptRow(
                incident_id=incident_id,
                member_id=member_id,
                due_at=due_at,
                state=str(PromptState.SCHEDULED),
                created_at=now,
                attempts=0,
                expires_at=expires_at,
            )
            s.add(row)
            s.flush()
            return convert.prompt(row)

    def get_prompt(self, prompt_id: int) -> Prompt | None:
        """Return the prompt with this id."""
        with self._session() as s:
            row = s.get(PromptRow, prompt_id)
            return convert.prompt(row) if row else None

    def prompts_of(
        self, member_id: int, states: Iterable[PromptState] | None = None
    ) -> list[Prompt]:
        """Return a member's prompts (in these states), soonest due first."""
        query = select(PromptRow).where(PromptRow.member_id == member_id)
        if states is not None:
            query = query.where(PromptRow.state.in_([str(PromptState(x)) for x in states]))
        query = query.order_by(PromptRow.due_at, PromptRow.id)
        with self._session() as s:
            return [convert.prompt(r) for r in s.scalars(query)]

    def update_prompt(self, prompt_id: int, now: datetime, **changes: Any) -> Prompt:
        """Change `state`, `due_at`, `sent_at`, `reminded_at`, `answered_at`, `reflection_id`."""
        # `now` is part of the port for symmetry; callers pass the timestamps they mean.
        unknown = set(changes) - PROMPT_FIELDS
        if unknown:
            raise TypeError(f"cannot update prompt fields: {sorted(unknown)}")
        with self._session() as s:
            row = s.get(PromptRow, prompt_id)
            if row is None:
                raise NotFound("prompt.not_found", id=prompt_id)
            for name, value in changes.items():
                setattr(row, name, str(PromptState(value)) if name == "state" else value)
            s.flush()
            return convert.prompt(row)

    # feedback

    def add_feedback(
        self, member_id: int, reflection_id: int, helpful: bool, now: datetime
    ) -> None:
        """Record whether a lesson helped a member; a second vote replaces the first."""
        with self._session() as s:
            row = s.scalar(
                select(FeedbackRow).where(
                    FeedbackRow.member_id == member_id, FeedbackRow.reflection_id == reflection_id
                )
            )
            if row is None:
                row = FeedbackRow(member_id=member_id, reflection_id=reflection_id)
                s.add(row)
            row.helpful = helpful
            row.created_at = now
            s.flush()

    def feedback_of(self, member_id: int) -> list[Feedback]:
        """The member's votes on lessons, newest first."""
        query = (
            select(FeedbackRow)
            .where(FeedbackRow.member_id == member_id)
            .order_by(FeedbackRow.created_at.desc(), FeedbackRow.id.desc())
        )
        with self._session() as s:
            return [
                Feedback(r.member_id, r.reflection_id, r.helpful, as_utc(r.created_at))
                for r in s.scalars(query)
            ]

    # idempotency

    def mark_processed(self, event_key: str, now: datetime) -> bool:
        """Record an event id; False when it was already recorded."""
        with self._session() as s:
            # A SAVEPOINT, so that losing the race to another process (a duplicate key)
            # does not abort the caller's transaction.
            try:
                with s.begin_nested():
                    s.add(ProcessedEventRow(key=event_key, created_at=now))
                    s.flush()
            except IntegrityError:
                return False
            return True

    # conversations

    def get_conversation(self, member_id: int) -> Conversation:
        """Return what the member is in the middle of (an empty state if nothing)."""
        with self._session() as s:
            row = s.get(ConversationRow, member_id)
            if row is None:
                return Conversation(member_id)
            return Conversation(
                member_id=row.member_id,
                last_query=row.last_query,
                shown=tuple(row.shown or ()),
                pending=row.pending,
                data=dict(row.data or {}),
            )

    def save_conversation(self, conversation: Conversation) -> None:
        """Store the conversation state, replacing the previous one."""
        with self._session() as s:
            row = s.get(ConversationRow, conversation.member_id)
            if row is None:
                row = ConversationRow(member_id=conversation.member_id)
                s.add(row)
            row.last_query = conversation.last_query
            row.shown = list(conversation.shown)
            row.pending = conversation.pending
            row.data = {str(k): str(v) for k, v in conversation.data.items()}
            s.flush()

    # invites

    def add_invite(self, invite: Invite) -> None:
        """Store an invite code."""
        with self._session() as s:
            s.add(
                InviteRow(
                    code=invite.code,
                    org_id=invite.org_id,
                    created_by=invite.created_by,
                    expires_at=invite.expires_at,
                    uses_left=invite.uses_left,
                )
            )
            s.flush()

    def get_invite(self, code: str) -> Invite | None:
        """Return the invite with this code."""
        with self._session() as s:
            row = s.get(InviteRow, code)
            if row is None:
                return None
            return Invite(
                code=row.code,
                org_id=row.org_id,
                created_by=row.created_by,
                expires_at=as_utc(row.expires_at),
                uses_left=row.uses_left,
            )

    def use_invite(self, code: str) -> None:
        """Take one use of an invite; raise when it is unknown or used up."""
        with self._session() as s:
            # One guarded UPDATE: two people joining at once cannot both take the last use.
            result = s.execute(
                update(InviteRow)
                .where(InviteRow.code == code, InviteRow.uses_left > 0)
                .values(uses_left=InviteRow.uses_left - 1)
                .execution_options(synchronize_session="fetch")
            )
            if getattr(result, "rowcount", 0) == 1:
                return
            if s.get(InviteRow, code) is None:
                raise NotFound("join.unknown_code", code=code)
            raise LimitReached("join.used_up", code=code)

    # notices

    def add_notice(self, member_id: int, body: str, now: datetime) -> None:
        """Keep a message for a member who is not online."""
        with self._session() as s:
            s.add(NoticeRow(member_id=member_id, body=body, created_at=now))
            s.flush()

    def take_notices(self, member_id: int) -> list[str]:
        """Return and remove the member's pending notices, oldest first."""
        with self._session() as s:
            rows = s.execute(
                select(NoticeRow.id, NoticeRow.body)
                .where(NoticeRow.member_id == member_id)
                .order_by(NoticeRow.created_at, NoticeRow.id)
            ).all()
            if rows:
                s.execute(delete(NoticeRow).where(NoticeRow.id.in_([r.id for r in rows])))
            return [r.body for r in rows]

    # audit

    def add_audit(
        self,
        actor_id: int | None,
        action: str,
        target: str,
        now: datetime,
        via: str | None = None,
    ) -> None:
        """Append to the audit trail; `via` names the channel ("chat", "cli", "api")."""
        with self._session() as s:
            s.add(
                AuditRow(actor_id=actor_id, action=action, target=target, created_at=now, via=via)
            )
            s.flush()

    def audit_entries(self, limit: int = 50, actor_id: int | None = None) -> list[AuditEntry]:
        """The newest audit entries (of one actor), newest first."""
        query = select(AuditRow).order_by(AuditRow.created_at.desc(), AuditRow.id.desc())
        if actor_id is not None:
            query = query.where(AuditRow.actor_id == actor_id)
        with self._session() as s:
            return [
                AuditEntry(
                    id=r.id,
                    actor_id=r.actor_id,
                    action=r.action,
                    target=r.target,
                    created_at=as_utc(r.created_at),
                    via=r.via,
                )
                for r in s.scalars(query.limit(limit))
            ]
