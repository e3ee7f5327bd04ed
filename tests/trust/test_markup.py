"""Markup injection and 100 kB messages, judged by what the fake Slack and Telegram received.

What people write — lessons, answers, questions echoed back — is shown as text: Slack's
control characters (&, <, >) are escaped as Slack's formatting reference asks, and
`verbatim` keeps Slack from turning a typed "@channel" into a mention; Telegram messages
are sent with parse_mode=HTML and everything written by people is HTML-escaped (Markdown
has no meaning in that mode). A 100 kB message gets a clear "too long" and stores nothing.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from bot.commands import MAX_INPUT
from bot.handlers.reflect import MAX_ANSWER
from bot.texts import Translator
from tests.slack import payloads
from tests.slack.conftest import HttpSlack, share_lesson
from tests.telegram.conftest import message_update
from tests.telegram.fake_api import FakeBotApi, plain
from tests.telegram.test_webhook import Hooked
from tests.trust.conftest import row_counts

NL = Translator("nl")
INJECTION = (
    "<!channel> <!here> <@U123> @everyone @channel <script>alert(1)</script> "
    '<b>vet</b> <a href="https://evil.example">klik</a> *x* _y_ [a](https://evil.example) &amp;'
)
# What must never reach a platform as markup.
RAW_SLACK = ("<!channel>", "<!here>", "<!everyone>", "<@U123>", "<script>", "<b>", "<a href")
RAW_TELEGRAM = ("<script>", "<b>vet</b>", '<a href="https://evil', "<!channel>", "<@U123>")
HUGE = "Ontruiming " * 10_000  # 110 kB
STORED = ("reflections", "kudos", "incidents", "prompts", "feedback", "conversations")


def _stored(engine: Any) -> dict[str, int]:
    return {t: n for t, n in row_counts(engine).items() if t in STORED}


def text_objects(node: Any) -> list[dict[str, Any]]:
    """Every Block Kit text object ({"type": "mrkdwn"|"plain_text", "text": ...})."""
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        if node.get("type") in ("mrkdwn", "plain_text") and isinstance(node.get("text"), str):
            found.append(node)
        for value in node.values():
            found += text_objects(value)
    elif isinstance(node, list):
        for item in node:
            found += text_objects(item)
    return found


def slack_messages(slack: HttpSlack) -> list[dict[str, Any]]:
    """Every message Leerlus sent to Slack: posts, response_url answers, views."""
    sent = [c.args for c in slack.fake.calls if c.method.startswith(("chat.", "views."))]
    return sent + slack.fake.hooks


def assert_inert_in_slack(message: dict[str, Any]) -> None:
    blocks = message.get("blocks") or message.get("view") or []
    if isinstance(blocks, str):
        blocks = json.loads(blocks)
    objects = text_objects(blocks)
    for obj in objects:
        for raw in RAW_SLACK:
            assert raw not in obj["text"], (raw, obj["text"][:300])
        if obj["type"] == "mrkdwn":
            assert obj.get("verbatim") is True, obj
    fallback = str(message.get("text", ""))
    assert not [raw for raw in RAW_SLACK if raw in fallback], fallback[:300]


@pytest.mark.asyncio
async def test_slack_shows_injected_markup_as_text(slack: HttpSlack) -> None:
    world, fake = slack.world, slack.fake
    share_lesson(world, world.officer, f"Test portofoons voor de evacuatie. {INJECTION}")
    # Asked in a channel (others read along) and in a DM, with markup in the question too.
    mention = payloads.mention("UANNA", "portofoons evacuatie <!here> &lt;b&gt;x&lt;/b&gt;")
    await slack.event(payloads.event_callback(mention))
    await slack.event(payloads.event_callback(payloads.dm("UANNA", f"zoek {INJECTION}")))
    await slack.command("UANNA", f"reflectie {INJECTION}")  # echoed: incident not found
    await fake.wait_for(lambda: len(fake.calls_to("chat.postMessage")) >= 2 and fake.hooks)
    messages = slack_messages(slack)
    assert len(messages) >= 3
    for message in messages:
        assert_inert_in_slack(message)
    shown = "\n".join(fake.texts())
    # The lesson is there, escaped: readers see the characters, Slack parses nothing.
    assert "&lt;!channel&gt;" in shown and "&lt;script&gt;alert(1)&lt;/script&gt;" in shown
    assert "&lt;@U123&gt;" in shown and "*x*" in shown and "[a](https://evil.example)" in shown
    assert "&amp;amp;" in shown  # a typed "&amp;" stays four characters on screen


@pytest.mark.asyncio
async def test_slack_modal_answers_with_markup_are_stored_as_typed_and_shown_escaped(
    slack: HttpSlack,
) -> None:
    world, fake = slack.world, slack.fake
    await slack.command("UANNA", "reflectie")
    await fake.wait_for(lambda: fake.calls_to("views.open"))
    view = fake.calls_to("views.open")[0].args["view"]
    values = {"went_well": INJECTION, "improve": "Sirenes <!everyone>",
              "lesson": f"Sirenes testen. {INJECTION}", "visibility": "netwerk"}  # fmt: skip
    await slack.interact(payloads.submit("UANNA", view, values))
    await fake.wait_for(lambda: fake.calls_to("chat.postMessage"))
    anna = world.member("UANNA")
    assert anna is not None
    [saved] = world.rt.store.reflections_of(anna.id)
    assert saved.lesson == f"Sirenes testen. {INJECTION}"  # stored as typed
    await slack.event(payloads.event_callback(payloads.dm("UBART", "sirenes testen")))
    await fake.wait_for(lambda: len(fake.calls_to("chat.postMessage")) >= 2)
    for message in slack_messages(slack):
        assert_inert_in_slack(message)
    assert "&lt;!everyone&gt;" in "\n".join(fake.texts())


@pytest.mark.asyncio
async def test_a_100_kb_slack_message_is_refused_and_stores_nothing(slack: HttpSlack) -> None:
    world, fake = slack.world, slack.fake
    await slack.event(payloads.event_callback(payloads.dm("UANNA", "/reflectie")))
    await fake.wait_for(lambda: len(fake.calls_to("chat.postMessage")) == 1)
    engine = world.rt.engine
    before = _stored(engine)
    anna = world.member("UANNA")
    assert anna is not None
    draft = world.rt.store.current_draft(anna.id)
    assert draft is not None and draft.draft_step == "went_well"
    await slack.event(payloads.event_callback(payloads.dm("UANNA", HUGE)))
    await slack.command("UANNA", f"vraag {HUGE}")
    await fake.wait_for(lambda: len(fake.calls_to("chat.postMessage")) == 2 and fake.hooks)
    too_long = NL("error.too_long", limit=MAX_INPUT)
    assert fake.texts()[1].startswith(too_long) and fake.hooks[0]["text"].startswith(too_long)
    assert _stored(engine) == before
    after = world.rt.store.current_draft(anna.id)
    assert after is not None and after.draft_step == "went_well" and not after.went_well
    # The flow goes on with a normal answer.
    await slack.event(payloads.event_callback(payloads.dm("UANNA", "De opschaling ging goed.")))
    await fake.wait_for(lambda: len(fake.calls_to("chat.postMessage")) == 3)
    assert fake.texts()[2].startswith("2/3")


@pytest.mark.asyncio
async def test_a_100_kb_modal_answer_is_refused_and_stores_nothing(slack: HttpSlack) -> None:
    world, fake = slack.world, slack.fake
    await slack.command("UANNA", "reflectie")
    await fake.wait_for(lambda: fake.calls_to("views.open"))
    engine = world.rt.engine
    before = _stored(engine)
    view = fake.calls_to("views.open")[0].args["view"]
    values = {"went_well": "Goed.", "improve": "Beter.", "lesson": HUGE, "visibility": "netwerk"}
    await slack.interact(payloads.submit("UANNA", view, values))
    await fake.wait_for(lambda: fake.calls_to("chat.postMessage"))
    expected = NL("reflect.too_long", limit=MAX_ANSWER, length=len(HUGE.strip()))
    assert fake.texts()[0].startswith(expected)
    assert {t: n for t, n in _stored(engine).items() if t != "conversations"} == {
        t: n for t, n in before.items() if t != "conversations"
    }


# Telegram


def _sent_html(fake: FakeBotApi, chat_id: int) -> list[dict[str, Any]]:
    messages = fake.sent(chat_id)
    assert messages
    for message in messages:
        assert message["parse_mode"] == "HTML"
        for raw in RAW_TELEGRAM:
            assert raw not in message["text"], (raw, message["text"][:300])
    return messages


@pytest.mark.asyncio
async def test_telegram_shows_injected_markup_as_text(
    hooked: Hooked, telegram_fake: FakeBotApi
) -> None:
    world = hooked.world
    world.lesson(
        world.anna,
        f"Test portofoons voor de evacuatie. {INJECTION}",
        went_well=f"Goed: {INJECTION}",
        improve="<i>schuin</i> & <u>onder</u>",
    )
    assert await hooked.post(message_update(1, 1002, "portofoons evacuatie")) == 200
    assert await hooked.post(message_update(2, 1002, f"/vraag {INJECTION}")) == 200
    messages = _sent_html(telegram_fake, 1002)
    html = "\n".join(m["text"] for m in messages)
    assert "&lt;b&gt;vet&lt;/b&gt;" in html and "&lt;script&gt;" in html
    assert "&lt;i&gt;schuin&lt;/i&gt; &amp; &lt;u&gt;onder&lt;/u&gt;" in html
    # What the reader sees: exactly what was written, Markdown included.
    seen = "\n".join(plain(m["text"]) for m in messages)
    assert INJECTION in seen and "<i>schuin</i> & <u>onder</u>" in seen


@pytest.mark.asyncio
async def test_telegram_reflection_answers_with_markup_are_escaped_back(
    hooked: Hooked, telegram_fake: FakeBotApi
) -> None:
    answers = [INJECTION, "<b>beter</b>", "Les *vet* [a](b)", "netwerk", *["overslaan"] * 3]
    for n, text in enumerate(["/reflectie", *answers], start=1):
        assert await hooked.post(message_update(n, 1002, text)) == 200
    [saved] = hooked.world.rt.store.reflections_of(hooked.world.tom.id)
    assert saved.went_well == INJECTION and saved.improve == "<b>beter</b>"
    assert await hooked.post(message_update(20, 1001, "/vraag Les vet")) == 200
    messages = _sent_html(telegram_fake, 1001)
    assert any("&lt;b&gt;beter&lt;/b&gt;" in m["text"] for m in messages)


@pytest.mark.asyncio
async def test_a_100_kb_telegram_message_is_refused_and_stores_nothing(
    hooked: Hooked, telegram_fake: FakeBotApi
) -> None:
    engine = hooked.world.rt.engine
    assert await hooked.post(message_update(1, 1002, "/reflectie")) == 200
    before = _stored(engine)
    assert await hooked.post(message_update(2, 1002, HUGE)) == 200
    assert await hooked.post(message_update(3, 1002, "x" * (MAX_ANSWER + 1))) == 200
    texts = telegram_fake.texts(1002)
    assert texts[-2] == NL("error.too_long", limit=MAX_INPUT)
    assert texts[-1].startswith(NL("reflect.too_long", limit=MAX_ANSWER, length=MAX_ANSWER + 1))
    assert _stored(engine) == before
    draft = hooked.world.rt.store.current_draft(hooked.world.tom.id)
    assert draft is not None and draft.draft_step == "went_well" and not draft.went_well
    assert all(len(m["text"]) <= 4096 for m in telegram_fake.sent(1002))
