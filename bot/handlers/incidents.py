"""Incidents and exercises: register them and schedule a prompt for every participant."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from bot.commands import RegisterIncident
from bot.errors import InvalidInput, NotFound
from bot.handlers.context import CHAT, Ctx
from bot.handlers.kudos import resolve_person
from bot.models import Identity, Incident, IncidentKind, Member
from bot.ports import Store
from bot.replies import Reply, Text
from bot.timing import PROMPT_EXPIRY, default_prompt_time, parse_when

MAX_TITLE = 200


def register(cmd: RegisterIncident, ctx: Ctx) -> list[Reply]:
    """Register an incident from chat; participants are the mentioned people (or you)."""
    title = cmd.title.strip()
    if len(title) > MAX_TITLE:
        raise InvalidInput("error.too_long", limit=MAX_TITLE)
    unknown: list[str] = []
    participants: list[Member] = []
    for who in cmd.participants:
        try:
            participants.append(resolve_person(who, ctx))
        except NotFound:
            unknown.append(who)
    if unknown:
        raise NotFound("incident.unknown_people", names=", ".join("@" + u for u in unknown))
    if not participants:
        participants = [ctx.member]
    prompt_at = None
    if cmd.at:
        prompt_at = parse_when(cmd.at, ctx.now(), ctx.member.timezone)
        if prompt_at is None:
            raise InvalidInput("incident.bad_time", text=cmd.at)
    incident = record_incident(
        ctx.store,
        org_id=ctx.member.org_id,
        title=title,
        kind=cmd.kind,
        occurred_at=ctx.now(),
        participants=participants,
        now=ctx.now(),
        prompt_at=prompt_at,
        created_by=ctx.member.id,
    )
    action, target = f"{cmd.kind.value}.add", f"incident:{incident.id}"
    ctx.store.add_audit(ctx.member.id, action, target, ctx.now(), via=CHAT)
    tr = ctx.tr
    names = ", ".join(p.name for p in participants)
    when = tr("incident.when_explicit") if prompt_at else tr("incident.when_default")
    return [
        Text(
            tr(
                f"incident.registered_{cmd.kind.value}",
                title=title,
                id=incident.id,
                names=names,
                when=when,
            )
        )
    ]


def record_incident(
    store: Store,
    *,
    org_id: int,
    title: str,
    kind: IncidentKind,
    occurred_at: datetime,
    participants: Sequence[Member],
    now: datetime,
    prompt_at: datetime | None = None,
    created_by: int | None = None,
) -> Incident:
    """Store an incident and one prompt per participant (the CLI and API use this too)."""
    if not title.strip():
        raise InvalidInput("incident.usage")
    unique = list({m.id: m for m in participants}.values())
    incident = store.add_incident(
        org_id,
        title.strip(),
        kind,
        occurred_at,
        now,
        participant_ids=[m.id for m in unique],
        created_by=created_by,
    )
    for member in unique:
        due = prompt_at or default_prompt_time(now, member.timezone)
        store.add_prompt(incident.id, member.id, due, now, expires_at=due + PROMPT_EXPIRY)
    return incident


def register_from_outside(
    store: Store,
    *,
    org_ref: str,
    title: str,
    kind: IncidentKind,
    occurred_at: datetime,
    participants: Sequence[Identity],
    when: str | None,
    now: datetime,
    timezone: str,
    audit_action: str,
    via: str,
) -> tuple[Incident, list[Member]]:
    """Register an incident for the CLI or the incident API: everything or nothing.

    Raises NotFound("org.unknown"), NotFound("incident.unknown_people", unknown=[…]) or
    InvalidInput("incident.bad_time") before anything is stored.
    """
    org = store.find_org(org_ref)
    if org is None:
        raise NotFound("org.unknown", name=org_ref)
    members: list[Member] = []
    unknown: list[str] = []
    for identity in participants:
        member = store.member_by_identity(identity)
        if member is None:
            unknown.append(str(identity))
        else:
            members.append(member)
    if unknown:
        raise NotFound("incident.unknown_people", names=", ".join(unknown), unknown=unknown)
    prompt_at = None
    if when is not None:
        prompt_at = parse_when(when, now, timezone)
        if prompt_at is None:
            raise InvalidInput("incident.bad_time", text=when)
    incident = record_incident(
        store,
        org_id=org.id,
        title=title,
        kind=kind,
        occurred_at=occurred_at,
        participants=members,
        now=now,
        prompt_at=prompt_at,
    )
    store.add_audit(None, audit_action, f"incident:{incident.id}", now, via=via)
    return incident, members
