"""Moderation (`verberg`, `toon`) is for coordinators of the lesson's own organisation, and
the audit trail records who did such things, when and through which channel."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Engine, inspect, text

from adapters.api import NewIncident, register
from bot.models import (
    Discipline,
    Identity,
    IncidentKind,
    Member,
    NewReflection,
    Role,
    Visibility,
)
from bot.replies import Text
from bot.service import Bot
from bot.texts import Translator
from storage import SqlStore, make_engine, upgrade
from storage.db import alembic_config
from tests.adapters.conftest import Cli
from tests.fakes import FixedClock, RecordingNotifier
from tests.privacy.conftest import EveryIdIndex

NOW = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
TR = Translator("nl")


class Net:
    """Two organisations; in the fire brigade a coordinator, a member and a colleague."""

    def __init__(self, engine: Engine) -> None:
        self.store = store = SqlStore(engine)
        self.index = EveryIdIndex()
        self.bot = Bot(
            store=store, index=self.index, clock=FixedClock(NOW), notifier=RecordingNotifier()
        )
        with store.transaction():
            fire = store.add_org("Brandweer Noord", "bw-noord", Discipline.BRANDWEER)
            police = store.add_org("Politie Noord", "pol-noord", Discipline.POLITIE)
            self.coordinator = store.add_member(
                fire.id, "Cora", Identity("console", "cora"), role=Role.COORDINATOR
            )
            self.member = store.add_member(fire.id, "Mo", Identity("console", "mo"))
            self.other_coordinator = store.add_member(
                police.id, "Otto", Identity("console", "otto"), role=Role.COORDINATOR
            )
        self.lessons = {v: self.lesson(self.member, f"Les {v.value}", v) for v in Visibility} | {
            "police": self.lesson(self.other_coordinator, "Les politie", Visibility.NETWERK)
        }

    def lesson(self, author: Member, lesson: str, visibility: Visibility) -> int:
        with self.store.transaction():
            rid = self.store.add_reflection(
                NewReflection(
                    org_id=author.org_id,
                    member_id=author.id,
                    went_well="Goed",
                    improve="Beter",
                    lesson=lesson,
                    visibility=visibility,
                ),
                NOW,
            ).id
        self.index.offer([rid])
        return rid

    def say(self, member: Member, line: str) -> list[Text]:
        replies = self.bot.handle_text(member, line)
        assert all(isinstance(r, Text) for r in replies)
        return [r for r in replies if isinstance(r, Text)]

    def hidden(self, rid: int) -> bool:
        reflection = self.store.get_reflection(rid)
        assert reflection is not None
        return reflection.hidden

    def found_by_police(self, rid: int) -> bool:
        with self.store.transaction():
            return rid in self.store.visible_lessons(self.other_coordinator, [rid])


@pytest.fixture
def net(engine: Engine) -> Net:
    return Net(engine)


def test_only_coordinators_hide(net: Net) -> None:
    rid = net.lessons[Visibility.NETWERK]
    assert net.say(net.member, f"/verberg {rid}") == [Text(TR("hide.not_allowed"))]
    assert not net.hidden(rid) and net.store.audit_entries() == []


@pytest.mark.parametrize(
    "which",
    [
        "police",  # a network lesson, but of another organisation
        Visibility.ANONIEM,  # of their organisation, but nobody may know that
        Visibility.PRIVE,  # of their organisation, but the coordinator may not see it
        "missing",
    ],
)
def test_coordinators_hide_only_what_they_moderate(net: Net, which: object) -> None:
    rid = 10**6 if which == "missing" else net.lessons[which]  # type: ignore[index]
    # The same answer every time: probing ids tells nothing.
    assert net.say(net.coordinator, f"/verberg {rid}") == [Text(TR("lesson.not_found"))]
    assert net.say(net.coordinator, f"/toon {rid}") == [Text(TR("lesson.not_found"))]
    if which != "missing":
        assert not net.hidden(rid)
    assert net.store.audit_entries() == []


def test_a_coordinator_hides_and_shows_a_lesson_of_their_organisation(net: Net) -> None:
    for visibility in (Visibility.NETWERK, Visibility.ORGANISATIE):
        rid = net.lessons[visibility]
        assert net.say(net.coordinator, f"/verberg {rid}") == [Text(TR("hide.done", id=rid))]
        assert net.hidden(rid) and rid in net.index.removed
        assert net.say(net.coordinator, f"/verberg {rid}") == [Text(TR("lesson.not_found"))]
        # Another coordinator can neither show it nor learn that it exists.
        assert net.say(net.other_coordinator, f"/toon {rid}") == [Text(TR("lesson.not_found"))]
        assert net.say(net.member, f"/toon {rid}") == [Text(TR("hide.not_allowed"))]
        assert net.say(net.coordinator, f"/toon {rid}") == [Text(TR("unhide.done", id=rid))]
        assert not net.hidden(rid)
    assert net.found_by_police(net.lessons[Visibility.NETWERK])
    trail = [(e.actor_id, e.action, e.target, e.via) for e in net.store.audit_entries()]
    c = net.coordinator.id
    network, organisation = net.lessons[Visibility.NETWERK], net.lessons[Visibility.ORGANISATIE]
    assert trail == [  # newest first
        (c, "reflection.unhide", f"reflection:{organisation}", "chat"),
        (c, "reflection.hide", f"reflection:{organisation}", "chat"),
        (c, "reflection.unhide", f"reflection:{network}", "chat"),
        (c, "reflection.hide", f"reflection:{network}", "chat"),
    ]
    assert [e.target for e in net.store.audit_entries(2)] == [f"reflection:{organisation}"] * 2


def test_hidden_lessons_leave_search_for_everyone_but_stay_with_the_author(net: Net) -> None:
    rid = net.lessons[Visibility.NETWERK]
    net.say(net.coordinator, f"/verberg {rid}")
    assert not net.found_by_police(rid)
    with net.store.transaction():
        own = [r.id for r in net.store.reflections_of(net.member.id)]
    assert rid in own


def test_migration_0004_keeps_the_trail_and_adds_the_channel(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        upgrade(engine, "0003")
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO audit (actor_id, action, target, created_at)"
                    " VALUES (NULL, 'member.forget', 'member:7', :at)"
                ),
                {"at": NOW.replace(tzinfo=None)},
            )
        assert "via" not in {c["name"] for c in inspect(engine).get_columns("audit")}
        upgrade(engine)
        [entry] = SqlStore(engine).audit_entries()
        assert (entry.action, entry.target, entry.via) == ("member.forget", "member:7", None)
        assert "ix_audit_created_at" in {i["name"] for i in inspect(engine).get_indexes("audit")}
        config = alembic_config()
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "0003")
        assert "via" not in {c["name"] for c in inspect(engine).get_columns("audit")}
        with engine.connect() as connection:
            assert connection.scalar(text("SELECT count(*) FROM audit")) == 1
    finally:
        engine.dispose()


def test_invites_joins_and_incidents_name_their_channel(net: Net) -> None:
    """Chat and incident API alike: every entry says where the action came from."""
    [created] = net.say(net.coordinator, "/uitnodiging")
    words = created.body.replace(":", " ").split()
    code = next(word for word in words if word.isupper() and len(word) >= 6)
    assert net.store.get_invite(code) is not None
    net.bot.join(Identity("telegram", "42"), "Nina", code)
    net.say(net.coordinator, "/incident Brand in de loods met @mo")
    new = NewIncident(
        organisation="bw-noord",
        title="Wateroverlast",
        kind=IncidentKind.INCIDENT,
        occurred_at=NOW,
        participants=(Identity("console", "mo"),),
        prompt_at=None,
    )
    register(new, store=net.store, clock=FixedClock(NOW), timezone="Europe/Amsterdam")
    trail = [(e.action, e.via) for e in net.store.audit_entries()]
    assert trail == [  # newest first
        ("incident.add.api", "api"),
        ("incident.add", "chat"),
        ("member.join", "chat"),
        ("invite.add", "chat"),
    ]


def test_cli_audit_lists_operator_actions(cli: Cli, tmp_path: Path) -> None:
    assert "The audit trail is empty." in cli.ok("audit")
    cli.ok("org", "add", "Brandweer Zuid", "--discipline", "brandweer")
    cli.ok("member", "add", "console:piet", "Piet", "--org", "brandweer-zuid")
    cli.ok("member", "role", "console:piet", "coordinator")
    cli.ok("org", "invite", "brandweer-zuid")
    records = tmp_path / "lessons.jsonl"
    records.write_text(
        json.dumps({"id": "x1", "text": "Oefen de ontruiming", "organisation": "Brandweer Zuid"})
        + "\n",
        encoding="utf-8",
    )
    cli.ok("import", str(records))
    rows = [line for line in cli.ok("audit").splitlines() if "cli" in line]
    actions = ["lessons.import", "invite.add", "member.role.coordinator", "member.add"]
    assert [next(a for a in actions if a in row) for row in rows] == actions  # newest first
    assert "file:lessons.jsonl:1" in rows[0]
    newest = cli.ok("audit", "--limit", "1")
    assert "lessons.import" in newest and "member.add" not in newest
    bad = cli("audit", "--limit", "0")
    assert bad.returncode == 2
