"""Slack payloads in: where they came from, the command text they carry, their retry key.

Pure functions of the payload dictionaries Slack sends; no Web API calls, no store. Text
goes to `parse_command` as it would be typed on the console: `/leerlus kudos …` becomes
`/kudos …`, `<@U123>` becomes `@slack:U123` (the core resolves that identity), and
buttons carry the command text of their `Choice` in `value`.
"""

from __future__ import annotations

import dataclasses
import html
import json
import re
from dataclasses import dataclass
from typing import Any

from bot.commands import (
    Command,
    PromptAction,
    StartReflection,
    SubmitReflection,
    clean,
    is_number,
    parse_command,
)

Payload = dict[str, Any]

FORM_CALLBACK = "leerlus_form"
ACTION_PREFIX = "leerlus:"

_USER = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")
_CHANNEL = re.compile(r"<#[A-Z0-9]+\|([^>]*)>")
_SPECIAL = re.compile(r"<!(here|channel|everyone)(?:\|[^>]*)?>")
_LINK = re.compile(r"<([^@#!][^>|]*)(?:\|([^>]*))?>")


@dataclass(frozen=True)
class Origin:
    """Where an interaction came from, and so where its answer goes."""

    team: str
    user: str
    channel: str | None = None  # None: answer by direct message
    thread_ts: str | None = None
    trigger_id: str | None = None  # lets us open a modal, for three seconds
    response_url: str | None = None
    private: bool = False  # answers are for the user alone (slash commands, buttons)
    command: str = ""  # the command text, to offer again when a modal cannot open

    @property
    def in_dm(self) -> bool:
        return self.channel is not None and self.channel.startswith("D")

    @property
    def shared(self) -> bool:
        """Whether others read the answer: a channel message that is not ephemeral."""
        return self.channel is not None and not self.in_dm and not self.private


def _obj(value: object) -> Payload:
    """A payload part that should be an object; anything else (Slack never sends it) is {}."""
    return value if isinstance(value, dict) else {}


def _str(value: object) -> str:
    """A payload part that should be text; anything else is ""."""
    return value if isinstance(value, str) else ""


def _first_action(body: Payload) -> Payload:
    actions = body.get("actions")
    return _obj(actions[0]) if isinstance(actions, list) and actions else {}


def to_core_text(text: str, bot_user: str | None = None) -> str:
    """Turn Slack message markup into the plain text the core parses."""
    text = _str(text)
    if bot_user:
        text = re.sub(rf"<@{re.escape(bot_user)}(?:\|[^>]*)?>", " ", text)
    text = _USER.sub(lambda m: f"@slack:{m[1]}", text)
    text = _CHANNEL.sub(lambda m: f"#{m[1]}", text)
    text = _SPECIAL.sub(lambda m: f"@{m[1]}", text)
    text = _LINK.sub(lambda m: m[2] or m[1], text)
    return re.sub(r"[ \t]+", " ", html.unescape(text)).strip()


def mentioned_users(text: str, bot_user: str | None = None) -> list[str]:
    """The Slack user ids mentioned in a text (without the bot), in order, once each."""
    found = [m for m in _USER.findall(_str(text)) if m != bot_user]
    return list(dict.fromkeys(found))


def slash_text(text: str) -> str:
    """`/leerlus kudos @a waarom` arrives as `kudos @a waarom`; the core wants `/kudos …`."""
    text = text.strip()
    if not text:
        return "/help"
    return text if text.startswith("/") else "/" + text


def mention_text(text: str) -> str:
    """A mention of the bot is a question, unless it spells out a /command."""
    return text if text.startswith("/") else "/vraag " + text


def with_forms(command: Command) -> Command:
    """Ask the core for the whole reflection form: Slack can show it as a modal."""
    if isinstance(command, StartReflection):
        return dataclasses.replace(command, as_form=True)
    if isinstance(command, PromptAction) and command.action == "now":
        return dataclasses.replace(command, as_form=True)
    return command


def command_origin(body: Payload) -> Origin:
    """Where a `/leerlus` slash command came from; its answers are ephemeral."""
    return Origin(
        team=_str(body.get("team_id")),
        user=_str(body.get("user_id")),
        channel=_str(body.get("channel_id")) or None,
        trigger_id=_str(body.get("trigger_id")) or None,
        response_url=_str(body.get("response_url")) or None,
        private=True,
        command=slash_text(to_core_text(_str(body.get("text")))),
    )


def event_origin(body: Payload) -> Origin:
    """Where a message or mention came from; a mention is answered in its thread."""
    event = _obj(body.get("event"))
    thread = _str(event.get("thread_ts"))
    if event.get("type") == "app_mention":
        thread = thread or _str(event.get("ts"))
    return Origin(
        team=_str(event.get("user_team")) or _str(body.get("team_id")),
        user=_str(event.get("user")),
        channel=_str(event.get("channel")) or None,
        thread_ts=thread or None,
    )


def action_origin(body: Payload) -> Origin:
    """Where a button was clicked: a message (DM or channel) or the home tab."""
    user = _obj(body.get("user"))
    team = _str(user.get("team_id")) or _str(_obj(body.get("team")).get("id"))
    # absent for buttons on the home tab
    channel = _str(_obj(body.get("channel")).get("id")) or None
    return Origin(
        team=team,
        user=_str(user.get("id")),
        channel=channel,
        thread_ts=_str(_obj(body.get("message")).get("thread_ts")) or None,
        trigger_id=_str(body.get("trigger_id")) or None,
        response_url=_str(body.get("response_url")) or None,
        private=channel is not None and not channel.startswith("D"),
        command=_str(_first_action(body).get("value")),
    )


def view_origin(body: Payload) -> Origin:
    """A submitted modal has no channel: its answer goes by direct message."""
    user = _obj(body.get("user"))
    team = _str(user.get("team_id")) or _str(_obj(body.get("team")).get("id"))
    return Origin(team=team, user=_str(user.get("id")))


def action_command(body: Payload) -> Command:
    """The command a clicked button carries."""
    return with_forms(parse_command(_str(_first_action(body).get("value"))))


def submission(view: Payload) -> tuple[SubmitReflection | None, list[str]]:
    """The command of a submitted modal, and the Slack users picked in it."""
    view = _obj(view)
    try:
        meta = json.loads(_str(view.get("private_metadata")) or "{}")
    except (ValueError, RecursionError):
        meta = {}
    if not isinstance(meta, dict) or meta.get("submit") != "reflection":
        return None, []
    values: dict[str, str] = {}
    users: list[str] = []
    for block_id, actions in _obj(_obj(view.get("state")).get("values")).items():
        for element in _obj(actions).values():
            value, user = _element_value(_obj(element))
            values[block_id] = clean(value)  # no NUL or control characters into the store
            users += [user] if user else []
    context = _obj(meta.get("context"))
    command = SubmitReflection(
        went_well=values.get("went_well", ""),
        improve=values.get("improve", ""),
        lesson=values.get("lesson", ""),
        visibility=values.get("visibility", ""),
        loop_level=values.get("loop_level", ""),
        themes=values.get("themes", ""),
        thanks=values.get("thanks", ""),
        incident_id=_int(context.get("incident_id")),
        prompt_id=_int(context.get("prompt_id")),
    )
    return command, users


def _element_value(element: Payload) -> tuple[str, str | None]:
    kind = element.get("type")
    if kind == "static_select":
        return _str(_obj(element.get("selected_option")).get("value")), None
    if kind == "multi_static_select":
        chosen = element.get("selected_options")
        options = chosen if isinstance(chosen, list) else []
        return ",".join(_str(_obj(o).get("value")) for o in options), None
    if kind == "users_select":
        user = _str(element.get("selected_user"))
        return (f"@slack:{user}", user) if user else ("", None)
    return _str(element.get("value")), None


def _int(value: object) -> int | None:
    text = str(value or "") if isinstance(value, str | int) else ""
    return int(text) if is_number(text) else None


def event_key(body: Payload) -> str | None:
    """The idempotency key of an Events API delivery: its event_id, the same on retries."""
    event_id = _str(body.get("event_id"))
    return f"slack:event:{event_id}" if event_id else None


def command_key(body: Payload) -> str | None:
    """A slash command has no event id; its trigger_id is unique per invocation."""
    trigger = _str(body.get("trigger_id"))
    return f"slack:command:{trigger}" if trigger else None


def action_key(body: Payload) -> str | None:
    """One click: the action's timestamp and the user who clicked."""
    stamp = _str(_first_action(body).get("action_ts"))
    user = _str(_obj(body.get("user")).get("id"))
    return f"slack:action:{stamp}:{user}" if stamp else None


def view_key(body: Payload) -> str | None:
    """One submission of one modal (a modal's hash changes with every update)."""
    view = _obj(body.get("view"))
    view_id, view_hash = _str(view.get("id")), _str(view.get("hash"))
    return f"slack:view:{view_id}:{view_hash}" if view_id else None
