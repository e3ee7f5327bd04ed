"""A member's own data: overview (mijn), deleting everything (vergeet), moderation (verberg)."""

from __future__ import annotations

from dataclasses import replace

from bot.errors import NotAllowed, NotFound
from bot.handlers.context import Ctx
from bot.handlers.kudos import kudos_lines
from bot.handlers.prompts import OPEN
from bot.models import Visibility
from bot.replies import Choice, Reply, Text
from bot.texts import shorten

PENDING_FORGET = "forget"


def mine(ctx: Ctx) -> list[Reply]:
    """Show the member's reflections, drafts, kudos and open prompts."""
    store, tr, member = ctx.store, ctx.tr, ctx.member
    lines: list[str] = [tr("mine.header", name=member.name)]
    reflections = store.reflections_of(member.id)
    if reflections:
        lines.append(tr("mine.reflections", count=len(reflections)))
        for r in reflections[:10]:
            lines.append(
                tr(
                    "mine.reflection_line",
                    id=r.id,
                    lesson=shorten(r.lesson, 60),
                    visibility=tr(f"visibility.{r.visibility}"),
                )
            )
    else:
        lines.append(tr("mine.no_reflections"))
    drafts = store.reflections_of(member.id, drafts=True)
    drafts = [d for d in drafts if d.draft]
    if drafts:
        lines.append(tr("mine.drafts", count=len(drafts)))
    lines += kudos_lines(ctx, limit=5)
    prompts = store.prompts_of(member.id, OPEN)
    choices: list[Choice] = []
    if prompts:
        lines.append(tr("mine.prompts", count=len(prompts)))
        for p in prompts[:5]:
            incident = store.get_incident(p.incident_id)
            title = incident.title if incident else "?"
            lines.append(tr("mine.prompt_line", id=p.id, title=title))
            label = tr("mine.fill_in", title=shorten(title, 30))
            choices.append(Choice(label, f"/invullen {p.id}"))
    if drafts:
        choices.append(Choice(tr("mine.resume"), "/reflectie"))
    return [Text("\n".join(lines), choices=tuple(choices))]


def forget(ctx: Ctx) -> list[Reply]:
    """Ask for confirmation before deleting everything of the member."""
    conversation = ctx.store.get_conversation(ctx.member.id)
    ctx.store.save_conversation(replace(conversation, pending=PENDING_FORGET))
    tr = ctx.tr
    return [
        Text(
            tr("forget.confirm"),
            choices=(
                Choice(tr("forget.yes"), "/ja", "danger"),
                Choice(tr("forget.no"), "/nee"),
            ),
        )
    ]


def confirm(yes: bool, ctx: Ctx) -> list[Reply]:
    """Carry out (or call off) what is waiting for confirmation."""
    store = ctx.store
    conversation = store.get_conversation(ctx.member.id)
    if conversation.pending != PENDING_FORGET:
        return [Text(ctx.tr("confirm.nothing"))]
    store.save_conversation(replace(conversation, pending=None))
    if not yes:
        return [Text(ctx.tr("forget.kept"))]
    tr = ctx.tr  # render before the member is gone
    deleted = store.delete_member(ctx.member.id)
    ctx.index.remove(deleted)
    store.add_audit(None, "member.forget", f"member:{ctx.member.id}", ctx.now())
    return [Text(tr("forget.done", count=len(deleted)))]


def hide(reflection_id: int, ctx: Ctx) -> list[Reply]:
    """Let a coordinator hide an abusive lesson of their own organisation."""
    store = ctx.store
    if not ctx.member.is_coordinator:
        raise NotAllowed("hide.not_allowed")
    reflection = store.get_reflection(reflection_id)
    visible = store.visible_lessons(ctx.member, [reflection_id])
    # One answer for everything a coordinator may not moderate, so that probing ids tells
    # nothing: not whether a lesson exists, nor which anonymous ones are theirs.
    if (
        reflection is None
        or reflection_id not in visible
        or reflection.org_id != ctx.member.org_id
        or reflection.visibility is Visibility.ANONIEM
    ):
        raise NotFound("lesson.not_found")
    store.update_reflection(reflection_id, ctx.now(), hidden=True)
    ctx.index.remove([reflection_id])
    store.add_audit(ctx.member.id, "reflection.hide", f"reflection:{reflection_id}", ctx.now())
    return [Text(ctx.tr("hide.done", id=reflection_id))]
