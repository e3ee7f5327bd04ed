"""The core's value types: frozen dataclasses that every layer exchanges.

The store returns these, never ORM rows; adapters receive them, never SQL.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class Discipline(StrEnum):
    POLITIE = "politie"
    BRANDWEER = "brandweer"
    GHOR = "ghor"
    GEMEENTE = "gemeente"
    MARECHAUSSEE = "marechaussee"
    DEFENSIE = "defensie"
    OVERIG = "overig"


class Visibility(StrEnum):
    PRIVE = "prive"
    ORGANISATIE = "organisatie"
    NETWERK = "netwerk"
    ANONIEM = "anoniem"


class LoopLevel(StrEnum):
    INDIVIDU = "individu"
    ORGANISATIE = "organisatie"
    NETWERK = "netwerk"
    SAMENLEVING = "samenleving"


class IncidentKind(StrEnum):
    INCIDENT = "incident"
    OEFENING = "oefening"


class Role(StrEnum):
    MEMBER = "member"
    COORDINATOR = "coordinator"


class PromptState(StrEnum):
    """Where a prompt is in its life; see `bot/handlers/delivery.py` for the transitions."""

    SCHEDULED = "scheduled"
    SENDING = "sending"  # claimed by one process, which is delivering it right now
    SENT = "sent"
    ANSWERED = "answered"
    SKIPPED = "skipped"
    EXPIRED = "expired"


SUGGESTED_THEMES = (
    "transparantie",
    "participatie",
    "zelforganisatie",
    "nazorg",
    "communicatie",
    "samenwerking",
    "leiderschap",
    "techniek",
    "procedures",
)


@dataclass(frozen=True)
class Identity:
    """One platform account of a member, written `platform:user_id`."""

    platform: str
    user_id: str

    def __str__(self) -> str:
        return f"{self.platform}:{self.user_id}"

    @classmethod
    def parse(cls, text: str) -> Identity:
        """Parse `platform:user_id`; raise ValueError when it is not of that form."""
        platform, sep, user_id = text.strip().partition(":")
        if not sep or not platform or not user_id:
            raise ValueError(f"not a platform identity: {text!r}")
        return cls(platform.lower(), user_id)


@dataclass(frozen=True)
class Organisation:
    id: int
    name: str
    slug: str
    discipline: Discipline
    slack_team: str | None = None


@dataclass(frozen=True)
class Member:
    id: int
    org_id: int
    name: str
    role: Role = Role.MEMBER
    locale: str = "nl"
    timezone: str = "Europe/Amsterdam"
    digest: bool = True
    identities: tuple[Identity, ...] = ()
    reachable: bool = True  # False once a platform said the member blocked the bot

    @property
    def is_coordinator(self) -> bool:
        return self.role is Role.COORDINATOR


@dataclass(frozen=True)
class Incident:
    id: int
    org_id: int
    title: str
    kind: IncidentKind
    occurred_at: datetime
    created_at: datetime
    participant_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class Reflection:
    """A member's three answers about an incident; `draft` until it is finished."""

    id: int
    member_id: int | None
    org_id: int
    went_well: str
    improve: str
    lesson: str
    visibility: Visibility
    created_at: datetime
    updated_at: datetime
    incident_id: int | None = None
    loop_level: LoopLevel | None = None
    themes: tuple[str, ...] = ()
    language: str = "nl"
    draft: bool = False
    draft_step: str | None = None
    thanks: str | None = None
    title: str | None = None
    external_id: str | None = None
    source: str | None = None
    hidden: bool = False

    def search_text(self) -> str:
        """Return the text that represents this lesson for search."""
        parts = [self.title or "", self.lesson, self.went_well, self.improve]
        return "\n".join(p for p in parts if p)


@dataclass(frozen=True)
class NewReflection:
    """What is needed to store a reflection (drafts and imports included)."""

    org_id: int
    member_id: int | None
    went_well: str = ""
    improve: str = ""
    lesson: str = ""
    visibility: Visibility = Visibility.NETWERK
    incident_id: int | None = None
    loop_level: LoopLevel | None = None
    themes: tuple[str, ...] = ()
    language: str = "nl"
    draft: bool = False
    draft_step: str | None = None
    title: str | None = None
    external_id: str | None = None
    source: str | None = None
    created_at: datetime | None = None


@dataclass(frozen=True)
class Lesson:
    """A reflection as a viewer may see it: author fields are None when anonymous."""

    reflection_id: int
    title: str | None
    lesson: str
    went_well: str
    improve: str
    visibility: Visibility
    discipline: Discipline
    created_at: datetime
    org_id: int | None
    org_name: str | None
    author_id: int | None
    author_name: str | None
    incident_title: str | None = None
    incident_date: datetime | None = None
    themes: tuple[str, ...] = ()
    language: str = "nl"
    external_id: str | None = None


@dataclass(frozen=True)
class Hit:
    """A lesson found for a question, with its fused score."""

    lesson: Lesson
    score: float


@dataclass(frozen=True)
class Candidate:
    """What ranking needs of a lesson a viewer may see: no texts, so a search can weigh
    a thousand candidates and load the full lessons of only those it shows.

    `org_id` is None when the lesson is anonymous, as in `Lesson`.
    """

    reflection_id: int
    language: str
    org_id: int | None
    discipline: Discipline


@dataclass(frozen=True)
class ScoredCandidate:
    """A candidate with its fused score (what `bot.ranking.arrange` orders)."""

    lesson: Candidate
    score: float


@dataclass(frozen=True)
class Kudos:
    id: int
    giver_id: int
    receiver_id: int
    reason: str
    created_at: datetime
    reflection_id: int | None = None
    incident_id: int | None = None


@dataclass(frozen=True)
class Prompt:
    id: int
    incident_id: int
    member_id: int
    due_at: datetime
    state: PromptState
    created_at: datetime
    sent_at: datetime | None = None
    reminded_at: datetime | None = None
    answered_at: datetime | None = None
    reflection_id: int | None = None
    attempts: int = 0  # delivery attempts (claims), reminders included
    claimed_by: str | None = None  # the process that claimed it last
    claimed_at: datetime | None = None
    expires_at: datetime | None = None
    last_error: str | None = None  # why the last delivery failed; None after a success


# Prompts a member can still act on (answer, snooze, skip).
OPEN_PROMPT_STATES = (PromptState.SCHEDULED, PromptState.SENDING, PromptState.SENT)


@dataclass(frozen=True)
class Feedback:
    """A member's vote on a lesson ("Nuttig")."""

    member_id: int
    reflection_id: int
    helpful: bool
    created_at: datetime


@dataclass(frozen=True)
class AuditEntry:
    """One line of the audit trail: who (None: an operator, or a member since forgotten),
    did what, to what, when, and through which channel."""

    id: int
    actor_id: int | None
    action: str
    target: str
    created_at: datetime
    via: str | None = None


@dataclass(frozen=True)
class Invite:
    code: str
    org_id: int
    created_by: int | None
    expires_at: datetime
    uses_left: int


@dataclass(frozen=True)
class Conversation:
    """What a member is in the middle of, kept in the store between messages."""

    member_id: int
    last_query: str | None = None
    shown: tuple[int, ...] = ()
    pending: str | None = None
    data: dict[str, str] = field(default_factory=dict)
