"""The `leerlus` command line, run as a user would: a subprocess per command."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.models import Identity, PromptState
from tests.adapters.conftest import Cli


def test_org_add_list_and_refusals(cli: Cli) -> None:
    assert "Added Politie Noord" in cli.ok(
        "org", "add", "Politie Noord", "--discipline", "politie", "--slack-team", "T123"
    )
    listing = cli.ok("org", "list")
    assert "politie-noord" in listing and "T123" in listing
    again = cli("org", "add", "politie noord", "--discipline", "politie")
    assert again.returncode == 2 and "already exists" in again.stderr
    bad = cli("org", "add", "X", "--discipline", "circus")
    assert bad.returncode == 2 and "circus" in bad.stderr
    assert "Traceback" not in again.stderr + bad.stderr


def test_members_roles_and_invites(cli: Cli) -> None:
    cli.ok("org", "add", "Brandweer Zuid", "--discipline", "brandweer")
    cli.ok("member", "add", "console:piet", "Piet", "--org", "brandweer-zuid")
    assert "coordinator" in cli.ok("member", "role", "console:piet", "coordinator")
    unknown = cli("member", "role", "slack:UNOPE", "coordinator")
    assert unknown.returncode == 2 and "No member" in unknown.stderr
    malformed = cli("member", "role", "piet", "coordinator")
    assert malformed.returncode == 2 and "PLATFORM:USER_ID" in malformed.stderr
    invite = cli.ok("org", "invite", "Brandweer Zuid")
    code = invite.split("Invite code for Brandweer Zuid: ")[1].split()[0]
    assert f"start={code}" in invite
    with cli.store().transaction():
        assert cli.store().get_invite(code) is not None


def test_incident_add_schedules_prompts_and_refuses_unknown_people(cli: Cli) -> None:
    cli.ok("org", "add", "GHOR", "--discipline", "ghor")
    cli.ok("member", "add", "console:ingrid", "Ingrid", "--org", "ghor")
    cli.ok(
        "incident",
        "add",
        "ghor",
        "Stroomstoring",
        "--participant",
        "console:ingrid",
        "--at",
        "2030-01-01T10:00:00+01:00",
    )
    store = cli.store()
    member = store.member_by_identity(Identity("console", "ingrid"))
    assert member is not None
    [prompt] = store.prompts_of(member.id)
    assert prompt.state is PromptState.SCHEDULED and prompt.due_at.year == 2030
    refused = cli("incident", "add", "ghor", "Brand", "--participant", "console:nobody")
    assert refused.returncode == 2 and "nothing was registered" in refused.stderr
    bad_time = cli(
        "incident", "add", "ghor", "Brand", "--participant", "console:ingrid", "--at", "ooit eens"
    )
    assert bad_time.returncode == 2 and "ooit eens" in bad_time.stderr
    assert len(store.prompts_of(member.id)) == 1


def test_demo_loads_once_and_export_keeps_private_lessons_out(cli: Cli) -> None:
    assert "46 reflections" in cli.ok("demo")
    again = cli("demo")
    assert again.returncode == 2 and "not empty" in again.stderr
    assert cli.ok("demo", "--if-empty") == ""
    rows = [json.loads(line) for line in cli.ok("export").splitlines()]
    assert rows and {r["visibility"] for r in rows} == {"netwerk", "anoniem"}
    for row in rows:
        if row["visibility"] == "anoniem":
            assert row["organisation"] == ""
    as_member = [json.loads(x) for x in cli.ok("export", "--as", "console:anna").splitlines()]
    assert len(as_member) > len(rows)  # anna also sees her organisation's and own lessons
    table = list(csv.DictReader(io.StringIO(cli.ok("export", "--format", "csv"))))
    assert len(table) == len(rows) and set(table[0]) >= {"lesson", "went_well", "improve"}


def test_ask_from_the_shell(cli: Cli) -> None:
    cli.ok("demo")
    result = json.loads(cli.ok("ask", "nazorg hulpverleners", "--json", "--limit", "5"))
    assert 0 < len(result["results"]) <= 5
    assert all(r["visibility"] in ("netwerk", "anoniem") for r in result["results"])
    assert "nazorg" in json.dumps(result["results"][0], ensure_ascii=False).lower()
    empty = cli("ask", "  ")
    assert empty.returncode == 2 and "Ask a question" in empty.stderr


def test_reindex_rebuilds_a_deleted_index(cli: Cli) -> None:
    cli.ok("demo")
    for path in (cli.home / "data" / "index").glob("*"):
        path.unlink()
    assert "Indexed 46 lessons" in cli.ok("reindex")
    assert "Indexed" in cli("reindex").stdout


def test_db_upgrade_on_an_empty_database(cli: Cli) -> None:
    assert "up to date" in cli.ok("db", "upgrade")
    assert (cli.home / "data" / "leerlus.db").is_file()


def test_import_real_records_keeps_ids_and_is_idempotent(
    cli: Cli, real_records: Callable[[int], Path]
) -> None:
    path = real_records(10)
    first = cli.ok("import", str(path))
    assert "Imported 30 lessons" in first and "lessons/s" in first
    assert "Imported 0 lessons" in cli.ok("import", str(path))
    listing = cli.ok("org", "list")
    assert "Veiligheidsregio" in listing
    result = json.loads(cli.ok("ask", "brand appartement", "--json", "--limit", "10"))
    ids = [r["external_id"] for r in result["results"]]
    assert ids and all(i.startswith(("vrgrip-", "safenet-", "llis-")) for i in ids)
    missing = cli("import", "nope.jsonl")
    assert missing.returncode == 2 and "No such file" in missing.stderr
    no_batch = cli("import", "--batch", "0", str(path))
    assert no_batch.returncode == 2 and "--batch" in no_batch.stderr


def test_import_reports_invalid_lines_and_keeps_the_rest(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "mixed.jsonl"
    path.write_text(
        '{"id": "a1", "text": "Oefen de ontruiming", "organisation": "X"}\n'
        "not json\n"
        '{"text": "no id"}\n'
        '{"id": "a2", "text": "Houd de briefing kort", "organisation": "X"}\n'
    )
    out = cli.ok("import", str(path))
    assert "Imported 2 lessons" in out and "2 invalid lines" in out


@pytest.mark.slow
def test_real_models_find_lessons_across_languages(
    cli_models: Cli, real_records: Callable[[int], Path]
) -> None:
    cli_models.ok("demo")
    dutch = json.loads(
        cli_models.ok(
            "ask", "hoe communiceer je met bewoners bij een evacuatie", "--json", "--limit", "3"
        )
    )
    assert dutch["results"] and dutch["results"][0]["language"] == "nl"
    english = json.loads(
        cli_models.ok("ask", "radio problems during a large incident", "--json", "--limit", "5")
    )
    assert any(r["language"] == "nl" for r in english["results"])  # a Dutch lesson answers
    nonsense = json.loads(cli_models.ok("ask", "beste recept voor appeltaart", "--json"))
    assert nonsense["results"] == []
