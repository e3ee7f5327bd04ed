"""`mijn export` / `mine export`: everything the bot holds about the member, as a JSON file,
delivered as a file where the chat allows it (Slack, Telegram), written to the data
directory on the console, and at the command line with `leerlus member export`."""

from __future__ import annotations

import io
import json
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from rich.console import Console
from sqlalchemy import Engine

from adapters.console import ConsoleChat
from adapters.slack.delivery import Delivery, web_client
from adapters.slack.inbound import Origin
from bot.commands import ExportMine, Mine, parse_command
from bot.models import (
    Discipline,
    Identity,
    IncidentKind,
    Member,
    NewReflection,
    Visibility,
)
from bot.replies import File, Text
from bot.service import Bot
from bot.texts import Translator
from storage import SqlStore
from tests.adapters.conftest import Cli
from tests.fakes import FixedClock, RecordingNotifier
from tests.privacy.conftest import EveryIdIndex
from tests.slack.fake_slack import Failure, FakeSlack
from tests.telegram.conftest import Chat, World
from tests.telegram.fake_api import FakeBotApi

NOW = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)


def _net(store: SqlStore) -> tuple[Bot, Member, Member]:
    with store.transaction():
        fire = store.add_org("Brandweer West", "bw-west", Discipline.BRANDWEER)
        police = store.add_org("Politie West", "pol-west", Discipline.POLITIE)
        anna = store.add_member(fire.id, "Anna", Identity("console", "anna"))
        store.add_identity(anna.id, Identity("telegram", "77"))
        bram = store.add_member(police.id, "Bram", Identity("console", "bram"), locale="en")
        incident = store.add_incident(
            fire.id, "Brand West", IncidentKind.INCIDENT, NOW, NOW, [anna.id]
        )
        store.add_prompt(incident.id, anna.id, NOW + timedelta(hours=2), NOW)
    bot = Bot(
        store=store, index=EveryIdIndex(), clock=FixedClock(NOW), notifier=RecordingNotifier()
    )
    return bot, store.get_member(anna.id) or anna, store.get_member(bram.id) or bram


def _lesson(
    store: SqlStore, author: Member, text: str, visibility: Visibility, **kw: object
) -> int:
    return store.add_reflection(
        NewReflection(
            org_id=author.org_id,
            member_id=author.id,
            went_well="Goed",
            improve="Beter",
            lesson=text,
            visibility=visibility,
            **kw,  # type: ignore[arg-type]
        ),
        NOW,
    ).id


def _export(bot: Bot, member: Member, *, shared: bool = False) -> dict[str, object]:
    replies = bot.handle(member, ExportMine(), shared=shared)
    [file] = replies
    assert isinstance(file, File)
    assert file.mime == "application/json" and file.name.endswith(".json")
    assert file.caption == Translator(member.locale)(
        "export.caption", count=len(json.loads(file.content)["reflections"])
    )
    data: dict[str, object] = json.loads(file.content.decode("utf-8"))
    return data


def test_the_commands_are_parsed_in_both_languages() -> None:
    assert parse_command("/mijn export") == ExportMine()
    assert parse_command("/mine EXPORT") == ExportMine()
    assert parse_command("/mijn") == Mine()


def test_export_holds_everything_about_the_member(engine: Engine) -> None:
    store = SqlStore(engine)
    bot, anna, bram = _net(store)
    with store.transaction():
        mine = _lesson(store, anna, "Mijn netwerkles", Visibility.NETWERK)
        _lesson(store, anna, "Half af", Visibility.PRIVE, draft=True)
        secret = _lesson(store, bram, "Bram anoniem", Visibility.ANONIEM)
        named = _lesson(store, bram, "Bram met naam", Visibility.NETWERK)
    bot.index.offer([mine, secret, named])  # type: ignore[attr-defined]
    bot.handle_text(anna, f"/bedank {secret} Dank anoniem")
    bot.handle_text(anna, f"/bedank {named} Dank met naam")
    bot.handle_text(anna, f"/nuttig {named}")
    bot.handle_text(bram, "/kudos @console:anna Sterk werk")
    bot.handle_text(anna, "/vraag brand")
    data = _export(bot, anna)
    assert data["format"] == "leerlus-member-export/1"
    member = data["member"]
    assert isinstance(member, dict)
    assert member["name"] == "Anna" and member["organisation"]["slug"] == "bw-west"
    assert data["identities"] == [
        {"platform": "console", "user_id": "anna"},
        {"platform": "telegram", "user_id": "77"},
    ]
    reflections = data["reflections"]
    assert isinstance(reflections, list)
    assert {(r["lesson"], r["draft"]) for r in reflections} == {
        ("Mijn netwerkles", False),
        ("Half af", True),
    }
    given = {k["reason"]: k["to"] for k in data["kudos_given"]}  # type: ignore[union-attr]
    assert given == {"Dank anoniem": None, "Dank met naam": {"id": bram.id, "name": "Bram"}}
    received = data["kudos_received"]
    assert [(k["from"]["name"], k["reason"]) for k in received] == [("Bram", "Sterk werk")]  # type: ignore[union-attr,index]
    assert [(f["reflection_id"], f["helpful"]) for f in data["feedback"]] == [(named, True)]  # type: ignore[union-attr,index]
    assert [(p["incident"], p["state"]) for p in data["prompts"]] == [("Brand West", "scheduled")]  # type: ignore[union-attr,index]
    assert [i["title"] for i in data["incidents"]] == ["Brand West"]  # type: ignore[union-attr,index]
    assert data["conversation"]["last_query"] == "brand"  # type: ignore[index]
    # Nothing of Bram's anonymous lesson that would name him: he is not in the file at all
    # except as the giver of his own kudos.
    raw = json.dumps(data, ensure_ascii=False)
    assert "Bram anoniem" not in raw and "Bram met naam" not in raw
    [entry] = store.audit_entries(10, actor_id=anna.id)
    assert (entry.action, entry.target, entry.via) == ("member.export", f"member:{anna.id}", "chat")


def test_export_is_refused_where_others_read_along(engine: Engine) -> None:
    store = SqlStore(engine)
    bot, anna, _ = _net(store)
    replies = bot.handle(anna, parse_command("/mijn export"), shared=True)
    assert replies == [Text(Translator("nl")("shared.personal"))]
    assert store.audit_entries(10) == []


def test_console_writes_the_file_for_its_owner_only(engine: Engine, tmp_path: Path) -> None:
    store = SqlStore(engine)
    bot, anna, _ = _net(store)
    out = io.StringIO()
    console = ConsoleChat(
        bot, anna, Console(file=out, width=300, color_system=None), files_dir=tmp_path / "exports"
    )
    assert console.step("/mijn export")
    [path] = (tmp_path / "exports").iterdir()
    assert json.loads(path.read_text(encoding="utf-8"))["member"]["name"] == "Anna"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert Translator("nl")("export.saved", path=str(path.resolve())) in out.getvalue()


def test_console_without_a_files_directory_prints_the_export(engine: Engine) -> None:
    store = SqlStore(engine)
    bot, anna, _ = _net(store)
    out = io.StringIO()
    console = ConsoleChat(bot, anna, Console(file=out, width=300, color_system=None))
    assert console.step("/mine export")
    assert '"format": "leerlus-member-export/1"' in out.getvalue()


def test_cli_member_export_writes_json_and_is_audited(cli: Cli, tmp_path: Path) -> None:
    cli.ok("org", "add", "Brandweer Zuid", "--discipline", "brandweer")
    cli.ok("member", "add", "console:piet", "Piet", "--org", "brandweer-zuid")
    data = json.loads(cli.ok("member", "export", "console:piet"))
    assert data["member"]["name"] == "Piet" and data["reflections"] == []
    target = tmp_path / "piet.json"
    assert "Exported the data of Piet" in cli.ok(
        "member", "export", "console:piet", "--output", str(target)
    )
    assert json.loads(target.read_text(encoding="utf-8"))["identities"] == [
        {"platform": "console", "user_id": "piet"}
    ]
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    unknown = cli("member", "export", "console:nobody")
    assert unknown.returncode == 2 and "No member" in unknown.stderr
    listing = cli.ok("audit")
    assert listing.count("member.export") == 2 and "cli" in listing


@pytest.mark.asyncio
async def test_slack_uploads_the_file_to_the_members_dm(slack_fake: FakeSlack) -> None:
    delivery = Delivery(web_client("xoxb-test", slack_fake.url))
    file = File("leerlus-1.json", b'{"a": "\xc3\xa9"}', "application/json", "Je export")
    origin = Origin(team="T1", user="UANNA", channel="C1", private=True)
    await delivery.send(origin, [file])
    [opened] = slack_fake.calls_to("conversations.open")
    assert opened.args["users"] == "UANNA"
    [upload] = slack_fake.calls_to("files.getUploadURLExternal")
    assert upload.args["filename"] == "leerlus-1.json"
    assert list(slack_fake.uploads.values()) == [b'{"a": "\xc3\xa9"}']
    [done] = slack_fake.calls_to("files.completeUploadExternal")
    assert done.args["channel_id"] == "DUANNA"  # the DM, never the channel C1
    assert done.args["initial_comment"] == "Je export"
    assert slack_fake.calls_to("chat.postMessage") == []


def refusing_uploads(slack: FakeSlack) -> Delivery:
    """Delivery to a Slack that refuses file uploads (a missing scope)."""
    slack.fail("files.getUploadURLExternal", Failure("missing_scope"))
    return Delivery(web_client("xoxb-test", slack.url))


@pytest.mark.asyncio
async def test_slack_falls_back_to_a_message_when_uploads_are_refused(
    slack_fake: FakeSlack,
) -> None:
    delivery = refusing_uploads(slack_fake)
    file = File("leerlus-1.json", b'{"name": "<Anna>"}', "application/json", "Je export")
    await delivery.send(Origin(team="T1", user="UANNA", channel=None), [file])
    [message] = slack_fake.texts()
    assert "Je export" in message and '{"name": "&lt;Anna&gt;"}' in message


@pytest.mark.asyncio
async def test_slack_splits_a_long_export_over_messages_and_loses_nothing(
    slack_fake: FakeSlack,
) -> None:
    """Slack takes 50 blocks a message: an export of ~60 sections as text arrives whole."""
    delivery = refusing_uploads(slack_fake)
    lessons = [{"id": n, "text": f"les {n} " + "x" * 2000} for n in range(90)]
    content = json.dumps(lessons).encode()
    file = File("leerlus-1.json", content, "application/json", "Je export")
    await delivery.send(Origin(team="T1", user="UANNA", channel="C1", private=True), [file])
    posts = slack_fake.calls_to("chat.postMessage")
    assert len(posts) == 2 and {p.args["channel"] for p in posts} == {"DUANNA"}
    assert all(len(p.args["blocks"]) <= 50 for p in posts)
    blocks = [b for p in posts for b in p.args["blocks"]]
    assert all(p.args["text"].strip() for p in posts)  # each part notifies
    code = [b["text"]["text"] for b in blocks if b["text"]["text"].startswith("```")]
    assert "".join(part.strip("`") for part in code).encode() == content


@pytest.mark.asyncio
async def test_telegram_sends_the_export_as_a_document(
    world: World, fake: FakeBotApi, chat: Chat
) -> None:
    await chat.say(1002, "/mijn export")
    [call] = fake.called("sendDocument")
    assert int(call["chat_id"]) == 1002
    assert call["caption"].startswith("Alles wat Leerlus over je bewaart")
    [sent] = [c for c in fake.calls if c.method == "sendDocument"]
    name, content = sent.files["document"]
    assert name.endswith(".json")
    assert json.loads(content)["member"]["name"] == "Tom Bakker"


@pytest.mark.asyncio
async def test_telegram_refuses_the_export_in_a_group(
    world: World, fake: FakeBotApi, chat: Chat
) -> None:
    answer = await chat.say(1002, "/mijn export", chat_id=-500, chat_type="group")
    assert answer == [Translator("nl")("shared.personal")]
    assert fake.called("sendDocument") == []


@pytest.mark.parametrize("later", [Visibility.PRIVE, Visibility.ORGANISATIE])
def test_thanks_for_an_anonymous_lesson_never_name_its_author_later(
    engine: Engine, later: Visibility
) -> None:
    """The author makes the lesson private (or for their organisation) after being thanked:
    the thanker's overview and export still do not learn who it was."""
    store = SqlStore(engine)
    bot, anna, bram = _net(store)
    with store.transaction():
        secret = _lesson(store, bram, "Bram anoniem", Visibility.ANONIEM)
    bot.index.offer([secret])  # type: ignore[attr-defined]
    assert bot.handle_text(anna, f"/bedank {secret} Dank anoniem") == [
        Text(Translator("nl")("kudos.thanked_anonymous"))
    ]
    with store.transaction():
        store.update_reflection(secret, NOW, visibility=later)
    overview = "\n".join(r.body for r in bot.handle_text(anna, "/kudos") if isinstance(r, Text))
    assert "Dank anoniem" in overview and "Bram" not in overview
    assert Translator("nl")("kudos.anonymous_author") in overview
    given = _export(bot, anna)["kudos_given"]
    assert [(k["reason"], k["to"]) for k in given] == [("Dank anoniem", None)]  # type: ignore[union-attr,index]
