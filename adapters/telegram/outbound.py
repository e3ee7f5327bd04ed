"""Outbound: core replies become Telegram messages (HTML text and inline keyboards).

Everything the core or a user wrote is escaped for Telegram's HTML parse mode; only the
tags added here format. A `Choice` becomes a button whose callback data is its command.
A message longer than Telegram's limit is split on line breaks (or between words), with
open tags closed and reopened, and the keyboard goes with the last part.
"""

from __future__ import annotations

import html
import logging
import re
from dataclasses import dataclass

from telegram import BotCommand, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.constants import MessageLimit

from adapters.plain import render_plain
from bot.commands import ALIASES
from bot.replies import Choice, File, Form, LessonCard, Reply, Text
from bot.texts import Translator

log = logging.getLogger(__name__)

LIMIT = MessageLimit.MAX_TEXT_LENGTH  # 4096
CAPTION_LIMIT = MessageLimit.CAPTION_LENGTH  # 1024
CALLBACK_LIMIT = 64  # bytes of callback data
# Commands whose buttons stay usable after a press (a lesson can be found helpful and thanked).
REPEATABLE = {"helpful", "thank", "more"}

# The menu per language: every command of the spec (buttons-only commands are left out).
MENU: dict[str, tuple[str, ...]] = {
    "nl": (
        *("vraag", "meer", "reflectie", "kudos", "incident", "oefening", "mijn", "vergeet"),
        *("digest", "taal", "annuleer", "help", "start", "uitnodiging", "verberg"),
    ),
    "en": (
        *("ask", "more", "reflect", "kudos", "incident", "exercise", "mine", "forget"),
        *("digest", "language", "cancel", "help", "start", "invite", "hide"),
    ),
}


@dataclass(frozen=True)
class OutMessage:
    """One Telegram message: HTML text and an optional inline keyboard.

    With a `document` (file name, content) it is a file and `text` its caption.
    """

    text: str
    keyboard: InlineKeyboardMarkup | None = None
    document: tuple[str, bytes] | None = None


def render(reply: Reply, tr: Translator) -> list[OutMessage]:
    """Turn one reply into one or more messages (split at Telegram's limit)."""
    if isinstance(reply, LessonCard):
        more = Choice(tr("ask.more_button"), "/meer")
        return _with_keyboard(card_html(reply), (*reply.choices, more), per_row=3)
    if isinstance(reply, Text):
        return _with_keyboard(html.escape(reply.body), reply.choices)
    if isinstance(reply, Form):  # Telegram uses the step-by-step flow; never expected
        return _with_keyboard(html.escape(render_plain(reply)), ())
    if isinstance(reply, File):
        caption = reply.caption if len(reply.caption) <= CAPTION_LIMIT else reply.caption[:1023]
        return [OutMessage(html.escape(caption), document=(reply.name, reply.content))]
    raise AssertionError(f"unknown reply {reply!r}")  # pragma: no cover


def card_html(card: LessonCard) -> str:
    """A lesson card as HTML: heading, source line, then the labelled answers."""
    labels, e = card.labels, html.escape
    meta = [card.source] if card.title else []
    if card.incident_title:
        meta.append(f"{labels.get('incident', 'Incident')}: {card.incident_title}")
    if card.date:
        meta.append(card.date.strftime("%d-%m-%Y"))
    lines = [f"<b>{e(card.title or card.source)}</b>"]
    if meta:
        lines.append(f"<i>{e(' · '.join(meta))}</i>")
    lines.append(f"<b>{e(labels.get('lesson', 'Les'))}:</b> {e(card.lesson)}")
    if card.went_well:
        lines.append(f"<b>{e(labels.get('went_well', '+'))}:</b> {e(card.went_well)}")
    if card.improve:
        lines.append(f"<b>{e(labels.get('improve', '-'))}:</b> {e(card.improve)}")
    return "\n".join(lines)


def keyboard(choices: tuple[Choice, ...], per_row: int = 2) -> InlineKeyboardMarkup | None:
    """Buttons for choices: short labels side by side, long ones one per row."""
    usable = [ch for ch in choices if len(ch.command.encode()) <= CALLBACK_LIMIT]
    if len(usable) < len(choices):
        log.warning("telegram: %d choice(s) too long for callback data", len(choices) - len(usable))
    if not usable:
        return None
    if any(len(ch.label) > 20 for ch in usable):
        per_row = 1
    buttons = [InlineKeyboardButton(ch.label, callback_data=ch.command) for ch in usable]
    rows = [buttons[i : i + per_row] for i in range(0, len(buttons), per_row)]
    return InlineKeyboardMarkup(rows)


def _with_keyboard(text: str, choices: tuple[Choice, ...], per_row: int = 2) -> list[OutMessage]:
    parts = split_html(text)
    markup = keyboard(choices, per_row)
    return [OutMessage(p, markup if i == len(parts) - 1 else None) for i, p in enumerate(parts)]


_TAG = re.compile(r"<(/?)([a-z]+)[^>]*>")
_ATOM = re.compile(r"<[^>]*>|&[#a-zA-Z0-9]+;|[^<&\s]+|\s+|[<&]")


def split_html(text: str, limit: int = LIMIT) -> list[str]:
    """Split HTML into parts of at most `limit` characters, keeping tags and entities whole.

    A part ends at a line break where one lies in its second half, else between words;
    tags open at a cut are closed before it and reopened after it.
    """
    if len(text) <= limit:
        return [text or " "]
    budget = limit - 64  # room for the closing tags at a cut
    parts: list[str] = []
    current = ""
    stack: list[tuple[str, str]] = []  # open tags: (name, the opening tag as written)
    last_break: tuple[int, list[tuple[str, str]]] | None = None  # after a newline, and its tags
    for atom in _atoms(text, budget // 2):
        if len(current) + len(atom) > budget and current.strip():
            if last_break is not None and last_break[0] > len(current) // 2:
                cut, tags = last_break
            else:
                cut, tags = len(current), list(stack)
            closing = "".join(f"</{name}>" for name, _ in reversed(tags))
            parts.append(current[:cut].rstrip() + closing)
            current = "".join(tag for _, tag in tags) + current[cut:].lstrip(" ")
            last_break = None
        current += atom
        tag = _TAG.fullmatch(atom)
        if tag and tag.group(1):
            if stack and stack[-1][0] == tag.group(2):
                stack.pop()
        elif tag:
            stack.append((tag.group(2), atom))
        elif "\n" in atom:
            last_break = (len(current), list(stack))
    if current.strip():
        parts.append(current)
    return parts


def _atoms(text: str, longest: int) -> list[str]:
    """Tags, entities, words and spaces; a word longer than `longest` is cut hard."""
    atoms: list[str] = []
    for match in _ATOM.finditer(text):
        atom = match.group(0)
        atoms.extend(atom[i : i + longest] for i in range(0, len(atom), longest))
    return atoms


def chosen_html(original: str, label: str) -> str:
    """A one-time question after its choice: the chosen label appended (if it fits)."""
    text = f"{original}\n\n✓ {html.escape(label)}" if label else original
    return text if len(text) <= LIMIT else original


def keeps_keyboard(command: str) -> bool:
    """Whether a button stays after it was pressed (Nuttig, Bedank, Meer)."""
    word = command.strip().lstrip("/").split(maxsplit=1)[0].lower() if command.strip() else ""
    return ALIASES.get(word) in REPEATABLE


def menu(locale: str) -> list[BotCommand]:
    """The command menu of one language, described with the help texts of the catalogue."""
    tr = Translator(locale)
    help_lines = (tr("help.text") + "\n" + tr("help.coordinator")).splitlines()
    described: dict[str, str] = {
        "help": tr("help.text").splitlines()[0],
        "start": tr("join.usage").split(". ")[0],
    }
    for line in help_lines:
        line = line.lstrip("• ").strip()
        for word in re.findall(r"/([a-z]+)", line):
            described.setdefault(word, line.split(" — ", 1)[-1])
    return [BotCommand(name, _description(described.get(name, name))) for name in MENU[locale]]


def _description(text: str) -> str:
    text = text.strip().rstrip(".")
    text = text[:1].upper() + text[1:]
    return text if len(text) <= 256 else text[:255] + "…"
