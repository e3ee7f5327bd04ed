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

from bot.commands import Command, PromptAction, StartReflection, SubmitReflection, parse_command

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


def to_core_text(text: str, bot_user: str | None = None) -> str:
    """Turn Slack message markup into the plain text the core parses."""
    if bot_user:
        text = re.sub(rf"<@{re.escape(bot_user)}(?:\|[^>]*)?>", " ", text)
    text = _USER.sub(lambda m: f"@slack:{m[1]}", text)
    text = _CHANNEL.sub(lambda m: f"#{m[1]}", text)
    text = _SPECIAL.sub(lambda m: f"@{m[1]}", text)
    text = _LINK.sub(lambda m: m[2] or m[1], text)
    return re.sub(r"[ \t]+", " ", html.unescape(text)).strip()


def mentioned_users(text: str, bot_user: str | None = None) -> list[str]:
    """The Slack user ids mentioned in a text (without the bot), in order, once each."""
    found = [m for m in _USER.findall(text) if m != bot_user]
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
        team=body.get("team_id", ""),
        user=body.get("user_id", ""),
        channel=body.get("channel_id"),
        trigger_id=body.get("trigger_id"),
        response_url=body.get("response_url"),
        private=True,
        command=slash_text(to_core_text(body.get("text", ""))),
    )


def event_origin(body: Payload) -> Origin:
    """Where a message or mention came from; a mention is answered in its thread."""
    event = body.get("event", {})
    thread = event.get("thread_ts")
    if event.get("type") == "app_mention":
        thread = thread or event.get("ts")
    return Origin(
        team=event.get("user_team") or body.get("team_id", ""),
        user=event.get("user", ""),
        channel=event.get("channel"),
        thread_ts=thread,
    )


def action_origin(body: Payload) -> Origin:
    """Where a button was clicked: a message (DM or channel) or the home tab."""
    user = body.get("user", {})
    team = user.get("team_id") or body.get("team", {}).get("id", "")
    channel = (body.get("channel") or {}).get("id")  # absent for buttons on the home tab
    message = body.get("message") or {}
    action = (body.get("actions") or [{}])[0]
    return Origin(
        team=team,
        user=user.get("id", ""),
        channel=channel,
        thread_ts=message.get("thread_ts"),
        trigger_id=body.get("trigger_id"),
        response_url=body.get("response_url"),
        private=channel is not None and not channel.startswith("D"),
        command=action.get("value", ""),
    )


def view_origin(body: Payload) -> Origin:
    """A submitted modal has no channel: its answer goes by direct message."""
    user = body.get("user", {})
    return Origin(team=user.get("team_id") or body.get("team", {}).get("id", ""), user=user["id"])


def action_command(body: Payload) -> Command:
    """The command a clicked button carries."""
    action = (body.get("actions") or [{}])[0]
    return with_forms(parse_command(action.get("value", "")))


def submission(view: Payload) -> tuple[SubmitReflection | None, list[str]]:
    """The command of a submitted modal, and the Slack users picked in it."""
    try:
        meta = json.loads(view.get("private_metadata") or "{}")
    except ValueError:
        meta = {}
    if not isinstance(meta, dict) or meta.get("submit") != "reflection":
        return None, []
    values: dict[str, str] = {}
    users: list[str] = []
    for block_id, actions in view.get("state", {}).get("values", {}).items():
        for element in actions.values():
            value, user = _element_value(element)
            values[block_id] = value
            users += [user] if user else []
    context = meta.get("context") or {}
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
        return (element.get("selected_option") or {}).get("value", ""), None
    if kind == "multi_static_select":
        return ",".join(o.get("value", "") for o in element.get("selected_options") or []), None
    if kind == "users_select":
        user = element.get("selected_user")
        return (f"@slack:{user}", user) if user else ("", None)
    return element.get("value") or "", None


def _int(value: object) -> int | None:
    text = str(value or "")
    return int(text) if text.isdigit() else None


def event_key(body: Payload) -> str | None:
    """The idempotency key of an Events API delivery: its event_id, the same on retries."""
    event_id = body.get("event_id")
    return f"slack:event:{event_id}" if event_id else None


def command_key(body: Payload) -> str | None:
    """A slash command has no event id; its trigger_id is unique per invocation."""
    trigger = body.get("trigger_id")
    return f"slack:command:{trigger}" if trigger else None


def action_key(body: Payload) -> str | None:
    """One click: the action's timestamp and the user who clicked."""
    action = (body.get("actions") or [{}])[0]
    stamp = action.get("action_ts")
    return f"slack:action:{stamp}:{body.get('user', {}).get('id', '')}" if stamp else None


def view_key(body: Payload) -> str | None:
    """One submission of one modal (a modal's hash changes with every update)."""
    view = body.get("view", {})
    return f"slack:view:{view['id']}:{view.get('hash', '')}" if view.get("id") else None
