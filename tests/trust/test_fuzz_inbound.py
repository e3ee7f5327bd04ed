"""Every adapter's inbound translation under malformed input.

Two layers per adapter: the pure translation (hypothesis: missing keys, wrong types,
huge strings, nested junk, built from the real payload shapes), and the real HTTP entry
point (a seeded stream of malformed but correctly authenticated requests through Bolt,
python-telegram-bot's `Update.de_json`, the API). Each request gets a 2xx answer or a
clean 4xx refusal — never a 500 or an exception from our code — the process keeps
serving (a valid request afterwards works), and nothing is stored half.
"""

from __future__ import annotations

import copy
import io
import json
import logging
import random
from pathlib import Path
from typing import Any, ClassVar, Protocol
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.console import Console
from telegram import Bot as TelegramBot
from telegram import Update

from adapters.api import NewIncident, Unprocessable, parse_body
from adapters.console import ConsoleChat
from adapters.slack import inbound as slack_in
from adapters.slack.inbound import FORM_CALLBACK, Origin
from adapters.telegram import inbound as telegram_in
from bot.commands import SubmitReflection
from bot.models import Discipline, Identity
from bot.service import Bot
from tests.adapters.test_api import auth, body, runtime, serve
from tests.fakes import FakeIndex, FixedClock, InMemoryStore, RecordingNotifier
from tests.slack import payloads
from tests.slack.conftest import HttpSlack
from tests.telegram.conftest import TOKEN, callback_update, message_update
from tests.telegram.fake_api import BOT_ID, BOT_USERNAME, FakeBotApi
from tests.telegram.test_webhook import Hooked
from tests.trust.conftest import row_counts

HUGE = "x" * 100_000
REQUESTS = 120  # malformed requests per HTTP entry point (seeded, so reproducible)
# Tables whose rows are what people wrote or did; a malformed request adds none of them.
CONTENT = ("reflections", "kudos", "incidents", "prompts", "feedback", "invites")

# Junk: any JSON value, nested, with the strings that break things.

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(["", "\x00", "<!channel>", "/kudos", "D1", "U1", "12", "-1", HUGE]),
)
junk = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)


def paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value inside nested dicts and lists."""
    found: list[tuple[Any, ...]] = []
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(
        node, list) else ()  # fmt: skip
    for key, value in items:
        found.append((*prefix, key))
        found += paths(value, (*prefix, key))
    return found


class Chooser(Protocol):
    """Where the random choices of `mutate` come from: hypothesis, or a seeded Random."""

    def number(self, low: int, high: int) -> int: ...
    def pick(self, options: list[Any]) -> Any: ...
    def junk(self) -> Any: ...


class Drawn:
    def __init__(self, data: Any) -> None:
        self.draw = data.draw

    def number(self, low: int, high: int) -> int:
        return int(self.draw(st.integers(low, high)))

    def pick(self, options: list[Any]) -> Any:
        return self.draw(st.sampled_from(options))

    def junk(self) -> Any:
        return self.draw(junk)


class Seeded:
    JUNK: ClassVar[list[Any]] = [
        *(None, True, 0, -1, 1.5, "", "\x00", HUGE, [], {}, [{}], {"a": [None]}),
        *("<!channel>", 10**30, "\u202e", {"type": "plain_text_input", "value": 5}),
    ]

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def number(self, low: int, high: int) -> int:
        return self.rng.randint(low, high)

    def pick(self, options: list[Any]) -> Any:
        return self.rng.choice(options)

    def junk(self) -> Any:
        return copy.deepcopy(self.rng.choice(self.JUNK))


def mutate(payload: Any, choose: Chooser) -> Any:
    """Drop keys or replace values (at any depth) by junk."""
    payload = copy.deepcopy(payload)
    for _ in range(choose.number(1, 4)):
        where = paths(payload)
        if not where:
            return payload
        path = choose.pick(where)
        parent = payload
        for key in path[:-1]:
            parent = parent[key]
        if isinstance(parent, dict) and choose.number(0, 1):
            del parent[path[-1]]
        else:
            parent[path[-1]] = choose.junk()
    return payload


# Slack: the pure translation

VIEW: dict[str, Any] = {
    "callback_id": FORM_CALLBACK,
    "private_metadata": json.dumps({"submit": "reflection", "context": {"incident_id": "3"}}),
    "blocks": [
        {"block_id": name, "element": {"type": kind, "action_id": name}}
        for name, kind in (
            ("went_well", "plain_text_input"),
            ("improve", "plain_text_input"),
            ("lesson", "plain_text_input"),
            ("visibility", "static_select"),
            ("loop_level", "static_select"),
            ("themes", "multi_static_select"),
            ("thanks", "users_select"),
        )
    ],
}
SUBMIT_VALUES = {"went_well": "a", "improve": "b", "lesson": "c", "visibility": "netwerk",
                 "themes": ["techniek"], "thanks": "UBART"}  # fmt: skip


def slack_payloads() -> list[dict[str, Any]]:
    return [
        payloads.event_callback(payloads.dm("UANNA", "evacuatie <@UBART> <!here>")),
        payloads.event_callback(payloads.mention("UANNA", "vraag over <#C1|algemeen>")),
        payloads.event_callback(payloads.home_opened("UANNA")),
        payloads.click("UANNA", "/nuttig 1", channel="C1", response_url="http://x/h"),
        payloads.click("UANNA", "/mijn", channel=None),
        payloads.submit("UANNA", VIEW, SUBMIT_VALUES),
        payloads.slash("UANNA", "kudos <@UBART> top", "http://x/h"),
    ]


def _origin_ok(origin: Origin) -> None:
    assert isinstance(origin.team, str) and isinstance(origin.user, str)
    for value in (origin.channel, origin.thread_ts, origin.trigger_id, origin.response_url):
        assert value is None or isinstance(value, str)
    assert isinstance(origin.command, str) and isinstance(origin.shared, bool)


def translate_slack(body: Any) -> None:
    """Everything the listeners do with a payload before the core sees it."""
    _origin_ok(slack_in.event_origin(body))
    _origin_ok(slack_in.action_origin(body))
    _origin_ok(slack_in.view_origin(body))
    _origin_ok(slack_in.command_origin(body))
    slack_in.action_command(body)
    command, users = slack_in.submission(body.get("view"))
    assert command is None or isinstance(command, SubmitReflection)
    assert all(isinstance(u, str) and u for u in users)
    if command is not None:
        assert "\x00" not in command.lesson + command.went_well + command.improve
    for key in (slack_in.event_key, slack_in.command_key, slack_in.action_key,
                slack_in.view_key):  # fmt: skip
        value = key(body)
        assert value is None or isinstance(value, str)
    event = body.get("event")
    text = event.get("text") if isinstance(event, dict) else body.get("text")
    assert isinstance(slack_in.to_core_text(text, "UBOT"), str)  # type: ignore[arg-type]
    assert all(isinstance(u, str) for u in slack_in.mentioned_users(text, "UBOT"))  # type: ignore[arg-type]


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(slack_payloads()), st.data())
def test_slack_translation_of_malformed_payloads(payload: dict[str, Any], data: Any) -> None:
    translate_slack(mutate(payload, Drawn(data)))


@settings(max_examples=500, deadline=None)
@given(st.dictionaries(st.text(max_size=12), junk, max_size=6))
def test_slack_translation_of_junk(body: dict[str, Any]) -> None:
    translate_slack(body)


# Telegram: the real Update.de_json path, then our translation

TELEGRAM_BOT = TelegramBot(TOKEN)


def telegram_updates() -> list[dict[str, Any]]:
    group = message_update(3, 1001, "@leerlus_bot hoe zit het?", chat_id=-5, chat_type="group")
    return [
        message_update(1, 1001, "/kudos @Tom_Bakker dank"),
        message_update(2, 1002, "antwoord", chat_id=-5, chat_type="supergroup", reply_to_bot=True),
        group,
        callback_update(4, 1001, "/nuttig 3", labels={"/nuttig 3": "Nuttig"}),
        {"update_id": 5, "my_chat_member": {
            "chat": {"id": 1001, "type": "private"}, "date": 1, "from": {
                "id": 1001, "is_bot": False, "first_name": "T"},
            "old_chat_member": {"status": "member", "user": {
                "id": BOT_ID, "is_bot": True, "first_name": "L"}},
            "new_chat_member": {"status": "kicked", "until_date": 0, "user": {
                "id": BOT_ID, "is_bot": True, "first_name": "L"}}}},
    ]  # fmt: skip


def translate_telegram(data: Any) -> str:
    """'refused' when PTB cannot read the update (the webhook answers 400), else 'ok'."""
    try:
        update = Update.de_json(data, TELEGRAM_BOT)
    except Exception:
        return "refused"
    event = telegram_in.read_update(update, BOT_USERNAME, BOT_ID)
    if isinstance(event, telegram_in.Incoming):
        assert isinstance(event.text, str) and isinstance(event.name, str)
        assert event.name and "\x00" not in event.name
        telegram_in.command_for_member(event.text)
        telegram_in.join_code(event.text)
    return "ok"


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(telegram_updates()), st.data())
def test_telegram_translation_of_malformed_updates(update: dict[str, Any], data: Any) -> None:
    translate_telegram(mutate(update, Drawn(data)))


@settings(max_examples=300, deadline=None)
@given(junk)
def test_telegram_translation_of_junk(data: Any) -> None:
    translate_telegram(data)


# The API body


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_api_body_is_parsed_or_refused(data: Any) -> None:
    candidate = data.draw(st.one_of(junk, st.just(body()).map(lambda b: mutate(b, Drawn(data)))))
    try:
        new = parse_body(candidate, "Europe/Amsterdam")
    except Unprocessable as refused:
        assert refused.message
        json.dumps(refused.detail)  # the detail goes into the JSON answer
        return
    assert isinstance(new, NewIncident)
    assert new.title and len(new.title) <= 200 and "\x00" not in new.title


# The console


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(st.text(max_size=40), st.sampled_from(
    ["1", "²", "0", "99999999999999999999", "\x00", "/vergeet", "/ja", HUGE, "[bold]x[/]"])),
    min_size=1, max_size=6))  # fmt: skip
def test_console_lines_always_get_an_answer(lines: list[str]) -> None:
    store = InMemoryStore()
    org = store.add_org("Politie", "politie", Discipline.POLITIE)
    member = store.add_member(org.id, "Anna", Identity("console", "anna"))
    bot = Bot(store=store, index=FakeIndex(), clock=FixedClock(), notifier=RecordingNotifier())
    out = io.StringIO()
    chat = ConsoleChat(bot, member, Console(file=out, width=100, color_system=None))
    for line in lines:
        before = out.tell()
        going_on = chat.step(line)
        assert out.getvalue()[before:].strip(), f"no answer to {line!r}"
        if not going_on:  # the member forgot themselves; the console ends
            assert store.member_by_identity(Identity("console", "anna")) is None
            break


# Over HTTP: seeded streams of malformed, correctly authenticated requests


def seeded_mutations(seed: int, bases: list[Any], count: int) -> list[Any]:
    """`count` mutated copies of the bases, reproducible from `seed`."""
    choose = Seeded(seed)
    return [mutate(choose.pick(bases), choose) for _ in range(count)]


def raised_in(records: list[logging.LogRecord], *files: str) -> list[str]:
    """Logged tracebacks that pass through one of our files: our translation raised."""
    formatter = logging.Formatter()
    found = []
    for record in records:
        trace = record.exc_text or (
            formatter.formatException(record.exc_info) if record.exc_info else ""
        )
        if any(name in trace for name in files):
            found.append(trace[-500:])
    return found


def _no_half_reflections(engine: Any) -> None:
    from sqlalchemy import text

    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT went_well, improve, lesson FROM reflections WHERE draft = :f"),
            {"f": False},
        ).all()
    for row in rows:
        assert all(part and part.strip() and len(part) <= 1000 for part in row)


def _content(counts: dict[str, int]) -> dict[str, int]:
    return {t: n for t, n in counts.items() if t in CONTENT}


@pytest.mark.asyncio
async def test_slack_http_keeps_serving_through_malformed_requests(
    slack: HttpSlack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    engine = slack.world.rt.engine
    before = _content(row_counts(engine))
    bases = [p for p in slack_payloads() if "command" not in p]
    statuses: list[int] = []
    for n, payload in enumerate(seeded_mutations(7, bases, REQUESTS)):
        if not isinstance(payload, dict):
            payload = {"type": "event_callback", "event": payload}
        if n % 2:  # as an interactivity form, else as an Events API JSON body
            status, _ = await slack.interact(payload)
        else:
            status, _ = await slack.event(payload)
        statuses.append(status)
    # Slash commands are form fields: strings only, but any of them missing or odd.
    rng = random.Random(8)
    for _ in range(REQUESTS // 4):
        form = payloads.slash("UANNA", rng.choice(["", HUGE, "\x00", "kudos <@", "/x"]), "x")
        for key in rng.sample(sorted(form), 3):
            if rng.random() < 0.5:
                del form[key]
            else:
                form[key] = rng.choice(["", HUGE, "\x00", "{}", "<!channel>"])
        status, _ = await slack.post(urlencode(form), "application/x-www-form-urlencoded")
        statuses.append(status)
    assert all(status == 200 or 400 <= status < 500 for status in statuses), statuses
    assert not raised_in(caplog.records, "adapters/slack/inbound.py", "adapters/slack/app.py")
    # Still serving: a valid message is answered.
    calls = len(slack.fake.calls_to("chat.postMessage"))
    await slack.event(payloads.event_callback(payloads.dm("UCOR", "evacuatie?")))
    await slack.fake.wait_for(lambda: len(slack.fake.calls_to("chat.postMessage")) > calls)
    assert _content(row_counts(engine)) == before | {
        "reflections": row_counts(engine)["reflections"]  # a mutated form may save a whole one
    }
    _no_half_reflections(engine)


@pytest.mark.asyncio
async def test_telegram_webhook_keeps_serving_through_malformed_updates(
    hooked: Hooked, telegram_fake: FakeBotApi, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    engine = hooked.world.rt.engine
    before = row_counts(engine)
    statuses: list[int] = []
    for n, update in enumerate(seeded_mutations(11, telegram_updates(), REQUESTS)):
        if isinstance(update, dict):
            update["update_id"] = 1000 + n  # each is new, so each is handled
        statuses.append(await hooked.post(update))
    junk_bodies = [b"", b"null", b"[]", b"{", b'{"update_id": "x"}', HUGE.encode(), b"\xff\xfe",
                   b"[" * 5000 + b"]" * 5000, b'{"update_id": 1, "message": 5}']  # fmt: skip
    for data in junk_bodies:
        headers = {"X-Telegram-Bot-Api-Secret-Token": hooked.adapter.secret}
        async with hooked.session.post(hooked.url, data=data, headers=headers) as response:
            statuses.append(response.status)
    assert all(s == 200 or 400 <= s < 500 for s in statuses), statuses
    assert statuses.count(400) >= len(junk_bodies) - 1
    assert not raised_in(caplog.records, "adapters/telegram/inbound.py")
    # Still serving.
    assert await hooked.post(message_update(5000, 1001, "/mijn")) == 200
    assert telegram_fake.texts(1001)[-1].startswith("Overzicht van Tess Jansen")
    after = row_counts(engine)
    assert {t: after[t] for t in CONTENT if t != "kudos"} == {
        t: before[t] for t in CONTENT if t != "kudos"
    }
    kudos = hooked.world.rt.store.kudos_received(hooked.world.tom.id)
    assert all(k.reason.strip() for k in kudos)  # a mutated kudos update is whole or absent


@pytest.mark.asyncio
async def test_api_keeps_serving_through_malformed_bodies(tmp_path: Path) -> None:
    rt = runtime(tmp_path, "s3cret-token-for-tests")
    client = await serve(rt)
    try:
        before = row_counts(rt.engine)
        created = 0
        prompts = 0
        bodies = seeded_mutations(13, [body()], REQUESTS)
        raw = ["", "{", "[]", "null", "1e999999", "[" * 5000 + "]" * 5000, HUGE, "\x00",
               '{"organisation": "brandweer"}', "\ud800"]  # fmt: skip
        for candidate in bodies:
            response = await client.post("/api/incidents", json=candidate, headers=auth())
            assert response.status in (201, 422), (response.status, await response.text())
            if response.status == 201:
                answer = await response.json()
                created += 1
                prompts += answer["prompts"]
            else:
                assert (await response.json())["error"]
        for text in raw:
            response = await client.post(
                "/api/incidents",
                data=text.encode("utf-8", "surrogatepass"),
                headers={**auth(), "Content-Type": "application/json"},
            )
            assert response.status == 422, (text[:20], response.status)
        big = json.dumps(body(title=HUGE * 11)).encode()  # over the 1 MB request limit
        response = await client.post("/api/incidents", data=io.BytesIO(big), headers=auth())
        assert response.status == 413
        after = row_counts(rt.engine)
        assert after["incidents"] == before["incidents"] + created
        assert after["prompts"] == before["prompts"] + prompts
        # Still serving.
        response = await client.post("/api/incidents", json=body(), headers=auth())
        assert response.status == 201
    finally:
        await client.close()
        rt.engine.dispose()


def test_seeded_mutations_are_reproducible() -> None:
    first = seeded_mutations(3, [body()], 5)
    assert first == seeded_mutations(3, [body()], 5) and first != [body()] * 5
