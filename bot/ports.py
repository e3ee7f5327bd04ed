"""The ports: what the core needs from the outside world, as Protocols.

Implementations live in `storage/` (Store), `embeddings/` (Encoder, SearchIndex) and
`adapters/` (Notifier, Clock); hand-written fakes for tests live in `tests/fakes.py`.

Transactions: the caller owns them. `Bot.handle` runs each command inside
`store.transaction()`; store methods never commit on their own inside one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, Protocol

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
)
from bot.replies import Reply

# A float32 matrix (numpy), one L2-normalised row per text. The core never looks inside.
Vectors = Any


class Clock(Protocol):
    def now(self) -> datetime:
        """Return the current time, timezone-aware (UTC)."""
        ...


class Notifier(Protocol):
    def notify(self, member: Member, replies: Sequence[Reply]) -> None:
        """Deliver replies to a member who did not ask for them (a direct message)."""
        ...


class Encoder(Protocol):
    """Turns texts into vectors; questions and lessons may be encoded differently."""

    @property
    def name(self) -> str:
        """Short key of the encoder: names its index file and its ranking ("e5")."""
        ...

    @property
    def model_id(self) -> str:
        """Full identity of the model, stored with every vector it made."""
        ...

    @property
    def dim(self) -> int:
        """Length of the vectors (may load the model)."""
        ...

    def encode_queries(self, texts: Sequence[str]) -> Vectors:
        """Return one normalised vector per question."""
        ...

    def encode_passages(self, texts: Sequence[str]) -> Vectors:
        """Return one normalised vector per lesson text."""
        ...


Ranking = list[tuple[int, float]]  # (reflection id, score), best first


class SearchIndex(Protocol):
    """Finds candidate lessons for a question; the core fuses and filters them."""

    def rankings(self, query: str, k: int) -> dict[str, Ranking]:
        """Return the top `k` reflection ids per method (e.g. "bm25", "e5"), best first."""
        ...

    def add(self, reflections: Sequence[Reflection]) -> None:
        """Make finished, visible-to-someone reflections searchable (replaces same ids)."""
        ...

    def remove(self, reflection_ids: Sequence[int]) -> None:
        """Forget reflections (deleted, hidden or turned into drafts)."""
        ...


ProgressFn = Callable[[int, int], None]


class Store(Protocol):
    """Persistence of everything the core keeps. Visibility is enforced here, in the query."""

    def transaction(self) -> AbstractContextManager[None]:
        """Run the enclosed calls in one transaction: commit on success, roll back on error."""
        ...

    # organisations
    def add_org(
        self, name: str, slug: str, discipline: Discipline, slack_team: str | None = None
    ) -> Organisation: ...
    def get_org(self, org_id: int) -> Organisation | None: ...
    def find_org(self, name_or_slug: str) -> Organisation | None:
        """Find by slug or case-insensitive name."""
        ...

    def org_by_slack_team(self, team_id: str) -> Organisation | None: ...
    def list_orgs(self) -> list[Organisation]: ...

    # members
    def add_member(
        self,
        org_id: int,
        name: str,
        identity: Identity | None = None,
        role: Role = Role.MEMBER,
        locale: str = "nl",
        timezone: str = "Europe/Amsterdam",
    ) -> Member: ...
    def get_member(self, member_id: int) -> Member | None: ...
    def member_by_identity(self, identity: Identity) -> Member | None: ...
    def members_by_name(self, name: str) -> list[Member]:
        """Members whose name matches case-insensitively (exact match)."""
        ...

    def list_members(self, org_id: int | None = None) -> list[Member]: ...
    def add_identity(self, member_id: int, identity: Identity) -> None: ...
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
    ) -> Member: ...
    def delete_member(self, member_id: int) -> list[int]:
        """Delete a member and all their data; return the ids of deleted reflections."""
        ...

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
    ) -> Incident: ...
    def get_incident(self, incident_id: int) -> Incident | None: ...
    def incidents_of(self, member_id: int, limit: int = 10) -> list[Incident]:
        """Recent incidents the member took part in, newest first."""
        ...

    def find_incidents(self, org_id: int, text: str, limit: int = 5) -> list[Incident]:
        """Incidents of the organisation whose title contains `text`, newest first."""
        ...

    # reflections
    def add_reflection(self, new: NewReflection, now: datetime) -> Reflection: ...
    def update_reflection(self, reflection_id: int, now: datetime, **changes: Any) -> Reflection:
        """Change fields of a reflection (any field of `NewReflection`, plus `hidden`)."""
        ...

    def get_reflection(self, reflection_id: int) -> Reflection | None: ...
    def reflection_by_external_id(self, external_id: str) -> Reflection | None: ...
    def current_draft(self, member_id: int) -> Reflection | None:
        """The member's most recent draft reflection, if any."""
        ...

    def reflections_of(self, member_id: int, drafts: bool = False) -> list[Reflection]: ...
    def delete_reflection(self, reflection_id: int) -> None: ...
    def visible_lessons(self, viewer: Member, reflection_ids: Sequence[int]) -> dict[int, Lesson]:
        """The lessons among `reflection_ids` that `viewer` may see, anonymised as needed.

        Drafts and hidden reflections are never returned. The filter runs in the query.
        """
        ...

    def visible_candidates(
        self, viewer: Member, reflection_ids: Sequence[int]
    ) -> dict[int, Candidate]:
        """What ranking needs of the lessons among `reflection_ids` that `viewer` may see.

        The same filter and anonymisation as `visible_lessons`, without the texts.
        """
        ...

    def lessons_since(self, viewer: Member, since: datetime, limit: int = 50) -> list[Lesson]:
        """Finished lessons created since `since` that `viewer` may see, newest first."""
        ...

    def searchable_reflections(self, after_id: int = 0, limit: int = 500) -> list[Reflection]:
        """Finished, non-hidden reflections with id > after_id, by id (for indexing)."""
        ...

    def count_searchable(self) -> int: ...
    def reflections_by_id(self, reflection_ids: Sequence[int]) -> dict[int, Reflection]:
        """The reflections with these ids that exist, whatever their state."""
        ...

    # the index change log: every add, edit, hide or delete of a lesson writes an entry
    # (ids only grow) in the same transaction, so each process's index can catch up
    def last_index_change(self) -> int: ...
    def index_changes(
        self, after: int, also: Sequence[int] = (), limit: int = 1000
    ) -> list[tuple[int, int]]:
        """(change id, reflection id) of entries after `after` (`limit` of them) or in `also`."""
        ...

    def prune_index_changes(self, before: datetime) -> int:
        """Delete entries older than `before` (keeping the newest); return how many."""
        ...

    # embeddings (vectors are float32 bytes)
    def embeddings_by_hash(self, model: str, content_hashes: Sequence[str]) -> dict[str, bytes]: ...
    def save_embedding(
        self, reflection_id: int, model: str, content_hash: str, vector: bytes
    ) -> None: ...
    def iter_embeddings(self, model: str, batch: int = 1000) -> Iterator[tuple[int, bytes]]:
        """Yield (reflection id, vector) of searchable reflections for `model`."""
        ...

    # kudos
    def add_kudos(
        self,
        giver_id: int,
        receiver_id: int,
        reason: str,
        now: datetime,
        reflection_id: int | None = None,
        incident_id: int | None = None,
    ) -> Kudos: ...
    def count_kudos_given(self, giver_id: int, since: datetime) -> int: ...
    def kudos_received(self, member_id: int, since: datetime | None = None) -> list[Kudos]: ...
    def kudos_given(self, member_id: int) -> list[Kudos]: ...

    # prompts
    def add_prompt(
        self,
        incident_id: int,
        member_id: int,
        due_at: datetime,
        now: datetime,
        expires_at: datetime | None = None,
    ) -> Prompt: ...
    def get_prompt(self, prompt_id: int) -> Prompt | None: ...
    def prompts_of(
        self, member_id: int, states: Iterable[PromptState] | None = None
    ) -> list[Prompt]: ...
    def update_prompt(self, prompt_id: int, now: datetime, **changes: Any) -> Prompt:
        """Change `state`, `due_at`, `sent_at`, `reminded_at`, `answered_at`, `reflection_id`."""
        ...

    # prompt delivery (see bot/handlers/delivery.py for the state machine)
    def claim_due_prompts(
        self,
        now: datetime,
        worker: str,
        stale_before: datetime,
        limit: int = 5,
        member_id: int | None = None,
    ) -> list[Prompt]:
        """Claim prompts whose next message is due, for `worker`; return them, soonest first.

        Due: `scheduled` with `due_at <= now` (the ask), `sent` and not reminded with
        `due_at <= now` (the reminder), or `sending` claimed at or before `stale_before`
        (its process died). Never expired ones. A claim sets `sending`, `claimed_by`,
        `claimed_at = now` and adds one to `attempts`; concurrent callers never get the
        same prompt.
        """
        ...

    def finish_prompt_claim(self, claimed: Prompt, **changes: Any) -> bool:
        """Settle a claim (state, due_at, sent_at, reminded_at, last_error) if still ours."""
        ...

    def expire_prompts(self, now: datetime, stale_before: datetime) -> int:
        """Mark open prompts whose `expires_at` has passed as expired; return how many."""
        ...

    def count_overdue_prompts(
        self, now: datetime, due_before: datetime, stale_before: datetime
    ) -> int:
        """Count prompts whose next message was due before `due_before` and is not out yet."""
        ...

    def count_failing_prompts(self) -> int:
        """Count open prompts whose last delivery attempt failed."""
        ...

    def prompts_for_org(
        self, org_id: int, states: Iterable[PromptState] | None = None, limit: int = 1000
    ) -> list[Prompt]:
        """Prompts about the organisation's incidents (in these states), newest first."""
        ...

    # weekly digest
    def digest_recipients(self) -> list[tuple[Member, datetime | None]]:
        """Members who want the digest, each with when their last digest was claimed."""
        ...

    def swap_last_digest(
        self, member_id: int, expected: datetime | None, value: datetime | None
    ) -> bool:
        """Set the member's last digest time to `value` if it is still `expected`."""
        ...

    # feedback on lessons
    def add_feedback(
        self, member_id: int, reflection_id: int, helpful: bool, now: datetime
    ) -> None: ...
    def feedback_of(self, member_id: int) -> list[Feedback]:
        """The member's votes on lessons, newest first."""
        ...

    # idempotency of platform events
    def mark_processed(self, event_key: str, now: datetime) -> bool:
        """Record an event id; False when it was already recorded."""
        ...

    # conversation state
    def get_conversation(self, member_id: int) -> Conversation: ...
    def save_conversation(self, conversation: Conversation) -> None: ...

    # invites
    def add_invite(self, invite: Invite) -> None: ...
    def get_invite(self, code: str) -> Invite | None: ...
    def use_invite(self, code: str) -> None: ...

    # notices for members who are not online (console)
    def add_notice(self, member_id: int, body: str, now: datetime) -> None: ...
    def take_notices(self, member_id: int) -> list[str]:
        """Return and remove the member's pending notices, oldest first."""
        ...

    # audit trail
    def add_audit(
        self,
        actor_id: int | None,
        action: str,
        target: str,
        now: datetime,
        via: str | None = None,
    ) -> None:
        """Append to the audit trail; `via` names the channel ("chat", "cli", "api")."""
        ...

    def audit_entries(self, limit: int = 50, actor_id: int | None = None) -> list[AuditEntry]:
        """The newest audit entries (of one actor), newest first."""
        ...
