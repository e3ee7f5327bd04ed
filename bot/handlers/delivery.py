"""Deliver prompts and reminders, expire old prompts: scheduler jobs, as functions of `now`.

The prompt rows are the source of truth. Each message goes through claim, send, settle:

    scheduled ──claim──▶ sending ──sent──▶ sent ──claim, 24 h later──▶ sending ──sent──▶ sent
        ▲                 │  │                                          (reminder)   (reminded)
        │                 │  └─ send raised: back to where it came from, due again after a
        │                 │     backoff that doubles per attempt (1 min … 1 h); attempts counted
        │                 └──── claim older than LEASE (its process died): claimed again
        └─ Later (snooze)
    open (scheduled, sending, sent) ──▶ answered (Nu invullen), skipped (Overslaan),
                                        expired (7 days after it was first due)

A claim stamps `claimed_by`, `claimed_at` and adds one to `attempts`; settling succeeds only
while that claim still holds, so a stale or superseded worker cannot overwrite anything.

Semantics: at-least-once, never lost. A process that dies after the platform accepted a
message but before the settlement committed leaves a `sending` row; after LEASE another
process sends it again, with the same prompt id in its buttons (the delivery key) so a
receiver can recognise the repeat. Slack and Telegram cannot deduplicate, so in that window —
between the platform's answer and one small UPDATE — a member may see a prompt twice; any
other crash just delays the message by LEASE. We chose this over at-most-once because a
lost prompt silently breaks the learning loop, while a rare duplicate only costs a glance.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.handlers.prompts import LEASE, delivered, is_reminder, prompt_message
from bot.models import Prompt, PromptState
from bot.ports import Notifier, Store
from bot.texts import Translator

log = logging.getLogger(__name__)

CLAIM_BATCH = 5
RETRY_FIRST = timedelta(minutes=1)
RETRY_MAX = timedelta(hours=1)
OVERDUE_GRACE = timedelta(minutes=10)  # later than this counts as overdue in /healthz


@dataclass
class DeliveryRun:
    """What one call of `deliver_due` did."""

    claimed: int = 0
    sent: int = 0
    reminded: int = 0
    failed: int = 0
    lost: int = 0  # claims taken over meanwhile (the member acted, or the claim went stale)


def retry_delay(attempts: int) -> timedelta:
    """How long to wait after a failed attempt: 1 minute, doubling, at most an hour."""
    return min(RETRY_FIRST * (1 << min(max(attempts - 1, 0), 10)), RETRY_MAX)


def deliver_due(
    now: datetime, *, store: Store, notifier: Notifier, worker: str, limit: int = CLAIM_BATCH
) -> DeliveryRun:
    """Claim one batch of due prompts and reminders, send each, settle each."""
    run = DeliveryRun()
    with store.transaction():
        batch = store.claim_due_prompts(now, worker, now - LEASE, limit)
    run.claimed = len(batch)
    for claimed in batch:
        _deliver(claimed, now, store=store, notifier=notifier, run=run)
    return run


def _deliver(
    claimed: Prompt, now: datetime, *, store: Store, notifier: Notifier, run: DeliveryRun
) -> None:
    with store.transaction():
        member = store.get_member(claimed.member_id)
        incident = store.get_incident(claimed.incident_id)
    if member is None or incident is None:
        return  # deleted meanwhile; the prompt row went with it
    reminder = is_reminder(claimed)
    message = prompt_message(claimed, incident, Translator(member.locale), reminder=reminder)
    try:
        # Outside any transaction: a slow platform must not hold a database lock.
        notifier.notify(member, [message])
    except Exception as error:  # any sender failure: the prompt stays deliverable
        log.warning(
            "prompt %s: delivery attempt %s failed: %s", claimed.id, claimed.attempts, error
        )
        back = PromptState.SENT if reminder else PromptState.SCHEDULED
        with store.transaction():
            store.finish_prompt_claim(
                claimed,
                state=back,
                due_at=now + retry_delay(claimed.attempts),
                # only the class: messages of HTTP clients may contain a token in a URL
                last_error=type(error).__name__,
            )
        run.failed += 1
        return
    with store.transaction():
        settled = store.finish_prompt_claim(claimed, **delivered(claimed, now))
    if not settled:
        log.warning("prompt %s: the claim of %s was taken over", claimed.id, claimed.claimed_by)
        run.lost += 1
    elif reminder:
        run.reminded += 1
    else:
        run.sent += 1


def expire_due(now: datetime, *, store: Store) -> int:
    """Expire open prompts past their expiry; return how many."""
    with store.transaction():
        return store.expire_prompts(now, now - LEASE)


def backlog(now: datetime, *, store: Store) -> dict[str, int]:
    """Prompts that are late (due longer than OVERDUE_GRACE ago) or failing, for /healthz."""
    with store.transaction():
        return {
            "overdue": store.count_overdue_prompts(now, now - OVERDUE_GRACE, now - LEASE),
            "failing": store.count_failing_prompts(),
        }
