"""The console chat driven end to end as a user would: a real process, stdin and stdout."""

from __future__ import annotations

import pytest

from bot.models import Identity, Visibility
from tests.adapters.conftest import Cli


def chat(cli: Cli, *lines: str, who: str = "piet") -> str:
    result = cli("chat", "--as", who, input="\n".join(lines) + "\n")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    return result.stdout


def test_asking_shows_lessons_of_other_organisations_with_numbered_actions(cli: Cli) -> None:
    cli.ok("demo")
    out = chat(cli, "nazorg voor hulpverleners", "1", "/exit")
    assert "Welkom bij Leerlus, Piet" in out
    assert "Dit leerden anderen over ‘nazorg voor hulpverleners’" in out
    assert "[1] Nuttig" in out and "[2] Bedank" in out
    assert "fijn dat deze les hielp" in out  # "1" took the first choice: Nuttig
    assert "Tot ziens" in out


def test_a_whole_reflection_in_the_console_is_saved_and_found(cli: Cli) -> None:
    cli.ok("demo")
    out = chat(
        cli,
        "/reflectie",
        "We hadden binnen tien minuten een gezamenlijke gespreksgroep.",
        "De rijroute voor de tweede tankautospuit was onduidelijk.",
        "Spreek bij een tunnelbrand vooraf een vaste aanrijroute per bluseenheid af.",
        "3",  # the third option: the whole network
        "overslaan",
        "techniek, procedures",
        "@anna dank voor de snelle afzetting",
        "/exit",
    )
    assert "1/3" in out and "2/3" in out and "3/3" in out
    assert "Dank je wel! Je les is bewaard" in out
    assert "Je kudos zijn verstuurd aan Anna de Vries" in out
    store = cli.store()
    piet = store.member_by_identity(Identity("console", "piet"))
    assert piet is not None
    saved = store.reflections_of(piet.id)[0]
    assert saved.visibility is Visibility.NETWERK and saved.themes == ("techniek", "procedures")
    # anna (another organisation) finds it, and sees the kudos notice on opening the chat
    anna_out = chat(cli, "aanrijroute tunnelbrand", "/exit", who="anna")
    assert "dank voor de snelle afzetting" in anna_out
    assert "vaste aanrijroute per bluseenheid" in anna_out


def test_bad_input_gets_clear_replies_and_loses_nothing(cli: Cli) -> None:
    cli.ok("demo")
    piet = cli.store().member_by_identity(Identity("console", "piet"))
    assert piet is not None
    demo_kudos = len(cli.store().kudos_given(piet.id))
    out = chat(
        cli,
        "",
        "x" * 5001,
        "/vlieg",
        "/kudos @piet voor mezelf",
        "/kudos @nobody goed gedaan",
        *[f"/kudos @anna nummer {i}" for i in range(11)],
        "/reflectie",
        "y" * 1200,
        "/annuleer",
        "/exit",
    )
    assert "te lang" in out.lower()
    assert "/vlieg ken ik niet" in out
    assert "Jezelf kudos geven kan niet" in out
    assert "niemand die ‘nobody’ heet" in out
    assert out.count("Je kudos zijn verstuurd") == 10
    assert "maximum per dag" in out
    assert "1200 tekens" in out
    assert "concept is bewaard" in out
    store = cli.store()
    assert len(store.kudos_given(piet.id)) == demo_kudos + 10
    draft = store.current_draft(piet.id)
    assert draft is not None and draft.went_well == ""


def test_unknown_console_user_needs_an_organisation(cli: Cli) -> None:
    cli.ok("demo")
    result = cli("chat", "--as", "nieuweling", input="")
    assert result.returncode == 2 and "--org" in result.stderr
    joined = cli("chat", "--as", "nieuweling", "--org", "politie-rg", input="/mijn\n")
    assert joined.returncode == 0 and "Overzicht van nieuweling" in joined.stdout


def test_chat_without_name_lets_you_pick_a_member(cli: Cli) -> None:
    cli.ok("demo")
    result = cli("chat", input="0\n1\n/exit\n")
    assert "Who are you?" in result.stdout and "Type a number from 1" in result.stdout
    assert "Welkom bij Leerlus, Anna" in result.stdout


def test_forget_in_the_console_ends_the_session(cli: Cli) -> None:
    cli.ok("demo")
    out = chat(cli, "/vergeet", "ja", "/help")
    assert "Weet je het zeker" in out and "Al je gegevens zijn verwijderd" in out
    assert "Ik ben Leerlus" not in out  # the session ended with the member
    assert cli.store().member_by_identity(Identity("console", "piet")) is None


@pytest.mark.parametrize("command", ["/taal en", "/language en"])
def test_language_switch_in_the_console(cli: Cli, command: str) -> None:
    cli.ok("demo")
    out = chat(cli, command, "/help", "/exit")
    assert "I am Leerlus" in out and "Goodbye" in out
