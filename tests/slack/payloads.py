"""What Slack sends: event callbacks, slash commands, button clicks, modal submissions."""

from __future__ import annotations

import hashlib
import hmac
import json
from itertools import count
from typing import Any

from tests.slack.fake_slack import BOT_USER, TEAM

_ids = count(1)


def sign(secret: str, body: str, timestamp: int) -> dict[str, str]:
    """The v0 signature headers Slack puts on every HTTP request."""
    base = f"v0:{timestamp}:{body}".encode()
    digest = hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": str(timestamp), "X-Slack-Signature": f"v0={digest}"}


def event_callback(event: dict[str, Any], event_id: str | None = None) -> dict[str, Any]:
    return {
        "token": "legacy",
        "team_id": TEAM,
        "api_app_id": "A1",
        "type": "event_callback",
        "event_id": event_id or f"Ev{next(_ids):06d}",
        "event_time": 1700000000,
        "event": event,
        "authorizations": [{"team_id": TEAM, "user_id": BOT_USER, "is_bot": True}],
    }


def dm(user: str, text: str) -> dict[str, Any]:
    ts = f"1700000100.{next(_ids):06d}"
    return {
        "type": "message",
        "channel": "D" + user,
        "channel_type": "im",
        "user": user,
        "text": text,
        "ts": ts,
        "event_ts": ts,
    }


def mention(user: str, text: str, channel: str = "C1") -> dict[str, Any]:
    ts = f"1700000200.{next(_ids):06d}"
    return {
        "type": "app_mention",
        "channel": channel,
        "user": user,
        "text": f"<@{BOT_USER}> {text}",
        "ts": ts,
        "event_ts": ts,
    }


def home_opened(user: str) -> dict[str, Any]:
    return {"type": "app_home_opened", "user": user, "channel": "D" + user, "tab": "home"}


def slash(
    user: str, text: str, response_url: str, team: str = TEAM, channel: str = "C1"
) -> dict[str, str]:
    return {
        "token": "legacy",
        "team_id": team,
        "team_domain": "brandweer",
        "channel_id": channel,
        "channel_name": "algemeen",
        "user_id": user,
        "user_name": user.lower(),
        "command": "/leerlus",
        "text": text,
        "api_app_id": "A1",
        "response_url": response_url,
        "trigger_id": f"trigger.{next(_ids)}",
    }


def click(
    user: str,
    value: str,
    *,
    channel: str | None,
    response_url: str | None = None,
    action_ts: str | None = None,
    team: str = TEAM,
) -> dict[str, Any]:
    """A block_actions payload: a button on a message in `channel`, or on the home tab."""
    action = {
        "type": "button",
        "action_id": "leerlus:t0:0",
        "block_id": "leerlus:t0:0",
        "value": value,
        "action_ts": action_ts or f"1700000300.{next(_ids):06d}",
    }
    payload: dict[str, Any] = {
        "type": "block_actions",
        "team": {"id": team, "domain": "brandweer"},
        "user": {"id": user, "team_id": team},
        "api_app_id": "A1",
        "trigger_id": f"trigger.{next(_ids)}",
        "actions": [action],
    }
    if channel is None:
        payload["container"] = {"type": "view", "view_id": "VHOME"}
        payload["view"] = {"id": "VHOME", "type": "home"}
    else:
        ts = "1700000000.000001"
        payload["container"] = {"type": "message", "message_ts": ts, "channel_id": channel}
        payload["channel"] = {"id": channel}
        payload["message"] = {"ts": ts, "text": "…"}
        payload["response_url"] = response_url
    return payload


def submit(
    user: str, view: dict[str, Any], values: dict[str, Any], view_id: str = "V1"
) -> dict[str, Any]:
    """A view_submission of the modal `view` (as the bot opened it) with `values` per field."""
    state: dict[str, Any] = {}
    for block in view["blocks"]:
        name, element = block["block_id"], block["element"]
        value = values.get(name)
        kind = element["type"]
        if kind == "plain_text_input":
            entry: dict[str, Any] = {"type": kind, "value": value}
        elif kind == "static_select":
            entry = {"type": kind, "selected_option": {"value": value} if value else None}
        elif kind == "multi_static_select":
            entry = {"type": kind, "selected_options": [{"value": v} for v in value or []]}
        else:
            entry = {"type": kind, "selected_user": value}
        state[name] = {element["action_id"]: entry}
    return {
        "type": "view_submission",
        "team": {"id": TEAM},
        "user": {"id": user, "team_id": TEAM},
        "api_app_id": "A1",
        "trigger_id": f"trigger.{next(_ids)}",
        "view": {
            "id": view_id,
            "hash": "h1",
            "type": "modal",
            "callback_id": view["callback_id"],
            "private_metadata": view["private_metadata"],
            "state": {"values": state},
        },
    }


def as_form(payload: dict[str, Any]) -> str:
    """Interactivity payloads arrive form-encoded, as one `payload` field of JSON."""
    from urllib.parse import urlencode

    return urlencode({"payload": json.dumps(payload)})
