"""Commands: what a user asked for, parsed once from text, in Dutch or English.

Adapters turn a platform event into text (a slash command, a button's command, a typed
line) and call `parse_command`; buttons and numbered options carry command text too, so
every user action passes through here. Text that is not a `/command` is `PlainText`: the
bot decides whether it answers a question of a running flow or is itself a question.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.models import IncidentKind

MAX_INPUT = 5000  # longer input is refused before parsing, nothing is stored


@dataclass(frozen=True)
class PlainText:
    text: str


@dataclass(frozen=True)
class Ask:
    text: str


@dataclass(frozen=True)
class More:
    pass


@dataclass(frozen=True)
class StartReflection:
    incident: str | None = None
    as_form: bool = False  # platforms with forms (Slack modals) get the whole form at once


@dataclass(frozen=True)
class SubmitReflection:
    """A filled-in reflection form (e.g. a Slack modal), validated by the core."""

    went_well: str
    improve: str
    lesson: str
    visibility: str
    loop_level: str = ""
    themes: str = ""
    thanks: str = ""
    incident_id: int | None = None
    prompt_id: int | None = None


@dataclass(frozen=True)
class Cancel:
    pass


@dataclass(frozen=True)
class GiveKudos:
    who: str
    reason: str


@dataclass(frozen=True)
class ListKudos:
    pass


@dataclass(frozen=True)
class RegisterIncident:
    kind: IncidentKind
    title: str
    participants: tuple[str, ...] = ()
    at: str | None = None


@dataclass(frozen=True)
class Mine:
    pass


@dataclass(frozen=True)
class ExportMine:
    """`mijn export`: everything the bot holds about the member, as a JSON file."""


@dataclass(frozen=True)
class Forget:
    pass


@dataclass(frozen=True)
class Confirm:
    yes: bool


@dataclass(frozen=True)
class SetDigest:
    on: bool


@dataclass(frozen=True)
class SetLanguage:
    locale: str


@dataclass(frozen=True)
class Help:
    pass


@dataclass(frozen=True)
class Join:
    code: str


@dataclass(frozen=True)
class CreateInvite:
    pass


@dataclass(frozen=True)
class Helpful:
    reflection_id: int


@dataclass(frozen=True)
class Thank:
    reflection_id: int
    reason: str = ""


@dataclass(frozen=True)
class PromptAction:
    prompt_id: int
    action: str  # "now", "later", "tomorrow" or "skip"
    as_form: bool = False  # "now" on a platform with forms opens the whole form


@dataclass(frozen=True)
class Hide:
    reflection_id: int


@dataclass(frozen=True)
class Unhide:
    reflection_id: int


@dataclass(frozen=True)
class Unknown:
    name: str


@dataclass(frozen=True)
class Invalid:
    """Input that could not be parsed; `key` names the catalogue text that explains why."""

    key: str
    params: tuple[tuple[str, str], ...] = ()


Command = (
    PlainText
    | Ask
    | More
    | StartReflection
    | SubmitReflection
    | Cancel
    | GiveKudos
    | ListKudos
    | RegisterIncident
    | Mine
    | ExportMine
    | Forget
    | Confirm
    | SetDigest
    | SetLanguage
    | Help
    | Join
    | CreateInvite
    | Helpful
    | Thank
    | PromptAction
    | Hide
    | Unhide
    | Unknown
    | Invalid
)

# Command words in both languages (and a few natural variants) -> canonical name.
ALIASES: dict[str, str] = {
    "vraag": "ask",
    "ask": "ask",
    "zoek": "ask",
    "meer": "more",
    "more": "more",
    "reflectie": "reflect",
    "reflecteer": "reflect",
    "reflect": "reflect",
    "kudos": "kudos",
    "incident": "incident",
    "oefening": "exercise",
    "exercise": "exercise",
    "mijn": "mine",
    "mine": "mine",
    "vergeet": "forget",
    "forget": "forget",
    "digest": "digest",
    "taal": "language",
    "language": "language",
    "help": "help",
    "hulp": "help",
    "start": "start",
    "uitnodiging": "invite",
    "invite": "invite",
    "annuleer": "cancel",
    "cancel": "cancel",
    "stop": "cancel",
    "ja": "yes",
    "yes": "yes",
    "nee": "no",
    "no": "no",
    "nuttig": "helpful",
    "helpful": "helpful",
    "bedank": "thank",
    "thank": "thank",
    "invullen": "prompt_now",
    "fill": "prompt_now",
    "later": "prompt_later",
    "overslaan": "prompt_skip",
    "skip": "prompt_skip",
    "verberg": "hide",
    "hide": "hide",
    "toon": "unhide",
    "unhide": "unhide",
}

_ON = {"aan", "on", "ja", "yes", "aanzetten"}
_OFF = {"uit", "off", "nee", "no", "uitzetten"}
_TOMORROW = {"morgen", "tomorrow", "morgenochtend"}
_INCIDENT = re.compile(
    r"^(?P<title>.+?)"
    r"(?:\s+(?:met|with)\s+(?P<who>@\S+(?:[\s,]+@\S+)*))?"
    r"(?:\s+(?:om|at|op)\s+(?P<at>.+))?$",
    re.IGNORECASE | re.DOTALL,
)
_MENTION = re.compile(r"@\S+")


def _invalid(key: str, **params: str) -> Invalid:
    return Invalid(key, tuple(params.items()))


def _int_arg(rest: str) -> int | None:
    first = rest.split(maxsplit=1)[0] if rest.strip() else ""
    return int(first) if is_number(first) else None


def is_number(text: str) -> bool:
    """ASCII digits that fit an id: `str.isdigit` also accepts "²", which int() refuses."""
    return text.isascii() and text.isdigit() and len(text) < 12


def clean(text: str) -> str:
    """Drop control and format characters (NUL, RTL marks, ...); other spaces become " "."""
    return "".join(
        ch if ch.isprintable() or ch in "\n\t" else " " if ch.isspace() else "" for ch in text
    )


def parse_command(text: str) -> Command:
    """Turn a line of user input into a Command; never raises."""
    if len(text) > MAX_INPUT:
        return _invalid("error.too_long", limit=str(MAX_INPUT))
    cleaned = clean(text).strip()
    if not cleaned:
        return _invalid("error.empty")
    if not cleaned.startswith("/"):
        return PlainText(cleaned)
    word, _, rest = cleaned[1:].partition(" ")
    word = word.split("@", 1)[0].lower()  # Telegram appends @botname in groups
    rest = rest.strip()
    name = ALIASES.get(word)
    if name is None:
        return Unknown(word[:40])
    return _parse_named(name, rest)


def _parse_named(name: str, rest: str) -> Command:
    simple: dict[str, Command] = {
        "more": More(),
        "mine": Mine(),
        "forget": Forget(),
        "help": Help(),
        "invite": CreateInvite(),
        "cancel": Cancel(),
        "yes": Confirm(True),
        "no": Confirm(False),
    }
    if name == "mine" and rest.lower() == "export":
        return ExportMine()
    if name in simple:
        return simple[name]
    if name == "ask":
        return Ask(rest) if rest else _invalid("ask.usage")
    if name == "reflect":
        return StartReflection(rest or None)
    if name == "kudos":
        return _parse_kudos(rest)
    if name in ("incident", "exercise"):
        kind = IncidentKind.INCIDENT if name == "incident" else IncidentKind.OEFENING
        return _parse_incident(kind, rest)
    if name == "digest":
        value = rest.lower()
        if value in _ON or value in _OFF:
            return SetDigest(value in _ON)
        return _invalid("digest.usage")
    if name == "language":
        value = rest.lower()
        if value in ("nl", "en", "nederlands", "english", "engels"):
            return SetLanguage("en" if value in ("en", "english", "engels") else "nl")
        return _invalid("language.usage")
    if name == "start":
        return Join(rest.split()[0]) if rest else _invalid("join.usage")
    return _parse_with_id(name, rest)


def _parse_with_id(name: str, rest: str) -> Command:
    number = _int_arg(rest)
    if number is None:
        return _invalid("error.missing_id")
    if name == "helpful":
        return Helpful(number)
    if name == "thank":
        reason = rest.split(maxsplit=1)[1] if len(rest.split(maxsplit=1)) > 1 else ""
        return Thank(number, reason)
    if name == "hide":
        return Hide(number)
    if name == "unhide":
        return Unhide(number)
    if name == "prompt_now":
        return PromptAction(number, "now")
    if name == "prompt_skip":
        return PromptAction(number, "skip")
    words = rest.lower().split()
    later = "tomorrow" if len(words) > 1 and words[1] in _TOMORROW else "later"
    return PromptAction(number, later)


def _parse_kudos(rest: str) -> Command:
    if not rest:
        return ListKudos()
    who, _, reason = rest.partition(" ")
    if not who.startswith("@") or len(who) < 2:
        return _invalid("kudos.usage")
    if not reason.strip():
        return _invalid("kudos.reason_required")
    return GiveKudos(who[1:], reason.strip())


def _parse_incident(kind: IncidentKind, rest: str) -> Command:
    if not rest:
        return _invalid("incident.usage")
    match = _INCIDENT.match(rest)
    if match is None:  # pragma: no cover - the pattern matches any non-empty text
        return _invalid("incident.usage")
    title = match.group("title").strip()
    who = match.group("who") or ""
    # Mentions typed inside the title count as participants too.
    participants = [m[1:].rstrip(",") for m in _MENTION.findall(who + " " + title)]
    title = _MENTION.sub("", title).strip(" ,")
    if not title:
        return _invalid("incident.usage")
    at = (match.group("at") or "").strip() or None
    return RegisterIncident(kind, title, tuple(dict.fromkeys(participants)), at)
