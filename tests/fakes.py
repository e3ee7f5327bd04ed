"""Hand-written test doubles at the core's ports: store, index, clock, notifier.

The in-memory store keeps the same visibility rules as the SQL store (tested there
against real databases); the fake index ranks by shared words, deterministically.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.errors import ServiceUnavailable
from bot.models import (
    AuditEntry,
    Candidate,
    Conversation,
    Discipline,
    Feedback,
    Identity,
    Incident,
    IncidentKind,
    Invite,
    Kudos,
    Lesson,
    Member,
    NewReflection,
    Organisation,
    Prompt,
    PromptState,
    Reflection,
    Role,
    Visibility,
)
from bot.ports import Ranking
from bot.replies import Reply


@dataclass
class FixedClock:
    """A clock that moves only when a test says so."""

    current: datetime = field(default_factory=lambda: datetime(2026, 11, 30, 10, 0, tzinfo=UTC))

    def now(self) -> datetime:
        return self.current

    def advance(self, delta: timedelta) -> None:
        self.current += delta


@dataclass
class RecordingNotifier:
    """Records what the core wanted to deliver to other members."""

    sent: list[tuple[int, Reply]] = field(default_factory=list)

    def notify(self, member: Member, replies: Sequence[Reply]) -> None:
        self.sent.extend((member.id, r) for r in replies)

    def to(self, member_id: int) -> list[Reply]:
        return [r for mid, r in self.sent if mid == member_id]


def words(text: str) -> set[str]:
    return {w for w in re.findall(r"\w+", text.lower()) if len(w) > 2}


class FakeIndex:
    """Ranks lessons by the number of shared words: 'bm25' only, score = overlap count."""

    def __init__(self) -> None:
        self.docs: dict[int, set[str]] = {}

    def rankings(self, query: str, k: int) -> dict[str, Ranking]:
        q = words(query)
        scored = [(rid, float(len(q & d))) for rid, d in self.docs.items() if q & d]
        scored.sort(key=lambda item: (-item[1], item[0]))
        return {"bm25": scored[:k]}

    def add(self, reflections: Sequence[Reflection]) -> None:
        for r in reflections:
            self.docs[r.id] = words(r.search_text())

    def remove(self, reflection_ids: Sequence[int]) -> None:
        for rid in reflection_ids:
            self.docs.pop(rid, None)


_REFLECTION_FIELDS = {f.name for f in fields(NewReflection)} | {"hidden"}


class InMemoryStore:
    """The Store port in dictionaries; `transaction()` snapshots and restores on error."""

    def __init__(self) -> None:
        self.orgs: dict[int, Organisation] = {}
        self.members: dict[int, Member] = {}
        self.incidents: dict[int, Incident] = {}
        self.reflections: dict[int, Reflection] = {}
        self.embeddings: dict[tuple[int, str], tuple[str, bytes]] = {}
        self.kudos: dict[int, Kudos] = {}
        self.prompts: dict[int, Prompt] = {}
        self.feedback: list[tuple[int, int, bool, datetime]] = []
        self.processed: set[str] = set()
        self.conversations: dict[int, Conversation] = {}
        self.invites: dict[str, Invite] = {}
        self.notices: dict[int, list[str]] = {}
        self.last_digest: dict[int, datetime] = {}
        # (actor, action, target, when, via)
        self.audit: list[tuple[int | None, str, str, datetime, str | None]] = []
        # The index change log: (change id, reflection id, when); every change is logged.
        self.index_log: list[tuple[int, int, datetime]] = []
        self._last_change = 0  # its own counter: other ids stay as they were
        self._next = 0
        self.fail_next_commit = False  # simulates a database that fails at commit

    def _id(self) -> int:
        self._next += 1
        return self._next

    def _log_change(self, reflection_id: int, now: datetime) -> None:
        self._last_change += 1
        self.index_log.append((self._last_change, reflection_id, now))

    @contextmanager
    def transaction(self) -> Iterator[None]:
        snapshot = {k: _copy(v) for k, v in vars(self).items() if k != "fail_next_commit"}
        try:
            yield
            if self.fail_next_commit:
                self.fail_next_commit = False
                raise ServiceUnavailable()
        except BaseException:
            for key, value in snapshot.items():
                setattr(self, key, value)
            raise

    # organisations
    def add_org(
        self, name: str, slug: str, discipline: Discipline, slack_team: str | None = None
    ) -> Organisation:
        org = Organisation(self._id(), name, slug, discipline, slack_team)
        self.orgs[org.id] = org
        return org

    def get_org(self, org_id: int) -> Organisation | None:
        return self.orgs.get(org_id)

    def find_org(self, name_or_slug: str) -> Organisation | None:
        for org in self.orgs.values():
            if org.slug == name_or_slug or org.name.lower() == name_or_slug.lower():
                return org
        return None

    def org_by_slack_team(self, team_id: str) -> Organisation | None:
        return next((o for o in self.orgs.values() if o.slack_team == team_id), None)

    def list_orgs(self) -> list[Organisation]:
        return sorted(self.orgs.values(), key=lambda o: o.name)

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
        ids = (identity,) if identity else ()
        member = Member(self._id(), org_id, name, role, locale, timezone, True, ids)
        self.members[member.id] = member
        return member

    def get_member(self, member_id: int) -> Member | None:
        return self.members.get(member_id)

    def member_by_identity(self, identity: Identity) -> Member | None:
        return next((m for m in self.members.values() if identity in m.identities), None)

    def members_by_name(self, name: str) -> list[Member]:
        return [m for m in self.members.values() if m.name.lower() == name.lower()]

    def list_members(self, org_id: int | None = None) -> list[Member]:
        return [m for m in self.members.values() if org_id is None or m.org_id == org_id]

    def add_identity(self, member_id: int, identity: Identity) -> None:
        member = self.members[member_id]
        self.members[member_id] = replace(member, identities=(*member.identities, identity))

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
        changes = {
            k: v
            for k, v in {
                "name": name,
                "role": role,
                "locale": locale,
                "timezone": timezone,
                "digest": digest,
            }.items()
            if v is not None
        }
        if unreachable is not None:
            changes["reachable"] = not unreachable
        self.members[member_id] = replace(self.members[member_id], **changes)
        return self.members[member_id]

    def delete_member(self, member_id: int) -> list[int]:
        gone = [r.id for r in self.reflections.values() if r.member_id == member_id]
        for rid in gone:
            self.delete_reflection(rid)
        self.kudos = {
            k: v for k, v in self.kudos.items() if member_id not in (v.giver_id, v.receiver_id)
        }
        self.prompts = {k: v for k, v in self.prompts.items() if v.member_id != member_id}
        self.feedback = [f for f in self.feedback if f[0] != member_id]
        self.conversations.pop(member_id, None)
        self.notices.pop(member_id, None)
        self.last_digest.pop(member_id, None)
        self.audit = [(None if a == member_id else a, *rest) for a, *rest in self.audit]
        for iid, inc in self.incidents.items():
            ids = tuple(p for p in inc.participant_ids if p != member_id)
            self.incidents[iid] = replace(inc, participant_ids=ids)
        del self.members[member_id]
        return gone

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
        incident = Incident(
            self._id(), org_id, title, kind, occurred_at, created_at, tuple(participant_ids)
        )
        self.incidents[incident.id] = incident
        return incident

    def get_incident(self, incident_id: int) -> Incident | None:
        return self.incidents.get(incident_id)

    def incidents_of(self, member_id: int, limit: int = 10) -> list[Incident]:
        found = [i for i in self.incidents.values() if member_id in i.participant_ids]
        return sorted(found, key=lambda i: i.occurred_at, reverse=True)[:limit]

    def find_incidents(self, org_id: int, text: str, limit: int = 5) -> list[Incident]:
        found = [
            i
            for i in self.incidents.values()
            if i.org_id == org_id and text.lower() in i.title.lower()
        ]
        return sorted(found, key=lambda i: i.occurred_at, reverse=True)[:limit]

    # reflections
    def add_reflection(self, new: NewReflection, now: datetime) -> Reflection:
        values = {f.name: getattr(new, f.name) for f in fields(NewReflection)}
        values["created_at"] = values["created_at"] or now
        reflection = Reflection(id=self._id(), updated_at=now, **values)
        self.reflections[reflection.id] = reflection
        self._log_change(reflection.id, now)
        return reflection

    def update_reflection(self, reflection_id: int, now: datetime, **changes: Any) -> Reflection:
        unknown = set(changes) - _REFLECTION_FIELDS
        if unknown:
            raise TypeError(f"unknown fields {unknown}")
        updated = replace(self.reflections[reflection_id], updated_at=now, **changes)
        self.reflections[reflection_id] = updated
        self._log_change(reflection_id, now)
        return updated

    def get_reflection(self, reflection_id: int) -> Reflection | None:
        return self.reflections.get(reflection_id)

    def reflection_by_external_id(self, external_id: str) -> Reflection | None:
        return next((r for r in self.reflections.values() if r.external_id == external_id), None)

    def current_draft(self, member_id: int) -> Reflection | None:
        drafts = [r for r in self.reflections.values() if r.member_id == member_id and r.draft]
        return max(drafts, key=lambda r: r.id) if drafts else None

    def reflections_of(self, member_id: int, drafts: bool = False) -> list[Reflection]:
        return [
            r
            for r in sorted(self.reflections.values(), key=lambda r: -r.id)
            if r.member_id == member_id and (drafts or not r.draft)
        ]

    def delete_reflection(self, reflection_id: int) -> None:
        self.reflections.pop(reflection_id, None)
        self.embeddings = {k: v for k, v in self.embeddings.items() if k[0] != reflection_id}
        self._log_change(reflection_id, datetime.now(UTC))

    def _visible(self, r: Reflection, viewer: Member) -> bool:
        if r.draft or r.hidden:
            return False
        return (
            r.visibility in (Visibility.NETWERK, Visibility.ANONIEM)
            or (r.visibility is Visibility.ORGANISATIE and r.org_id == viewer.org_id)
            or (r.visibility is Visibility.PRIVE and r.member_id == viewer.id)
        )

    def _lesson(self, r: Reflection) -> Lesson:
        org = self.orgs[r.org_id]
        author = self.members.get(r.member_id) if r.member_id else None
        anonymous = r.visibility is Visibility.ANONIEM
        incident = self.incidents.get(r.incident_id) if r.incident_id and not anonymous else None
        created = r.created_at
        if anonymous:
            created = created.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        return Lesson(
            reflection_id=r.id,
            title=r.title,
            lesson=r.lesson,
            went_well=r.went_well,
            improve=r.improve,
            visibility=r.visibility,
            discipline=org.discipline,
            created_at=created,
            org_id=None if anonymous else org.id,
            org_name=None if anonymous else org.name,
            author_id=None if anonymous or author is None else author.id,
            author_name=None if anonymous or author is None else author.name,
            incident_title=incident.title if incident else None,
            incident_date=incident.occurred_at if incident else None,
            themes=r.themes,
            language=r.language,
            external_id=None if anonymous else r.external_id,
        )

    def visible_lessons(self, viewer: Member, reflection_ids: Sequence[int]) -> dict[int, Lesson]:
        out: dict[int, Lesson] = {}
        for rid in reflection_ids:
            r = self.reflections.get(rid)
            if r is not None and self._visible(r, viewer):
                out[rid] = self._lesson(r)
        return out

    def visible_candidates(
        self, viewer: Member, reflection_ids: Sequence[int]
    ) -> dict[int, Candidate]:
        return {
            rid: Candidate(rid, lesson.language, lesson.org_id, lesson.discipline)
            for rid, lesson in self.visible_lessons(viewer, reflection_ids).items()
        }

    def lessons_since(self, viewer: Member, since: datetime, limit: int = 50) -> list[Lesson]:
        found = [
            r
            for r in self.reflections.values()
            if r.created_at >= since and self._visible(r, viewer)
        ]
        found.sort(key=lambda r: r.created_at, reverse=True)
        return [self._lesson(r) for r in found[:limit]]

    def searchable_reflections(self, after_id: int = 0, limit: int = 500) -> list[Reflection]:
        found = sorted(
            (
                r
                for r in self.reflections.values()
                if r.id > after_id and not r.draft and not r.hidden
            ),
            key=lambda r: r.id,
        )
        return found[:limit]

    def count_searchable(self) -> int:
        return len(self.searchable_reflections(0, 10**9))

    def reflections_by_id(self, reflection_ids: Sequence[int]) -> dict[int, Reflection]:
        return {i: self.reflections[i] for i in reflection_ids if i in self.reflections}

    def last_index_change(self) -> int:
        return max((c for c, _, _ in self.index_log), default=0)

    def index_changes(
        self, after: int, also: Sequence[int] = (), limit: int = 1000
    ) -> list[tuple[int, int]]:
        newer = [(c, r) for c, r, _ in self.index_log if c > after][:limit]
        return sorted({*newer, *((c, r) for c, r, _ in self.index_log if c in set(also))})

    def prune_index_changes(self, before: datetime) -> int:
        newest = self.last_index_change()
        kept = [e for e in self.index_log if e[2] >= before or e[0] == newest]
        pruned = len(self.index_log) - len(kept)
        self.index_log = kept
        return pruned

    # embeddings
    def embeddings_by_hash(self, model: str, content_hashes: Sequence[str]) -> dict[str, bytes]:
        wanted = set(content_hashes)
        return {h: v for (_, m), (h, v) in self.embeddings.items() if m == model and h in wanted}

    def save_embedding(
        self, reflection_id: int, model: str, content_hash: str, vector: bytes
    ) -> None:
        self.embeddings[(reflection_id, model)] = (content_hash, vector)

    def iter_embeddings(self, model: str, batch: int = 1000) -> Iterator[tuple[int, bytes]]:
        searchable = {r.id for r in self.searchable_reflections(0, 10**9)}
        for (rid, m), (_, vector) in sorted(self.embeddings.items()):
            if m == model and rid in searchable:
                yield rid, vector

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
        kudos = Kudos(self._id(), giver_id, receiver_id, reason, now, reflection_id, incident_id)
        self.kudos[kudos.id] = kudos
        return kudos

    def count_kudos_given(self, giver_id: int, since: datetime) -> int:
        given = [k for k in self.kudos.values() if k.giver_id == giver_id]
        return sum(1 for k in given if k.created_at >= since)

    def kudos_received(self, member_id: int, since: datetime | None = None) -> list[Kudos]:
        return [
            k
            for k in sorted(self.kudos.values(), key=lambda k: -k.id)
            if k.receiver_id == member_id and (since is None or k.created_at >= since)
        ]

    def kudos_given(self, member_id: int) -> list[Kudos]:
        return [
            k for k in sorted(self.kudos.values(), key=lambda k: -k.id) if k.giver_id == member_id
        ]

    # prompts
    def add_prompt(
        self,
        incident_id: int,
        member_id: int,
        due_at: datetime,
        now: datetime,
        expires_at: datetime | None = None,
    ) -> Prompt:
        prompt = Prompt(
            self._id(),
            incident_id,
            member_id,
            due_at,
            PromptState.SCHEDULED,
            now,
            expires_at=expires_at,
        )
        self.prompts[prompt.id] = prompt
        return prompt

    def get_prompt(self, prompt_id: int) -> Prompt | None:
        return self.prompts.get(prompt_id)

    def prompts_of(
        self, member_id: int, states: Iterable[PromptState] | None = None
    ) -> list[Prompt]:
        wanted = set(states) if states is not None else set(PromptState)
        return [
            p
            for p in sorted(self.prompts.values(), key=lambda p: p.due_at)
            if p.member_id == member_id and p.state in wanted
        ]

    def update_prompt(self, prompt_id: int, now: datetime, **changes: Any) -> Prompt:
        self.prompts[prompt_id] = replace(self.prompts[prompt_id], **changes)
        return self.prompts[prompt_id]

    # prompt delivery
    def _next_message_due(
        self, p: Prompt, now: datetime, stale_before: datetime, due_before: datetime | None = None
    ) -> bool:
        if p.expires_at is not None and p.expires_at <= now:
            return False
        if not self.members[p.member_id].reachable:
            return False
        if p.state is PromptState.SCHEDULED or (
            p.state is PromptState.SENT and p.reminded_at is None
        ):
            return p.due_at <= (now if due_before is None else due_before)
        return (
            p.state is PromptState.SENDING
            and p.claimed_at is not None
            and p.claimed_at <= stale_before
        )

    def claim_due_prompts(
        self,
        now: datetime,
        worker: str,
        stale_before: datetime,
        limit: int = 5,
        member_id: int | None = None,
    ) -> list[Prompt]:
        due = sorted(
            (
                p
                for p in self.prompts.values()
                if self._next_message_due(p, now, stale_before)
                and (member_id is None or p.member_id == member_id)
            ),
            key=lambda p: (p.due_at, p.id),
        )[:limit]
        claimed = [
            replace(
                p,
                state=PromptState.SENDING,
                claimed_by=worker,
                claimed_at=now,
                attempts=p.attempts + 1,
            )
            for p in due
        ]
        self.prompts.update((p.id, p) for p in claimed)
        return claimed

    def finish_prompt_claim(self, claimed: Prompt, **changes: Any) -> bool:
        current = self.prompts.get(claimed.id)
        if (
            current is None
            or current.state is not PromptState.SENDING
            or (current.claimed_by, current.attempts) != (claimed.claimed_by, claimed.attempts)
        ):
            return False
        self.prompts[claimed.id] = replace(current, **changes)
        return True

    def expire_prompts(self, now: datetime, stale_before: datetime) -> int:
        expired = [
            p
            for p in self.prompts.values()
            if p.expires_at is not None
            and p.expires_at <= now
            and (
                p.state in (PromptState.SCHEDULED, PromptState.SENT)
                or (
                    p.state is PromptState.SENDING
                    and p.claimed_at is not None
                    and p.claimed_at <= stale_before
                )
            )
        ]
        for p in expired:
            self.prompts[p.id] = replace(p, state=PromptState.EXPIRED)
        return len(expired)

    def count_overdue_prompts(
        self, now: datetime, due_before: datetime, stale_before: datetime
    ) -> int:
        return sum(
            1
            for p in self.prompts.values()
            if self._next_message_due(p, now, stale_before, due_before)
        )

    def count_failing_prompts(self) -> int:
        open_states = (PromptState.SCHEDULED, PromptState.SENDING, PromptState.SENT)
        return sum(
            1 for p in self.prompts.values() if p.state in open_states and p.last_error is not None
        )

    def prompts_for_org(
        self, org_id: int, states: Iterable[PromptState] | None = None, limit: int = 1000
    ) -> list[Prompt]:
        wanted = set(states) if states is not None else set(PromptState)
        found = [
            p
            for p in self.prompts.values()
            if self.incidents[p.incident_id].org_id == org_id and p.state in wanted
        ]
        return sorted(found, key=lambda p: (p.created_at, p.id), reverse=True)[:limit]

    def digest_recipients(self) -> list[tuple[Member, datetime | None]]:
        return [(m, self.last_digest.get(m.id)) for m in self.members.values() if m.digest]

    def swap_last_digest(
        self, member_id: int, expected: datetime | None, value: datetime | None
    ) -> bool:
        if self.last_digest.get(member_id) != expected:
            return False
        if value is None:
            self.last_digest.pop(member_id, None)
        else:
            self.last_digest[member_id] = value
        return True

    # feedback, events, conversations, invites, notices, audit
    def add_feedback(
        self, member_id: int, reflection_id: int, helpful: bool, now: datetime
    ) -> None:
        # A second vote replaces the first, as in the SQL store.
        kept = [f for f in self.feedback if (f[0], f[1]) != (member_id, reflection_id)]
        self.feedback = [*kept, (member_id, reflection_id, helpful, now)]

    def feedback_of(self, member_id: int) -> list[Feedback]:
        mine = [Feedback(*f) for f in self.feedback if f[0] == member_id]
        return sorted(mine, key=lambda f: f.created_at, reverse=True)

    def mark_processed(self, event_key: str, now: datetime) -> bool:
        if event_key in self.processed:
            return False
        self.processed.add(event_key)
        return True

    def get_conversation(self, member_id: int) -> Conversation:
        return self.conversations.get(member_id, Conversation(member_id))

    def save_conversation(self, conversation: Conversation) -> None:
        self.conversations[conversation.member_id] = conversation

    def add_invite(self, invite: Invite) -> None:
        self.invites[invite.code] = invite

    def get_invite(self, code: str) -> Invite | None:
        return self.invites.get(code)

    def use_invite(self, code: str) -> None:
        invite = self.invites[code]
        self.invites[code] = replace(invite, uses_left=invite.uses_left - 1)

    def add_notice(self, member_id: int, body: str, now: datetime) -> None:
        self.notices.setdefault(member_id, []).append(body)

    def take_notices(self, member_id: int) -> list[str]:
        return self.notices.pop(member_id, [])

    def add_audit(
        self,
        actor_id: int | None,
        action: str,
        target: str,
        now: datetime,
        via: str | None = None,
    ) -> None:
        self.audit.append((actor_id, action, target, now, via))

    def audit_entries(self, limit: int = 50, actor_id: int | None = None) -> list[AuditEntry]:
        entries = [AuditEntry(n, *a) for n, a in enumerate(self.audit, 1)]
        if actor_id is not None:
            entries = [e for e in entries if e.actor_id == actor_id]
        entries.sort(key=lambda e: (e.created_at, e.id), reverse=True)
        return entries[:limit]


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list | set):
        return type(value)(_copy(v) for v in value)
    return value
