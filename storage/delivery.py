"""Prompt delivery and digests: claim rows so that exactly one process sends each message.

On PostgreSQL a claim is two statements in one transaction: `SELECT id … ORDER BY due_at
LIMIT n FOR UPDATE SKIP LOCKED` (concurrent processes each lock different rows, without
waiting), then `UPDATE … WHERE id IN (those ids) RETURNING`. Not one statement with the
SELECT as an `IN` sub-select: PostgreSQL may plan that as a semi-join that re-runs the
sub-select per row, and each re-run locks the next rows: one process claimed all 200
prompts that way in a test. SQLite has one writer at a time and no row locks, so there
one guarded `UPDATE … WHERE id IN (SELECT … LIMIT n)` is atomic.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select, update

from bot.models import Member, Prompt, PromptState
from storage import convert
from storage.activity import ActivityStore
from storage.tables import IncidentRow, MemberRow, PromptRow, as_utc

SETTLE_FIELDS = frozenset({"state", "due_at", "sent_at", "reminded_at", "last_error"})
SCHEDULED, SENDING, SENT = (
    str(s) for s in (PromptState.SCHEDULED, PromptState.SENDING, PromptState.SENT)
)


def _not_expired(now: datetime) -> ColumnElement[bool]:
    return or_(PromptRow.expires_at.is_(None), PromptRow.expires_at > now)


def _next_message_due(
    now: datetime, stale_before: datetime, due_before: datetime | None = None
) -> ColumnElement[bool]:
    """Rows whose ask or reminder is due, or whose claim went stale (its process died)."""
    due_before = now if due_before is None else due_before
    # Members who blocked the bot wait until they are reachable again, instead of being
    # retried (and counted overdue) until their prompts expire.
    reachable = select(MemberRow.id).where(MemberRow.unreachable.is_(False))
    return and_(
        _not_expired(now),
        PromptRow.member_id.in_(reachable),
        or_(
            and_(PromptRow.state == SCHEDULED, PromptRow.due_at <= due_before),
            and_(
                PromptRow.state == SENT,
                PromptRow.reminded_at.is_(None),
                PromptRow.due_at <= due_before,
            ),
            and_(PromptRow.state == SENDING, PromptRow.claimed_at <= stale_before),
        ),
    )


class DeliveryStore(ActivityStore):
    """The part of SqlStore that the scheduler uses: claims, settlements, expiry, digests."""

    def claim_due_prompts(
        self,
        now: datetime,
        worker: str,
        stale_before: datetime,
        limit: int = 5,
        member_id: int | None = None,
    ) -> list[Prompt]:
        """Claim up to `limit` prompts whose next message is due; return them, soonest first."""
        due = _next_message_due(now, stale_before)
        pick = select(PromptRow.id).where(due)
        if member_id is not None:
            pick = pick.where(PromptRow.member_id == member_id)
        pick = pick.order_by(PromptRow.due_at, PromptRow.id).limit(limit)
        with self._session() as s:
            if s.get_bind().dialect.name == "postgresql":
                ids = list(s.scalars(pick.with_for_update(skip_locked=True)))
                if not ids:
                    return []
                target = PromptRow.id.in_(ids)
            else:
                target = PromptRow.id.in_(pick.scalar_subquery())
            claimed = [convert.prompt(r) for r in s.scalars(self._claim(target, due, now, worker))]
        return sorted(claimed, key=lambda p: (p.due_at, p.id))

    @staticmethod
    def _claim(
        target: ColumnElement[bool], due: ColumnElement[bool], now: datetime, worker: str
    ) -> Any:
        return (
            # `due` again: the row must still qualify when it is updated.
            update(PromptRow)
            .where(target, due)
            .values(
                state=SENDING,
                claimed_by=worker,
                claimed_at=now,
                attempts=PromptRow.attempts + 1,
            )
            .returning(PromptRow)
            .execution_options(synchronize_session=False, populate_existing=True)
        )

    def finish_prompt_claim(self, claimed: Prompt, **changes: Any) -> bool:
        """Settle a claim (state, due_at, sent_at, reminded_at, last_error) if still ours.

        False when the claim was lost meanwhile: the member acted on the prompt, or the
        claim went stale and another process took it over.
        """
        unknown = set(changes) - SETTLE_FIELDS
        if unknown:
            raise TypeError(f"cannot settle prompt fields: {sorted(unknown)}")
        values = {k: str(PromptState(v)) if k == "state" else v for k, v in changes.items()}
        query = (
            update(PromptRow)
            .where(
                PromptRow.id == claimed.id,
                PromptRow.state == SENDING,
                PromptRow.claimed_by == claimed.claimed_by,
                # the attempt number fences off an older claim of the same worker
                PromptRow.attempts == claimed.attempts,
            )
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        with self._session() as s:
            result = s.execute(query)
            return getattr(result, "rowcount", 0) == 1

    def expire_prompts(self, now: datetime, stale_before: datetime) -> int:
        """Mark open prompts past their expiry as expired; return how many."""
        query = (
            update(PromptRow)
            .where(
                PromptRow.expires_at <= now,
                or_(
                    PromptRow.state.in_([SCHEDULED, SENT]),
                    and_(PromptRow.state == SENDING, PromptRow.claimed_at <= stale_before),
                ),
            )
            .values(state=str(PromptState.EXPIRED))
            .execution_options(synchronize_session=False)
        )
        with self._session() as s:
            return int(getattr(s.execute(query), "rowcount", 0) or 0)

    def count_overdue_prompts(
        self, now: datetime, due_before: datetime, stale_before: datetime
    ) -> int:
        """Count prompts whose next message was due before `due_before` and is not out yet."""
        query = select(func.count()).where(_next_message_due(now, stale_before, due_before))
        with self._session() as s:
            return s.scalar(query) or 0

    def count_failing_prompts(self) -> int:
        """Count open prompts whose last delivery attempt failed."""
        query = select(func.count()).where(
            PromptRow.state.in_([SCHEDULED, SENDING, SENT]), PromptRow.last_error.is_not(None)
        )
        with self._session() as s:
            return s.scalar(query) or 0

    def prompts_for_org(
        self, org_id: int, states: Iterable[PromptState] | None = None, limit: int = 1000
    ) -> list[Prompt]:
        """Prompts about the organisation's incidents (in these states), newest first."""
        query = (
            select(PromptRow)
            .join(IncidentRow, IncidentRow.id == PromptRow.incident_id)
            .where(IncidentRow.org_id == org_id)
        )
        if states is not None:
            query = query.where(PromptRow.state.in_([str(PromptState(x)) for x in states]))
        query = query.order_by(PromptRow.created_at.desc(), PromptRow.id.desc()).limit(limit)
        with self._session() as s:
            return [convert.prompt(r) for r in s.scalars(query)]

    # weekly digest

    def digest_recipients(self) -> list[tuple[Member, datetime | None]]:
        """Members who want the digest, each with when their last digest was claimed."""
        query = select(MemberRow).where(MemberRow.digest.is_(True)).order_by(MemberRow.id)
        with self._session() as s:
            return [(convert.member(r), as_utc(r.last_digest_at)) for r in s.scalars(query)]

    def swap_last_digest(
        self, member_id: int, expected: datetime | None, value: datetime | None
    ) -> bool:
        """Set the member's last digest time to `value` if it is still `expected`."""
        current = (
            MemberRow.last_digest_at.is_(None)
            if expected is None
            else MemberRow.last_digest_at == expected
        )
        query = (
            update(MemberRow)
            .where(MemberRow.id == member_id, current)
            .values(last_digest_at=value)
            .execution_options(synchronize_session=False)
        )
        with self._session() as s:
            return getattr(s.execute(query), "rowcount", 0) == 1
