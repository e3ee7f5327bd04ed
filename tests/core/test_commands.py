"""parse_command on its own: every command in both languages, and bad input."""

from __future__ import annotations

import pytest

from bot import commands as c
from bot.models import IncidentKind


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("hoe evacueer je een zorginstelling?", c.PlainText("hoe evacueer je een zorginstelling?")),
        ("/vraag radio problemen", c.Ask("radio problemen")),
        ("/ask radio problems", c.Ask("radio problems")),
        ("/meer", c.More()),
        ("/more", c.More()),
        ("/reflectie", c.StartReflection(None)),
        ("/reflect 12", c.StartReflection("12")),
        ("/kudos", c.ListKudos()),
        ("/kudos @piet voor de briefing", c.GiveKudos("piet", "voor de briefing")),
        ("/mijn", c.Mine()),
        ("/mine", c.Mine()),
        ("/vergeet", c.Forget()),
        ("/forget", c.Forget()),
        ("/digest uit", c.SetDigest(False)),
        ("/digest on", c.SetDigest(True)),
        ("/taal en", c.SetLanguage("en")),
        ("/language nl", c.SetLanguage("nl")),
        ("/help", c.Help()),
        ("/start ABC123", c.Join("ABC123")),
        ("/uitnodiging", c.CreateInvite()),
        ("/invite", c.CreateInvite()),
        ("/annuleer", c.Cancel()),
        ("/nuttig 7", c.Helpful(7)),
        ("/bedank 7", c.Thank(7, "")),
        ("/invullen 3", c.PromptAction(3, "now")),
        ("/later 3", c.PromptAction(3, "later")),
        ("/later 3 morgen", c.PromptAction(3, "tomorrow")),
        ("/overslaan 3", c.PromptAction(3, "skip")),
        ("/ja", c.Confirm(True)),
        ("/help@leerlus_bot", c.Help()),
    ],
)
def test_commands_parse_in_both_languages(text: str, expected: c.Command) -> None:
    assert c.parse_command(text) == expected


def test_incident_with_participants_and_time() -> None:
    cmd = c.parse_command("/incident Brand in loods met @anna @piet om morgen 9:00")
    assert cmd == c.RegisterIncident(
        IncidentKind.INCIDENT, "Brand in loods", ("anna", "piet"), "morgen 9:00"
    )


def test_exercise_in_english() -> None:
    cmd = c.parse_command("/exercise Flood drill with @slack:U1, @sara at in 2 hours")
    assert cmd == c.RegisterIncident(
        IncidentKind.OEFENING, "Flood drill", ("slack:U1", "sara"), "in 2 hours"
    )


def test_incident_without_extras() -> None:
    assert c.parse_command("/oefening Ontruiming stadion") == c.RegisterIncident(
        IncidentKind.OEFENING, "Ontruiming stadion", (), None
    )


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("", "error.empty"),
        ("   \n ", "error.empty"),
        ("x" * 5001, "error.too_long"),
        ("/vraag", "ask.usage"),
        ("/kudos piet goed gedaan", "kudos.usage"),
        ("/kudos @piet", "kudos.reason_required"),
        ("/incident", "incident.usage"),
        ("/digest misschien", "digest.usage"),
        ("/taal fr", "language.usage"),
        ("/nuttig abc", "error.missing_id"),
        ("/start", "join.usage"),
    ],
)
def test_bad_input_names_its_explanation(text: str, key: str) -> None:
    cmd = c.parse_command(text)
    assert isinstance(cmd, c.Invalid)
    assert cmd.key == key


def test_unknown_command_keeps_its_name() -> None:
    assert c.parse_command("/vlieg naar de maan") == c.Unknown("vlieg")


def test_control_characters_are_dropped() -> None:
    assert c.parse_command("\x00/help\x07") == c.Help()
