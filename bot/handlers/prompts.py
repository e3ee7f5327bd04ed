"""Reflection prompts: what a prompt looks like, and Nu invullen / Later / Overslaan."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from bot.commands import PromptAction, StartReflection
from bot.errors import NotFound
from bot.handlers import reflect
from bot.handlers.context import Ctx
from bot.models import Incident, Member, Prompt, PromptState
from bot.ports import Store
from bot.replies import Choice, Reply, Text
from bot.texts import Translator
from bot.timing import SNOOZE, tomorrow_morning

OPEN = (PromptState.SCHEDULED, PromptState.SENT)


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


def take_due(member: Member, now: datetime, *, store: Store) -> list[Reply]:
    """Mark the member's due prompts as sent and return their messages (console delivery)."""
    tr = Translator(member.locale)
    replies: list[Reply] = []
    for prompt in store.prompts_of(member.id, [PromptState.SCHEDULED]):
        if prompt.due_at > now:
            continue
        incident = store.get_incident(prompt.incident_id)
        if incident is None:
            continue
        store.update_prompt(prompt.id, now, state=PromptState.SENT, sent_at=now)
        replies.append(prompt_message(prompt, incident, tr))
    return replies
