"""Payload in, Block Kit out: the pure translation functions, and when Slack is on."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest

from adapters.slack import inbound, outbound
from adapters.slack.app import configure, not_configured
from bot.commands import Ask, GiveKudos, PromptAction, StartReflection, parse_command
from bot.config import Settings
from bot.replies import Choice, Field, Form, LessonCard, Text


def test_slack_markup_becomes_core_text() -> None:
    text = "<@UBOT> hoi <@U1|anna> in <#C9|algemeen>, zie <https://x.nl/a|de site> &amp; <!here>"
    assert inbound.to_core_text(text, "UBOT") == ("hoi @slack:U1 in #algemeen, zie de site & @here")
    assert inbound.mentioned_users(text + " <@U1> <@U2>", "UBOT") == ["U1", "U2"]


def test_slash_text_and_mentions_become_commands() -> None:
    assert inbound.slash_text("  ") == "/help"
    cmd = parse_command(inbound.slash_text(inbound.to_core_text("kudos <@U7> top werk")))
    assert cmd == GiveKudos("slack:U7", "top werk")
    assert parse_command(inbound.mention_text("wat weten we?")) == Ask("wat weten we?")
    assert inbound.with_forms(parse_command("/reflectie")) == StartReflection(None, as_form=True)
    assert inbound.with_forms(parse_command("/invullen 4")) == PromptAction(4, "now", True)
    assert inbound.with_forms(parse_command("/later 4")) == PromptAction(4, "later")


def test_a_modal_of_unknown_kind_is_not_a_reflection() -> None:
    assert inbound.submission({"private_metadata": "not json"}) == (None, [])
    assert inbound.submission({"private_metadata": '{"submit": "other"}'}) == (None, [])


def test_texts_are_escaped_and_commands_spelled_for_slack() -> None:
    text = "Typ /reflectie of /help, zie https://leerlus.nl/help <b> & meer"
    assert outbound.escape(text) == (
        "Typ /leerlus reflectie of /leerlus help, zie https://leerlus.nl/help &lt;b&gt; &amp; meer"
    )


def test_long_texts_fit_slack_limits() -> None:
    blocks = outbound.text_blocks(Text("x" * 7000))
    assert len(blocks) == 3 and all(len(b["text"]["text"]) <= 3000 for b in blocks)
    card = LessonCard(
        reflection_id=5,
        lesson="les " * 1000,
        went_well="goed",
        improve="",
        source="Brandweer Noord",
        labels={"lesson": "Les", "went_well": "Ging goed", "improve": "Kan beter"},
        incident_title="Brand",
        date=datetime(2026, 3, 1, tzinfo=UTC),
        title="Een titel",
        choices=(Choice("Nuttig", "/nuttig 5"), Choice("Bedank " * 20, "/bedank 5", "primary")),
    )
    blocks = outbound.card_blocks(card)
    assert all(len(b.get("text", {}).get("text", "")) <= 3000 for b in blocks)
    context = next(b for b in blocks if b["type"] == "context")
    assert context["elements"][0]["text"] == "Brandweer Noord · Incident: Brand · 01-03-2026"
    [actions] = [b for b in blocks if b["type"] == "actions"]
    labels = [e["text"]["text"] for e in actions["elements"]]
    assert len(labels[1]) <= 75 and actions["elements"][1]["style"] == "primary"
    ids = [e["action_id"] for e in actions["elements"]]
    assert len(set(ids)) == 2 and all(i.startswith(inbound.ACTION_PREFIX) for i in ids)


def test_a_form_becomes_a_modal_and_back() -> None:
    form = Form(
        title="Een heel lange titel voor een modal",
        fields=(
            Field("lesson", "Les", value="oud", multiline=True),
            Field("visibility", "Wie", value="netwerk", options=(Choice("Netwerk", "netwerk"),)),
            Field(
                "themes",
                "Thema's",
                value="nazorg",
                options=(Choice("nazorg", "nazorg"),),
                multi=True,
                required=False,
            ),
            Field("thanks", "Bedanken", person=True, required=False),
        ),
        submit="reflection",
        submit_label="Bewaren",
        context={"incident_id": "7"},
    )
    view = outbound.modal(form)
    assert len(view["title"]["text"]) <= 24
    lesson, visibility, themes, thanks = view["blocks"]
    assert lesson["element"]["initial_value"] == "oud" and lesson["element"]["multiline"]
    assert visibility["element"]["initial_option"]["value"] == "netwerk"
    assert themes["optional"] and themes["element"]["initial_options"][0]["value"] == "nazorg"
    assert thanks["element"]["type"] == "users_select"
    state = {
        "lesson": {"lesson": {"type": "plain_text_input", "value": "nieuw"}},
        "visibility": {
            "visibility": {"type": "static_select", "selected_option": {"value": "netwerk"}}
        },
        "themes": {
            "themes": {"type": "multi_static_select", "selected_options": [{"value": "nazorg"}]}
        },
        "thanks": {"thanks": {"type": "users_select", "selected_user": "U5"}},
    }
    submitted = {"private_metadata": view["private_metadata"], "state": {"values": state}}
    command, users = inbound.submission(submitted)
    assert command is not None and users == ["U5"]
    assert (command.lesson, command.visibility, command.themes) == ("nieuw", "netwerk", "nazorg")
    assert command.thanks == "@slack:U5" and command.incident_id == 7
    assert json.loads(view["private_metadata"])["context"] == {"incident_id": "7"}


def _settings(tmp_path: Path, **slack: str) -> Settings:
    values = {"slack_bot_token": None, "slack_app_token": None, "slack_signing_secret": None}
    return Settings(_env_file=None, data_dir=tmp_path, embedding_model="", **{**values, **slack})


@pytest.mark.parametrize(
    ("slack", "reason"),
    [
        ({}, "SLACK_BOT_TOKEN not set"),
        ({"slack_bot_token": "xoxb-1"}, "SLACK_APP_TOKEN (Socket Mode) or SLACK_SIGNING_SECRET"),
    ],
)
def test_slack_is_off_without_its_settings(
    tmp_path: Path, slack: dict[str, str], reason: str
) -> None:
    rt = SimpleNamespace(settings=_settings(tmp_path, **slack))
    assert configure(rt) is None  # type: ignore[arg-type]
    assert not_configured(rt).startswith(reason)  # type: ignore[arg-type]


def test_the_manifest_matches_what_the_adapter_listens_to() -> None:
    yaml = pytest.importorskip("yaml")
    from adapters.slack.app import SLASH_COMMAND

    manifest = yaml.safe_load((Path(__file__).parents[2] / "slack-manifest.yaml").read_text())
    features, settings = manifest["features"], manifest["settings"]
    [command] = features["slash_commands"]
    assert command["command"] == SLASH_COMMAND and command["should_escape"] is True
    assert features["app_home"]["home_tab_enabled"] is True
    assert set(settings["event_subscriptions"]["bot_events"]) == {
        "app_home_opened",
        "app_mention",
        "message.im",
    }
    assert settings["interactivity"]["is_enabled"] and settings["socket_mode_enabled"]
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    assert {"chat:write", "commands", "im:history", "im:write", "users:read"} <= scopes
