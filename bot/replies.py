"""Platform-neutral output of the core.

Texts arrive already rendered in the member's language. A `Choice` carries the command
text that the platform sends back when the choice is taken (a button click, a numbered
option typed in the console) so that every choice flows through `parse_command` again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class Choice:
    """A button or numbered option; `command` is sent back as if the user typed it."""

    label: str
    command: str
    style: str = "default"  # "primary", "danger" or "default"


@dataclass(frozen=True)
class Text:
    """A message; `ephemeral` asks platforms to show it to the user alone."""

    body: str
    choices: tuple[Choice, ...] = ()
    ephemeral: bool = False


@dataclass(frozen=True)
class LessonCard:
    """One lesson as the asker may see it, with its actions (Nuttig, Bedank)."""

    reflection_id: int
    lesson: str
    went_well: str
    improve: str
    source: str  # organisation name, or only the discipline for anonymous lessons
    labels: dict[str, str]  # rendered field labels: lesson, went_well, improve, incident
    incident_title: str | None = None
    date: datetime | None = None
    title: str | None = None
    choices: tuple[Choice, ...] = ()


@dataclass(frozen=True)
class Field:
    """One input of a `Form`; `options` makes it a choice, `multi` a multi-choice."""

    name: str
    label: str
    hint: str = ""
    value: str = ""
    required: bool = True
    multiline: bool = False
    max_length: int = 1000
    options: tuple[Choice, ...] = ()
    multi: bool = False
    person: bool = False  # a member to pick (a mention)


@dataclass(frozen=True)
class Form:
    """A multi-field input that platforms with forms (Slack modals) show at once.

    `submit` names the command the platform builds from the filled-in fields.
    """

    title: str
    fields: tuple[Field, ...]
    submit: str
    submit_label: str
    context: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class File:
    """A file for the member to keep (their data export); `caption` says what it is.

    Platforms that take files send it as an attachment; the others show `caption` and
    the content as text, or write it where the member can find it (the console).
    """

    name: str
    content: bytes
    mime: str
    caption: str


Reply = Text | LessonCard | Form | File
