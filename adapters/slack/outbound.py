"""Replies out: the core's Text, LessonCard and Form as Block Kit messages, modals and home tab.

Pure functions; Slack's size limits are applied here (a section holds 3,000 characters,
a button label 75, a modal title 24), so a long text is cut rather than refused by Slack.
Buttons carry their `Choice.command` in `value`; inbound.py sends it back to the core.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from adapters.plain import render_plain
from adapters.slack.inbound import ACTION_PREFIX, FORM_CALLBACK
from bot.commands import ALIASES
from bot.replies import Choice, Field, File, Form, LessonCard, Reply, Text

Block = dict[str, Any]

SLASH_COMMAND = "/leerlus"
MAX_SECTION = 3000
MAX_FIELD = 2000
MAX_BLOCKS_MESSAGE = 50
MAX_BLOCKS_VIEW = 100

# Texts of the core name commands as typed on the console ("/reflectie"); in Slack they are
# typed after the one slash command, so "/reflectie" is shown as "/leerlus reflectie".
_COMMAND_WORD = re.compile(
    r"(?<![\w/:.])/(" + "|".join(sorted(map(re.escape, ALIASES), key=len, reverse=True)) + r")\b"
)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def escape(text: str) -> str:
    """Escape Slack's control characters and spell commands as Slack users type them."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _COMMAND_WORD.sub(lambda m: f"{SLASH_COMMAND} {m[1]}", text)


def plain(text: str, limit: int = 3000) -> dict[str, Any]:
    """A plain_text object, cut to `limit`."""
    return {"type": "plain_text", "text": _cut(text, limit) or " ", "emoji": True}


def mrkdwn(text: str) -> dict[str, Any]:
    """Formatted text; `verbatim` keeps Slack from turning a typed "@channel", "#name" or
    URL into a mention or link (escape() already made <, > and & inert)."""
    return {"type": "mrkdwn", "text": text, "verbatim": True}


def sections(text: str) -> list[Block]:
    """A long text as sections of at most MAX_SECTION characters, split at line ends."""
    blocks: list[Block] = []
    chunk = ""
    for line in escape(text).split("\n"):
        while len(line) > MAX_SECTION:
            blocks.append({"type": "section", "text": mrkdwn(line[:MAX_SECTION])})
            line = line[MAX_SECTION:]
        if chunk and len(chunk) + 1 + len(line) > MAX_SECTION:
            blocks.append({"type": "section", "text": mrkdwn(chunk)})
            chunk = ""
        chunk = f"{chunk}\n{line}" if chunk else line
    if chunk.strip():
        blocks.append({"type": "section", "text": mrkdwn(chunk)})
    return blocks


def buttons(choices: Sequence[Choice], key: str) -> list[Block]:
    """Choices as buttons whose value is the command; at most 25 per actions block."""
    blocks: list[Block] = []
    for start in range(0, len(choices), 25):
        elements = []
        for n, choice in enumerate(choices[start : start + 25], start=start):
            button: Block = {
                "type": "button",
                "text": plain(choice.label, 75),
                "value": choice.command[:2000],
                "action_id": f"{ACTION_PREFIX}{key}:{n}",
            }
            if choice.style in ("primary", "danger"):
                button["style"] = choice.style
            elements.append(button)
        blocks.append(
            {"type": "actions", "block_id": f"{ACTION_PREFIX}{key}:{start}", "elements": elements}
        )
    return blocks


def text_blocks(reply: Text, key: str = "t") -> list[Block]:
    """A text as sections, its choices as buttons below."""
    return sections(reply.body) + buttons(reply.choices, key)


def card_blocks(card: LessonCard, key: str = "c") -> list[Block]:
    """A lesson card: heading, source line, the lesson, went well / could improve, actions."""
    labels = card.labels
    meta = [card.source] if card.title else []
    if card.incident_title:
        meta.append(f"{labels.get('incident', 'Incident')}: {card.incident_title}")
    if card.date:
        meta.append(card.date.strftime("%d-%m-%Y"))
    blocks: list[Block] = [{"type": "divider"}]
    blocks.append(
        {"type": "section", "text": mrkdwn(f"*{escape(_cut(card.title or card.source, 200))}*")}
    )
    if meta:
        blocks.append({"type": "context", "elements": [mrkdwn(escape(" · ".join(meta)))]})
    lesson = f"*{escape(labels.get('lesson', 'Les'))}:* {escape(card.lesson)}"
    blocks.append({"type": "section", "text": mrkdwn(_cut(lesson, MAX_SECTION))})
    fields = []
    for label_key, value in (("went_well", card.went_well), ("improve", card.improve)):
        if value:
            label = escape(labels.get(label_key, label_key))
            fields.append(mrkdwn(_cut(f"*{label}*\n{escape(value)}", MAX_FIELD)))
    if fields:
        blocks.append({"type": "section", "fields": fields})
    return blocks + buttons(card.choices, f"{key}{card.reflection_id}")


def reply_blocks(replies: Sequence[Reply]) -> list[Block]:
    """Texts and cards as one list of blocks (forms are shown as modals, not here)."""
    blocks: list[Block] = []
    for n, reply in enumerate(replies):
        if isinstance(reply, LessonCard):
            blocks += card_blocks(reply, f"c{n}-")
        elif isinstance(reply, Text):
            blocks += text_blocks(reply, f"t{n}")
        elif isinstance(reply, File):  # only when the upload failed: its text as a message
            blocks += file_blocks(reply)
    return blocks


def file_blocks(file: File) -> list[Block]:
    """A file as text: its caption, then its content verbatim (as far as a message holds)."""
    content = file.content.decode("utf-8", "replace")
    # Only Slack's control characters are escaped: the data itself must stay as it is.
    content = content.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return sections(f"{file.caption}\n{file.name}:") + [
        {"type": "section", "text": mrkdwn(f"```{part}```")}
        for part in _parts(content, MAX_SECTION - 6)
    ]


def _parts(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [" "]


def messages(replies: Sequence[Reply]) -> list[dict[str, Any]]:
    """Keyword arguments for chat.postMessage, one dict a message: blocks, and text for
    notifications. Slack takes 50 blocks a message, so a longer answer (an export sent as
    text when its upload was refused) is split over several messages, nothing cut off."""
    fallback = _cut(
        escape("\n\n".join(render_plain(r) for r in replies if not isinstance(r, Form))), 3000
    )
    blocks = reply_blocks(replies)
    chunks = [blocks[i : i + MAX_BLOCKS_MESSAGE] for i in range(0, len(blocks), MAX_BLOCKS_MESSAGE)]
    if len(chunks) <= 1:
        return [{"text": fallback, "blocks": blocks}]
    # Each later part notifies with its own text (the first's is the whole answer's start).
    texts = [fallback] + [_cut(" ".join(_texts(chunk)), 3000) or " " for chunk in chunks[1:]]
    return [{"text": text, "blocks": chunk} for text, chunk in zip(texts, chunks, strict=True)]


def _texts(blocks: Sequence[Block]) -> list[str]:
    """The section texts of blocks, in order (a later part's notification text)."""
    found: list[str] = []
    for block in blocks:
        if isinstance(block.get("text"), dict):
            found.append(str(block["text"].get("text", "")))
        found += [str(f.get("text", "")) for f in block.get("fields", ())]
    return found


def modal(form: Form) -> dict[str, Any]:
    """A form as a modal for views.open; `private_metadata` carries submit and context."""
    meta = json.dumps({"submit": form.submit, "context": form.context})
    return {
        "type": "modal",
        "callback_id": FORM_CALLBACK,
        "title": plain(form.title, 24),
        "submit": plain(form.submit_label, 24),
        "private_metadata": meta[:3000],
        "blocks": [input_block(f) for f in form.fields],
    }


def input_block(field: Field) -> Block:
    """One field as an input block; block_id and action_id are the field's name."""
    block: Block = {
        "type": "input",
        "block_id": field.name,
        "optional": not field.required,
        "label": plain(field.label, 2000),
        "element": _element(field),
    }
    if field.hint:
        block["hint"] = plain(field.hint, 2000)
    return block


def _option(choice: Choice) -> dict[str, Any]:
    return {"text": plain(choice.label, 75), "value": choice.command[:150]}


def _element(field: Field) -> Block:
    if field.person:
        element: Block = {"type": "users_select", "action_id": field.name}
        if field.value.startswith("@slack:"):
            element["initial_user"] = field.value.removeprefix("@slack:")
        return element
    if field.options:
        options = [_option(c) for c in field.options[:100]]
        if field.multi:
            chosen = set(field.value.split(","))
            element = {"type": "multi_static_select", "action_id": field.name, "options": options}
            initial = [
                o for o, c in zip(options, field.options, strict=False) if c.command in chosen
            ]
            if initial:
                element["initial_options"] = initial
            return element
        element = {"type": "static_select", "action_id": field.name, "options": options}
        for option, choice in zip(options, field.options, strict=False):
            if choice.command == field.value:
                element["initial_option"] = option
        return element
    element = {
        "type": "plain_text_input",
        "action_id": field.name,
        "multiline": field.multiline,
        "max_length": min(field.max_length, 3000),
    }
    if field.value:
        element["initial_value"] = field.value[:3000]
    return element


def home_view(replies: Sequence[Reply]) -> dict[str, Any]:
    """The home tab: the member's overview (open prompts, kudos, own lessons) with buttons."""
    blocks = reply_blocks(replies)[:MAX_BLOCKS_VIEW]
    return {"type": "home", "blocks": blocks}


def form_fallback(form: Form, command: str) -> Text:
    """When a modal cannot open (its trigger expired): a button that opens it again."""
    return Text(form.title, choices=(Choice(form.title, command, "primary"),) if command else ())
