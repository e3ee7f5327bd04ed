"""Reflection prompts: what a prompt looks like, and Nu invullen / Later / Overslaan."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.commands import PromptAction, StartReflection
from bot.errors import NotFound
from bot.handlers import reflect
from bot.handlers.context import Ctx
from bot.models import OPEN_PROMPT_STATES, Incident, Member, Prompt, PromptState
from bot.ports import Store
from bot.replies import Choice, Reply, Text
from bot.texts import Translator
from bot.timing import REMINDER_AFTER, SNOOZE, tomorrow_morning

OPEN = OPEN_PROMPT_STATES
# A claim older than this is taken to belong to a process that died mid-delivery. A batch
# of claims (a few sends, each bounded by its platform client's timeout) ends well within it.
LEASE = timedelta(minutes=10)


def prompt_message(
    prompt: Prompt, incident: Incident, tr: Translator, reminder: bool = False
) -> Text:
    """The direct message that asks for a reflection, with its three actions."""
    key = "prompt.reminder" if reminder else f"prompt.ask_{incident.kind.value}"
    return Text(
        tr(key, title=incident.title, date=incident.occurred_at.strftime("%d-%m-%Y")),
        choices=(
            Choice(tr("prompt.now"), f"/invullen {prompt.id}", "primary"),
            Choice(tr("prompt.later"), f"/later {prompt.id}"),
            Choice(tr("prompt.tomorrow"), f"/later {prompt.id} morgen"),
            Choice(tr("prompt.skip"), f"/overslaan {prompt.id}"),
        ),
    )


def act(cmd: PromptAction, ctx: Ctx) -> list[Reply]:
    """Answer now, snooze or skip a prompt of the member's own."""
    store, now, tr = ctx.store, ctx.now(), ctx.tr
    prompt = store.get_prompt(cmd.prompt_id)
    if prompt is None or prompt.member_id != ctx.member.id:
        raise NotFound("prompt.not_found")
    if prompt.state not in OPEN:
        return [Text(tr(f"prompt.already_{prompt.state.value}"))]
    if cmd.action == "now":
        start = StartReflection(str(prompt.incident_id), as_form=cmd.as_form)
        return reflect.start(start, ctx, prompt_id=prompt.id)
    if cmd.action == "skip":
        store.update_prompt(prompt.id, now, state=PromptState.SKIPPED)
        return [Text(tr("prompt.skipped"))]
    due = tomorrow_morning(now, ctx.member.timezone) if cmd.action == "tomorrow" else now + SNOOZE
    store.update_prompt(prompt.id, now, state=PromptState.SCHEDULED, due_at=due, sent_at=None)
    local = due.astimezone(ZoneInfo(ctx.member.timezone))
    return [Text(tr("prompt.snoozed", when=local.strftime("%d-%m %H:%M")))]


def is_reminder(claimed: Prompt) -> bool:
    """Tell whether a claimed prompt's message is the reminder (it went out before)."""
    return claimed.sent_at is not None


def delivered(claimed: Prompt, now: datetime) -> dict[str, Any]:
    """The changes that settle a claim whose message went out at `now`."""
    if is_reminder(claimed):
        return {"state": PromptState.SENT, "reminded_at": now, "last_error": None}
    return {
        "state": PromptState.SENT,
        "sent_at": now,
        "due_at": now + REMINDER_AFTER,  # from now on, due_at is when the reminder is due
        "last_error": None,
    }


def take_due(member: Member, now: datetime, *, store: Store) -> list[Reply]:
    """Claim the member's due prompts and reminders and return them (console delivery).

    Claim and settlement share the caller's transaction: the console shows the messages
    right after it commits, so here a message is shown exactly once.
    """
    tr = Translator(member.locale)
    replies: list[Reply] = []
    worker = f"console:{member.id}"
    for claimed in store.claim_due_prompts(now, worker, now - LEASE, 20, member.id):
        incident = store.get_incident(claimed.incident_id)
        if incident is None:
            continue
        store.finish_prompt_claim(claimed, **delivered(claimed, now))
        replies.append(prompt_message(claimed, incident, tr, reminder=is_reminder(claimed)))
    return replies
