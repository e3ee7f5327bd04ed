"""A member's own data: overview (mijn), export (mijn export), deleting everything
(vergeet), and moderation by coordinators (verberg, toon). Each of these but the overview
leaves a line in the audit trail, without any reflection text.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime
from typing import Any

from bot.errors import NotAllowed, NotFound
from bot.handlers.context import CHAT, Ctx
from bot.handlers.kudos import known_receiver, kudos_lines
from bot.handlers.prompts import OPEN
from bot.models import Kudos, Member, Prompt, Reflection, Visibility
from bot.ports import Store
from bot.replies import Choice, File, Reply, Text
from bot.texts import shorten

PENDING_FORGET = "forget"
EXPORT_FORMAT = "leerlus-member-export/1"


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
    # The member id only: who they were and what they wrote is gone, also from here.
    store.add_audit(None, "member.forget", f"member:{ctx.member.id}", ctx.now(), via=CHAT)
    return [Text(tr("forget.done", count=len(deleted)))]


def hide(reflection_id: int, ctx: Ctx) -> list[Reply]:
    """Let a coordinator hide an abusive lesson of their own organisation."""
    store = ctx.store
    if not ctx.member.is_coordinator:
        raise NotAllowed("hide.not_allowed")
    reflection = store.get_reflection(reflection_id)
    visible = store.visible_lessons(ctx.member, [reflection_id])
    if reflection is None or reflection_id not in visible or not _moderates(ctx.member, reflection):
        raise NotFound("lesson.not_found")
    store.update_reflection(reflection_id, ctx.now(), hidden=True)
    ctx.index.remove([reflection_id])
    store.add_audit(
        ctx.member.id, "reflection.hide", f"reflection:{reflection_id}", ctx.now(), via=CHAT
    )
    return [Text(ctx.tr("hide.done", id=reflection_id))]


def unhide(reflection_id: int, ctx: Ctx) -> list[Reply]:
    """Let a coordinator show a lesson of their organisation again that was hidden."""
    store = ctx.store
    if not ctx.member.is_coordinator:
        raise NotAllowed("hide.not_allowed")
    reflection = store.get_reflection(reflection_id)
    if (
        reflection is None
        or not reflection.hidden
        or reflection.draft
        or not _moderates(ctx.member, reflection)
    ):
        raise NotFound("lesson.not_found")
    shown = store.update_reflection(reflection_id, ctx.now(), hidden=False)
    ctx.index.add([shown])
    store.add_audit(
        ctx.member.id, "reflection.unhide", f"reflection:{reflection_id}", ctx.now(), via=CHAT
    )
    return [Text(ctx.tr("unhide.done", id=reflection_id))]


def _moderates(coordinator: Member, reflection: Reflection) -> bool:
    """Whether a coordinator may hide or show this lesson: their organisation's, and one
    they could see. One answer for everything else, so that probing ids tells nothing:
    not whether a lesson exists, nor which anonymous ones are their organisation's."""
    if reflection.org_id != coordinator.org_id:
        return False
    if reflection.visibility is Visibility.ANONIEM:
        return False
    return reflection.visibility is not Visibility.PRIVE or reflection.member_id == coordinator.id


def export_mine(ctx: Ctx) -> list[Reply]:
    """Give the member everything the bot holds about them, as a JSON file."""
    member, now = ctx.member, ctx.now()
    data = member_data(member, store=ctx.store, now=now)
    content = json.dumps(data, ensure_ascii=False, indent=2).encode("utf-8")
    ctx.store.add_audit(member.id, "member.export", f"member:{member.id}", now, via=CHAT)
    return [
        File(
            name=f"leerlus-{member.id}-{now:%Y%m%d}.json",
            content=content,
            mime="application/json",
            caption=ctx.tr("export.caption", count=len(data["reflections"])),
        )
    ]


def _when(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def member_data(member: Member, *, store: Store, now: datetime) -> dict[str, Any]:
    """Everything the bot holds about a member, as plain JSON-ready data.

    Others appear only as the member already knows them: the people who thanked them by
    name, the authors of anonymous lessons they thanked not at all.
    """
    org = store.get_org(member.org_id)
    conversation = store.get_conversation(member.id)
    return {
        "format": EXPORT_FORMAT,
        "exported_at": now.isoformat(),
        "member": {
            "id": member.id,
            "name": member.name,
            "role": member.role.value,
            "locale": member.locale,
            "timezone": member.timezone,
            "digest": member.digest,
            "reachable": member.reachable,
            "organisation": {
                "id": org.id,
                "name": org.name,
                "slug": org.slug,
                "discipline": org.discipline.value,
            }
            if org
            else None,
        },
        "identities": [{"platform": i.platform, "user_id": i.user_id} for i in member.identities],
        "reflections": [_reflection(r) for r in store.reflections_of(member.id, drafts=True)],
        "kudos_received": [
            _kudos(k, "from", store.get_member(k.giver_id)) for k in store.kudos_received(member.id)
        ],
        "kudos_given": [
            _kudos(k, "to", known_receiver(k, member, store)) for k in store.kudos_given(member.id)
        ],
        "feedback": [
            {"reflection_id": f.reflection_id, "helpful": f.helpful, "at": _when(f.created_at)}
            for f in store.feedback_of(member.id)
        ],
        "prompts": [_prompt(p, store) for p in store.prompts_of(member.id)],
        "incidents": [
            {
                "id": i.id,
                "title": i.title,
                "kind": i.kind.value,
                "occurred_at": _when(i.occurred_at),
            }
            for i in store.incidents_of(member.id, limit=10_000)
        ],
        "conversation": {
            "last_query": conversation.last_query,
            "shown": list(conversation.shown),
            "pending": conversation.pending,
            "data": dict(conversation.data),
        },
        "audit": [
            {"action": a.action, "target": a.target, "at": _when(a.created_at), "via": a.via}
            for a in store.audit_entries(limit=10_000, actor_id=member.id)
        ],
    }


def _kudos(kudos: Kudos, role: str, other: Member | None) -> dict[str, Any]:
    return {
        "id": kudos.id,
        role: {"id": other.id, "name": other.name} if other else None,
        "reason": kudos.reason,
        "at": _when(kudos.created_at),
        "reflection_id": kudos.reflection_id,
        "incident_id": kudos.incident_id,
    }


def _reflection(r: Reflection) -> dict[str, Any]:
    return {
        "id": r.id,
        "draft": r.draft,
        "hidden": r.hidden,
        "visibility": r.visibility.value,
        "went_well": r.went_well,
        "improve": r.improve,
        "lesson": r.lesson,
        "title": r.title,
        "thanks": r.thanks,
        "loop_level": r.loop_level.value if r.loop_level else None,
        "themes": list(r.themes),
        "language": r.language,
        "incident_id": r.incident_id,
        "created_at": _when(r.created_at),
        "updated_at": _when(r.updated_at),
    }


def _prompt(p: Prompt, store: Store) -> dict[str, Any]:
    incident = store.get_incident(p.incident_id)
    return {
        "id": p.id,
        "incident_id": p.incident_id,
        "incident": incident.title if incident else None,
        "state": p.state.value,
        "due_at": _when(p.due_at),
        "sent_at": _when(p.sent_at),
        "reminded_at": _when(p.reminded_at),
        "answered_at": _when(p.answered_at),
        "reflection_id": p.reflection_id,
    }
