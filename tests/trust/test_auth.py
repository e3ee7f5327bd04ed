"""Authentication and authorisation: every refused case, and that a refusal stores nothing.

HTTP entry points (Slack signatures, the Telegram webhook secret, the API bearer token)
answer 401 before anything is parsed; in the core, coordinator-only commands and other
organisations' incidents, prompts and lessons are refused with a clear text.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient

from adapters.runtime import Runtime, build
from bot.commands import SubmitReflection
from bot.config import Settings
from bot.models import Discipline, Identity, Member, PromptState, Role
from bot.replies import Reply, Text
from bot.texts import Translator
from tests.adapters.test_api import auth, body, runtime, serve
from tests.slack import payloads
from tests.slack.conftest import SIGNING_SECRET, HttpSlack
from tests.telegram.conftest import SECRET, message_update
from tests.telegram.fake_api import FakeBotApi
from tests.telegram.test_webhook import Hooked
from tests.trust.conftest import row_counts

API_TOKEN = "s3cret-token-for-tests"  # the token of tests.adapters.test_api.runtime
NL = Translator("nl")

# Slack


def _slack_requests(slack: HttpSlack) -> dict[str, tuple[str, str]]:
    """One request of each kind Slack sends to /slack/events: (body, content type)."""
    kudos = payloads.event_callback(payloads.dm("UANNA", "/kudos <@UBART> top gedaan"))
    slash = payloads.slash("UANNA", "kudos <@UBART> top", slack.fake.hook_url("x"))
    click = payloads.click("UANNA", "/mijn", channel="DUANNA")
    form = "application/x-www-form-urlencoded"
    return {
        "event": (json.dumps(kudos), "application/json"),
        "slash_command": (urlencode(slash), form),
        "interactivity": (payloads.as_form(click), form),
    }


def _assert_slack_untouched(slack: HttpSlack, before: dict[str, int]) -> None:
    assert slack.fake.calls == [] and slack.fake.hooks == []
    assert row_counts(slack.world.rt.engine) == before
    assert slack.world.member("UANNA") is None and slack.world.member("UBART") is None


KINDS = ["event", "slash_command", "interactivity"]


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", KINDS)
async def test_slack_request_without_signature_is_401(slack: HttpSlack, kind: str) -> None:
    data, content_type = _slack_requests(slack)[kind]
    before = row_counts(slack.world.rt.engine)
    response = await slack.client.post(
        "/slack/events", data=data, headers={"Content-Type": content_type}
    )
    assert response.status == 401
    _assert_slack_untouched(slack, before)


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", KINDS)
async def test_slack_request_with_wrong_signature_is_401(slack: HttpSlack, kind: str) -> None:
    data, content_type = _slack_requests(slack)[kind]
    before = row_counts(slack.world.rt.engine)
    status, _ = await slack.post(data, content_type, secret="not-the-signing-secret")
    assert status == 401
    # A right signature over another body (a tampered request) is wrong too.
    headers = payloads.sign(SIGNING_SECRET, data + " ", int(time.time()))
    headers["Content-Type"] = content_type
    response = await slack.client.post("/slack/events", data=data, headers=headers)
    assert response.status == 401
    _assert_slack_untouched(slack, before)


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", KINDS)
async def test_slack_replay_with_a_stale_timestamp_is_401(slack: HttpSlack, kind: str) -> None:
    data, content_type = _slack_requests(slack)[kind]
    before = row_counts(slack.world.rt.engine)
    # Correctly signed, but six minutes old: a recorded request played back.
    status, _ = await slack.post(data, content_type, timestamp=int(time.time()) - 6 * 60)
    assert status == 401
    _assert_slack_untouched(slack, before)


@pytest.mark.asyncio
async def test_a_correctly_signed_request_is_served(slack: HttpSlack) -> None:
    """The counterpart of the refusals: the same request, signed now, is handled."""
    data, content_type = _slack_requests(slack)["event"]
    status, _ = await slack.post(data, content_type)
    assert status == 200
    await slack.fake.wait_for(lambda: len(slack.fake.calls_to("chat.postMessage")) == 2)
    bart = slack.world.member("UBART")
    assert bart is not None and len(slack.world.rt.store.kudos_received(bart.id)) == 1


# Telegram


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "secret", [None, "", "wrong-secret", SECRET + "x", SECRET.upper(), SECRET[:-1]]
)
async def test_telegram_webhook_without_the_right_secret_is_401(
    hooked: Hooked, telegram_fake: FakeBotApi, secret: str | None
) -> None:
    engine = hooked.world.rt.engine
    before = row_counts(engine)
    update = message_update(5, 1001, "/kudos @Tom_Bakker dank voor de afzetting")
    assert await hooked.post(update, secret) == 401
    assert row_counts(engine) == before
    assert telegram_fake.sent() == []
    # The right secret is served: the refusal was about the secret, not the update.
    assert await hooked.post(update) == 200
    assert len(hooked.world.rt.store.kudos_received(hooked.world.tom.id)) == 1


# The incident API


@pytest_asyncio.fixture
async def api(tmp_path: Path) -> Any:
    rt = runtime(tmp_path, API_TOKEN)
    client = await serve(rt)
    yield client, rt
    await client.close()
    rt.engine.dispose()


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": ""},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer "},
        {"Authorization": "Bearer wrong-token"},
        {"Authorization": f"Bearer {API_TOKEN}x"},
        {"Authorization": f"Bearer {API_TOKEN[:-1]}"},
        {"Authorization": API_TOKEN},
        {"Authorization": f"Basic {API_TOKEN}"},
        {"Authorization": f"Token {API_TOKEN}"},
        {"X-Api-Token": API_TOKEN},
    ],
    ids=[
        "missing",
        "empty",
        "scheme-only",
        "empty-token",
        "wrong",
        "longer",
        "shorter",
        "no-scheme",
        "basic",
        "token-scheme",
        "other-header",
    ],
)
async def test_api_without_the_right_bearer_token_is_401(
    api: tuple[TestClient[Any, Any], Runtime], headers: dict[str, str]
) -> None:
    client, rt = api
    before = row_counts(rt.engine)
    response = await client.post("/api/incidents", json=body(), headers=headers)
    assert response.status == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert row_counts(rt.engine) == before
    # And with the token it works, so the refusal was the token's.
    response = await client.post("/api/incidents", json=body(), headers=auth(API_TOKEN))
    assert response.status == 201


# The core: roles and organisations, on the real store


@dataclass
class Two:
    """Two organisations on a real (SQLite) runtime; each has a coordinator and a member."""

    rt: Runtime
    fire_coordinator: Member
    fire_member: Member
    police_coordinator: Member
    police_member: Member
    police_lesson: int  # an organisation-only lesson of the police
    police_network_lesson: int
    police_incident: int
    police_prompt: int  # the police member's open prompt for that incident

    def say(self, member: Member, text: str) -> list[Reply]:
        return self.rt.bot.handle_text(member, text)

    def counts(self) -> dict[str, int]:
        return row_counts(self.rt.engine)


def _text(replies: list[Reply]) -> str:
    assert replies, "every action gets a reply"
    return "\n".join(r.body for r in replies if isinstance(r, Text))


@pytest.fixture
def two(tmp_path: Path) -> Iterator[Two]:
    rt = build(Settings(_env_file=None, data_dir=tmp_path, embedding_model=""))
    store = rt.store
    with store.transaction():
        fire = store.add_org("Brandweer Noord", "bw", Discipline.BRANDWEER)
        police = store.add_org("Politie Zuid", "pol", Discipline.POLITIE)
        fire_coordinator = store.add_member(
            fire.id, "Fenna", Identity("console", "fenna"), role=Role.COORDINATOR
        )
        fire_member = store.add_member(fire.id, "Frits", Identity("console", "frits"))
        police_coordinator = store.add_member(
            police.id, "Paula", Identity("console", "paula"), role=Role.COORDINATOR
        )
        police_member = store.add_member(police.id, "Piet", Identity("console", "piet"))
    rt.index.load()
    bot = rt.bot
    lessons = []
    for lesson, visibility in (
        ("Intern: sleutels van de kluis liggen bij de wachtcommandant.", "organisatie"),
        ("Spreek bewoners bij een evacuatie persoonlijk aan.", "netwerk"),
    ):
        submitted = SubmitReflection("Goed.", "Beter.", lesson, visibility)
        assert "bewaard" in _text(bot.handle(police_member, submitted))
        lessons.append(store.reflections_of(police_member.id)[0].id)
    reply = _text(bot.handle_text(police_coordinator, "/incident Brand in de haven met @piet"))
    assert "Brand in de haven" in reply
    with store.transaction():
        [incident] = store.incidents_of(police_member.id)
        [prompt] = store.prompts_of(police_member.id)
    yield Two(
        rt,
        fire_coordinator,
        fire_member,
        police_coordinator,
        police_member,
        lessons[1] if lessons[0] > lessons[1] else lessons[0],
        lessons[0] if lessons[0] > lessons[1] else lessons[1],
        incident.id,
        prompt.id,
    )
    rt.engine.dispose()


def test_a_plain_member_cannot_create_an_invite(two: Two) -> None:
    before = two.counts()
    answer = _text(two.say(two.fire_member, "/uitnodiging"))
    assert answer == NL("invite.not_coordinator")
    assert two.counts() == before
    # The coordinator of the same organisation can.
    assert "Uitnodigingscode" in _text(two.say(two.fire_coordinator, "/uitnodiging"))
    assert two.counts()["invites"] == before["invites"] + 1


def test_a_plain_member_cannot_hide_a_lesson(two: Two) -> None:
    before = two.counts()
    for lesson in (two.police_lesson, two.police_network_lesson):
        answer = _text(two.say(two.police_member, f"/verberg {lesson}"))
        assert answer == NL("hide.not_allowed")
    assert two.counts() == before
    with two.rt.store.transaction():
        reflection = two.rt.store.get_reflection(two.police_lesson)
    assert reflection is not None and not reflection.hidden


def test_a_coordinator_cannot_hide_a_lesson_of_another_organisation(two: Two) -> None:
    before = two.counts()
    for lesson in (two.police_lesson, two.police_network_lesson, 999_999):
        answer = _text(two.say(two.fire_coordinator, f"/verberg {lesson}"))
        assert answer == NL("lesson.not_found")
    assert two.counts() == before
    with two.rt.store.transaction():
        found = two.rt.store.get_reflection(two.police_network_lesson)
    assert found is not None and not found.hidden
    # Their own coordinator can.
    answer = _text(two.say(two.police_coordinator, f"/verberg {two.police_lesson}"))
    assert answer == NL("hide.done", id=two.police_lesson)


@pytest.mark.parametrize("action", ["/invullen", "/later", "/overslaan"])
def test_no_one_acts_on_another_members_prompt(two: Two, action: str) -> None:
    before = two.counts()
    for intruder in (two.fire_coordinator, two.fire_member, two.police_coordinator):
        answer = _text(two.say(intruder, f"{action} {two.police_prompt}"))
        assert answer == NL("prompt.not_found")
    assert two.counts() == before
    with two.rt.store.transaction():
        prompt = two.rt.store.get_prompt(two.police_prompt)
    assert prompt is not None and prompt.state is PromptState.SCHEDULED


def test_another_organisation_cannot_reflect_on_an_incident(two: Two) -> None:
    before = two.counts()
    for text in (f"/reflectie {two.police_incident}", "/reflectie Brand in de haven"):
        answer = _text(two.say(two.fire_member, text))
        assert "Ik vond geen incident" in answer
    assert two.counts() == before


def test_a_form_cannot_attach_a_lesson_to_another_organisations_incident(two: Two) -> None:
    """A submitted form names its incident and prompt; a foreign one is refused."""
    before = two.counts()
    forged = SubmitReflection(
        "Goed.",
        "Beter.",
        "Een les over andermans incident.",
        "netwerk",
        incident_id=two.police_incident,
        prompt_id=two.police_prompt,
    )
    answer = _text(two.rt.bot.handle(two.fire_member, forged))
    assert "Ik vond geen incident" in answer
    assert two.counts() == before
    with two.rt.store.transaction():
        prompt = two.rt.store.get_prompt(two.police_prompt)
    assert prompt is not None and prompt.state is PromptState.SCHEDULED


def test_another_organisation_cannot_thank_or_rate_an_internal_lesson(two: Two) -> None:
    before = two.counts()
    for text in (f"/bedank {two.police_lesson}", f"/nuttig {two.police_lesson}"):
        answer = _text(two.say(two.fire_member, text))
        assert answer == NL("lesson.not_found")
    assert two.counts() == before


def test_an_incident_naming_an_unknown_person_is_refused_whole(two: Two) -> None:
    """Incidents are shared across organisations on purpose (a named person of another
    organisation becomes a participant); a name nobody has is refused, nothing stored."""
    before = two.counts()
    answer = _text(two.say(two.fire_member, "/incident Brand met @piet @niemand_bekend"))
    assert answer == NL("incident.unknown_people", names="@niemand_bekend")
    assert two.counts() == before


def test_only_the_own_coordinator_can_show_a_hidden_lesson_again(two: Two) -> None:
    hidden = two.police_network_lesson
    assert _text(two.say(two.police_coordinator, f"/verberg {hidden}")) == NL(
        "hide.done", id=hidden
    )
    before = two.counts()
    assert _text(two.say(two.police_member, f"/toon {hidden}")) == NL("hide.not_allowed")
    assert _text(two.say(two.fire_coordinator, f"/toon {hidden}")) == NL("lesson.not_found")
    assert two.counts() == before
    with two.rt.store.transaction():
        reflection = two.rt.store.get_reflection(hidden)
    assert reflection is not None and reflection.hidden
