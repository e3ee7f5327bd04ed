"""Turn ORM rows into the core's frozen dataclasses (the store never hands out rows)."""

from __future__ import annotations

from datetime import datetime

from bot.models import (
    Discipline,
    Identity,
    Incident,
    IncidentKind,
    Kudos,
    Lesson,
    LoopLevel,
    Member,
    Organisation,
    Prompt,
    PromptState,
    Reflection,
    Role,
    Visibility,
)
from storage.tables import (
    IncidentRow,
    KudosRow,
    MemberRow,
    OrganisationRow,
    PromptRow,
    ReflectionRow,
    as_utc,
)


def org(row: OrganisationRow) -> Organisation:
    """Convert an organisation row."""
    return Organisation(
        id=row.id,
        name=row.name,
        slug=row.slug,
        discipline=Discipline(row.discipline),
        slack_team=row.slack_team,
    )


def member(row: MemberRow) -> Member:
    """Convert a member row, with its identities."""
    return Member(
        id=row.id,
        org_id=row.org_id,
        name=row.name,
        role=Role(row.role),
        locale=row.locale,
        timezone=row.timezone,
        digest=row.digest,
        identities=tuple(Identity(i.platform, i.user_id) for i in row.identities),
        reachable=not row.unreachable,
    )


def incident(row: IncidentRow) -> Incident:
    """Convert an incident row, with its participants."""
    return Incident(
        id=row.id,
        org_id=row.org_id,
        title=row.title,
        kind=IncidentKind(row.kind),
        occurred_at=as_utc(row.occurred_at),
        created_at=as_utc(row.created_at),
        participant_ids=tuple(p.member_id for p in row.participants),
    )


def reflection(row: ReflectionRow) -> Reflection:
    """Convert a reflection row."""
    return Reflection(
        id=row.id,
        member_id=row.member_id,
        org_id=row.org_id,
        went_well=row.went_well,
        improve=row.improve,
        lesson=row.lesson,
        visibility=Visibility(row.visibility),
        created_at=as_utc(row.created_at),
        updated_at=as_utc(row.updated_at),
        incident_id=row.incident_id,
        loop_level=LoopLevel(row.loop_level) if row.loop_level else None,
        themes=tuple(row.themes or ()),
        language=row.language,
        draft=row.draft,
        draft_step=row.draft_step,
        thanks=row.thanks,
        title=row.title,
        external_id=row.external_id,
        source=row.source,
        hidden=row.hidden,
    )


def lesson(
    row: ReflectionRow,
    org_row: OrganisationRow,
    author: tuple[int | None, str | None],
    incident_row: tuple[str | None, datetime | None],
) -> Lesson:
    """Build the lesson a viewer sees; `anoniem` drops author and organisation here.

    Anything that points at them goes too: the incident (its title names places and
    organisations, and its participant list is short), the external id, and the exact date.
    """
    anonymous = row.visibility == Visibility.ANONIEM
    author_id, author_name = (None, None) if anonymous else author
    incident_title, incident_date = (None, None) if anonymous else incident_row
    created_at = as_utc(row.created_at)
    if anonymous:
        created_at = created_at.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return Lesson(
        reflection_id=row.id,
        title=row.title,
        lesson=row.lesson,
        went_well=row.went_well,
        improve=row.improve,
        visibility=Visibility(row.visibility),
        discipline=Discipline(org_row.discipline),
        created_at=created_at,
        org_id=None if anonymous else org_row.id,
        org_name=None if anonymous else org_row.name,
        author_id=author_id,
        author_name=author_name,
        incident_title=incident_title,
        incident_date=as_utc(incident_date),
        themes=tuple(row.themes or ()),
        language=row.language,
        external_id=None if anonymous else row.external_id,
    )


def kudos(row: KudosRow) -> Kudos:
    """Convert a kudos row."""
    return Kudos(
        id=row.id,
        giver_id=row.giver_id,
        receiver_id=row.receiver_id,
        reason=row.reason,
        created_at=as_utc(row.created_at),
        reflection_id=row.reflection_id,
        incident_id=row.incident_id,
    )


def prompt(row: PromptRow) -> Prompt:
    """Convert a prompt row."""
    return Prompt(
        id=row.id,
        incident_id=row.incident_id,
        member_id=row.member_id,
        due_at=as_utc(row.due_at),
        state=PromptState(row.state),
        created_at=as_utc(row.created_at),
        sent_at=as_utc(row.sent_at),
        reminded_at=as_utc(row.reminded_at),
        answered_at=as_utc(row.answered_at),
        reflection_id=row.reflection_id,
        attempts=row.attempts or 0,
        claimed_by=row.claimed_by,
        claimed_at=as_utc(row.claimed_at),
        expires_at=as_utc(row.expires_at),
        last_error=row.last_error,
    )
