"""Organisations, members, their identities, and incidents."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from bot.errors import NotFound
from bot.models import Discipline, Identity, Incident, IncidentKind, Member, Organisation, Role
from storage import convert
from storage.session import SessionScope
from storage.tables import (
    AuditRow,
    ConversationRow,
    EmbeddingRow,
    FeedbackRow,
    IdentityRow,
    IncidentParticipantRow,
    IncidentRow,
    InviteRow,
    KudosRow,
    MemberRow,
    NoticeRow,
    OrganisationRow,
    PromptRow,
    ReflectionRow,
)


class PeopleStore(SessionScope):
    """The part of SqlStore about who is who."""

    # organisations

    def add_org(
        self, name: str, slug: str, discipline: Discipline, slack_team: str | None = None
    ) -> Organisation:
        """Create an organisation."""
        with self._session() as s:
            row = OrganisationRow(
                name=name, slug=slug, discipline=str(discipline), slack_team=slack_team
            )
            s.add(row)
            s.flush()
            return convert.org(row)

    def get_org(self, org_id: int) -> Organisation | None:
        """Return the organisation with this id."""
        with self._session() as s:
            row = s.get(OrganisationRow, org_id)
            return convert.org(row) if row else None

    def find_org(self, name_or_slug: str) -> Organisation | None:
        """Find by slug or case-insensitive name."""
        text = name_or_slug.strip()
        with self._session() as s:
            rows = s.scalars(
                select(OrganisationRow).where(
                    or_(
                        OrganisationRow.slug == text,
                        func.lower(OrganisationRow.name) == text.lower(),
                    )
                )
            ).all()
            # A slug is the exact key; prefer it if a name of another org matches too.
            rows = sorted(rows, key=lambda r: r.slug != text)
            return convert.org(rows[0]) if rows else None

    def org_by_slack_team(self, team_id: str) -> Organisation | None:
        """Return the organisation mapped to this Slack workspace."""
        with self._session() as s:
            row = s.scalar(select(OrganisationRow).where(OrganisationRow.slack_team == team_id))
            return convert.org(row) if row else None

    def list_orgs(self) -> list[Organisation]:
        """Return all organisations by name."""
        with self._session() as s:
            rows = s.scalars(select(OrganisationRow).order_by(OrganisationRow.name))
            return [convert.org(r) for r in rows]

    # members

    def add_member(
        self,
        org_id: int,
        name: str,
        identity: Identity | None = None,
        role: Role = Role.MEMBER,
        locale: str = "nl",
        timezone: str = "Europe/Amsterdam",
    ) -> Member:
        """Create a member, optionally with a first platform identity."""
        with self._session() as s:
            row = MemberRow(
                org_id=org_id,
                name=name,
                role=str(role),
                locale=locale,
                timezone=timezone,
                digest=True,
                unreachable=False,
            )
            if identity is not None:
                row.identities.append(
                    IdentityRow(platform=identity.platform, user_id=identity.user_id)
                )
            s.add(row)
            s.flush()
            return convert.member(row)

    def get_member(self, member_id: int) -> Member | None:
        """Return the member with this id."""
        with self._session() as s:
            row = s.get(MemberRow, member_id)
            return convert.member(row) if row else None

    def member_by_identity(self, identity: Identity) -> Member | None:
        """Return the member who owns this platform account."""
        with self._session() as s:
            row = s.scalar(
                select(MemberRow)
                .join(IdentityRow, IdentityRow.member_id == MemberRow.id)
                .where(
                    IdentityRow.platform == identity.platform,
                    IdentityRow.user_id == identity.user_id,
                )
            )
            return convert.member(row) if row else None

    def members_by_name(self, name: str) -> list[Member]:
        """Members whose name matches case-insensitively (exact match)."""
        with self._session() as s:
            rows = s.scalars(
                select(MemberRow)
                .where(func.lower(MemberRow.name) == name.strip().lower())
                .order_by(MemberRow.id)
            )
            return [convert.member(r) for r in rows]

    def list_members(self, org_id: int | None = None) -> list[Member]:
        """Return all members, or those of one organisation, by id."""
        query = select(MemberRow).order_by(MemberRow.id)
        if org_id is not None:
            query = query.where(MemberRow.org_id == org_id)
        with self._session() as s:
            return [convert.member(r) for r in s.scalars(query)]

    def add_identity(self, member_id: int, identity: Identity) -> None:
        """Link another platform account to a member."""
        with self._session() as s:
            s.add(
                IdentityRow(
                    member_id=member_id, platform=identity.platform, user_id=identity.user_id
                )
            )
            s.flush()

    def update_member(
        self,
        member_id: int,
        *,
        name: str | None = None,
        role: Role | None = None,
        locale: str | None = None,
        timezone: str | None = None,
        digest: bool | None = None,
        unreachable: bool | None = None,
    ) -> Member:
        """Change the given fields of a member; None leaves a field as it is."""
        with self._session() as s:
            row = s.get(MemberRow, member_id)
            if row is None:
                raise NotFound(id=member_id)
            if name is not None:
                row.name = name
            if role is not None:
                row.role = str(role)
            if locale is not None:
                row.locale = locale
            if timezone is not None:
                row.timezone = timezone
            if digest is not None:
                row.digest = digest
            if unreachable is not None:
                row.unreachable = unreachable
            s.flush()
            return convert.member(row)

    def delete_member(self, member_id: int) -> list[int]:
        """Delete a member and all their data; return the ids of deleted reflections."""
        # Explicit statements rather than ON DELETE rules alone: the result must not depend
        # on whether SQLite's foreign_keys pragma was on for this connection.
        with self._session() as s:
            ids = list(
                s.scalars(
                    select(ReflectionRow.id)
                    .where(ReflectionRow.member_id == member_id)
                    .order_by(ReflectionRow.id)
                )
            )
            self._delete_reflection_rows(s, ids)
            mine = [
                delete(KudosRow).where(
                    or_(KudosRow.giver_id == member_id, KudosRow.receiver_id == member_id)
                ),
                delete(FeedbackRow).where(FeedbackRow.member_id == member_id),
                delete(IdentityRow).where(IdentityRow.member_id == member_id),
                delete(IncidentParticipantRow).where(IncidentParticipantRow.member_id == member_id),
                delete(PromptRow).where(PromptRow.member_id == member_id),
                delete(ConversationRow).where(ConversationRow.member_id == member_id),
                delete(NoticeRow).where(NoticeRow.member_id == member_id),
            ]
            for statement in mine:
                s.execute(statement)
            # What others still need stays, without a trace of who did it.
            s.execute(update(AuditRow).where(AuditRow.actor_id == member_id).values(actor_id=None))
            s.execute(
                update(IncidentRow)
                .where(IncidentRow.created_by == member_id)
                .values(created_by=None)
            )
            s.execute(
                update(InviteRow).where(InviteRow.created_by == member_id).values(created_by=None)
            )
            s.execute(delete(MemberRow).where(MemberRow.id == member_id))
            s.expire_all()
            return ids

    @staticmethod
    def _delete_reflection_rows(s: Session, ids: Sequence[int]) -> None:
        """Delete reflections and everything that points at them."""
        if not ids:
            return
        s.execute(delete(EmbeddingRow).where(EmbeddingRow.reflection_id.in_(ids)))
        s.execute(delete(FeedbackRow).where(FeedbackRow.reflection_id.in_(ids)))
        s.execute(
            update(KudosRow).where(KudosRow.reflection_id.in_(ids)).values(reflection_id=None)
        )
        s.execute(
            update(PromptRow).where(PromptRow.reflection_id.in_(ids)).values(reflection_id=None)
        )
        s.execute(delete(ReflectionRow).where(ReflectionRow.id.in_(ids)))

    # incidents

    def add_incident(
        self,
        org_id: int,
        title: str,
        kind: IncidentKind,
        occurred_at: datetime,
        created_at: datetime,
        participant_ids: Sequence[int] = (),
        created_by: int | None = None,
    ) -> Incident:
        """Register an incident or exercise with its participants."""
        with self._session() as s:
            row = IncidentRow(
                org_id=org_id,
                title=title,
                kind=str(kind),
                occurred_at=occurred_at,
                created_at=created_at,
                created_by=created_by,
            )
            row.participants = [
                IncidentParticipantRow(member_id=m) for m in sorted(set(participant_ids))
            ]
            s.add(row)
            s.flush()
            return convert.incident(row)

    def get_incident(self, incident_id: int) -> Incident | None:
        """Return the incident with this id."""
        with self._session() as s:
            row = s.get(IncidentRow, incident_id)
            return convert.incident(row) if row else None

    def incidents_of(self, member_id: int, limit: int = 10) -> list[Incident]:
        """Recent incidents the member took part in, newest first."""
        with self._session() as s:
            rows = s.scalars(
                select(IncidentRow)
                .join(IncidentParticipantRow, IncidentParticipantRow.incident_id == IncidentRow.id)
                .where(IncidentParticipantRow.member_id == member_id)
                .order_by(IncidentRow.occurred_at.desc(), IncidentRow.id.desc())
                .limit(limit)
            )
            return [convert.incident(r) for r in rows]

    def find_incidents(self, org_id: int, text: str, limit: int = 5) -> list[Incident]:
        """Incidents of the organisation whose title contains `text`, newest first."""
        with self._session() as s:
            rows = s.scalars(
                select(IncidentRow)
                .where(
                    IncidentRow.org_id == org_id,
                    func.lower(IncidentRow.title).contains(text.strip().lower(), autoescape=True),
                )
                .order_by(IncidentRow.occurred_at.desc(), IncidentRow.id.desc())
                .limit(limit)
            )
            return [convert.incident(r) for r in rows]
