"""Simulated chat users for the load test: signed Slack requests, Telegram webhook updates.

Each user does one action at a time (ask, reflect, kudos) and waits for the bot's answer at
the fake chat API before the next, as a person would. A Slack request is acknowledged before
the bot works on it, so its answer is awaited at the fake; a Telegram webhook request is
answered after the update was handled, so its answer is at the fake once the ack is in.
Every reflection and kudos carries a unique token, so the database can be checked for each.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import re
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import aiohttp

from bot.handlers.kudos import DAILY_LIMIT
from bot.models import LoopLevel, Visibility
from bot.texts import Translator, catalogue
from tests.slack import payloads

Record = dict[str, Any]

REQUEST_TIMEOUT = 30.0  # seconds an HTTP request to the bot may take
REPLY_TIMEOUT = 30.0  # seconds the bot's answer may take to reach the fake chat API
POLL_INTERVAL = 0.02  # seconds between two reads of what a fake received

QUESTIONS = (
    "Hoe pakken we een evacuatie van bewoners aan?",
    "Wat weten we over verbindingen met portofoons in een tunnel?",
    "Tips voor de nazorg van hulpverleners na een zware inzet?",
    "Hoe communiceer je met bewoners bij een rookpluim?",
    "Wat leerden anderen over een cyberincident zonder e-mail?",
    "Hoe werk je samen in het CoPI bij gevaarlijke stoffen?",
    "How do we brief a team before a large event?",
    "What about victim registration at a multi-casualty incident?",
    "Aflossing plannen bij een langdurige inzet",
    "crowd management bij een evenement",
    "overdracht van patiënten tussen evenementzorg en ambulance",
    "handgebaren bij werken in gaspakken",
)
ACTIONS = ("ask", "reflect", "kudos")
ACTION_WEIGHTS = (0.5, 0.25, 0.25)

_nl = Translator("nl")
_SERIALS = itertools.count(1)


def _template_prefix(key: str) -> str:
    """The fixed start of a Dutch catalogue text, up to its first placeholder."""
    return catalogue("nl")[key].split("{")[0]


@dataclass(frozen=True)
class Expect:
    """What a reply must (not) say."""

    saved: str  # start of "reflect.saved"
    kudos_sent: str  # start of "kudos.sent"
    errors: tuple[str, ...]  # "error.internal", "error.unavailable"

    @classmethod
    def from_catalogue(cls) -> Expect:
        return cls(
            saved=_template_prefix("reflect.saved"),
            kudos_sent=_template_prefix("kudos.sent"),
            errors=(_nl("error.internal"), _nl("error.unavailable")),
        )


@dataclass(frozen=True)
class Person:
    """A member of the load network with a chat identity."""

    platform: str  # "slack" or "telegram"
    user_id: str  # Slack user id, or the Telegram user id as text
    name: str

    def mention(self, by: str) -> str:
        """How a user on platform `by` names this person in a kudos command: a Slack user
        picks a Slack colleague (`<@U…>`); anyone else is named (`@Eva_Visser_3`)."""
        if by == "slack" and self.platform == "slack":
            return f"<@{self.user_id}>"
        return "@" + self.name.replace(" ", "_")

    @property
    def inbox_key(self) -> str:
        """Where the bot's direct messages to this person show up at the fake."""
        return f"dm:D{self.user_id}" if self.platform == "slack" else f"chat:{self.user_id}"


@dataclass
class Stats:
    """Everything the users measured and saw."""

    samples: dict[str, list[tuple[float, float | None]]] = field(
        default_factory=lambda: defaultdict(list)
    )  # label -> (ack seconds, reply seconds or None)
    errors: Counter[str] = field(default_factory=Counter)
    requests: int = 0
    redelivered: int = 0
    actions: Counter[str] = field(default_factory=Counter)
    reflections: list[str] = field(default_factory=list)  # tokens of accepted reflections
    kudos: list[tuple[str, Person]] = field(default_factory=list)  # accepted: token, receiver
    callbacks: list[str] = field(default_factory=list)  # Telegram button presses acked 200
    expected_slack: Counter[str] = field(default_factory=Counter)  # inbox key -> messages
    error_examples: dict[str, str] = field(default_factory=dict)

    def error(self, kind: str, detail: str = "") -> None:
        self.errors[kind] += 1
        self.error_examples.setdefault(kind, detail[:200])


class Inbox:
    """What one fake chat API received, read continuously, sorted by who it was for."""

    def __init__(
        self, session: aiohttp.ClientSession, port: int, key_of: Callable[[Record], str | None]
    ) -> None:
        self.session = session
        self.url = f"http://127.0.0.1:{port}/calls"
        self.key_of = key_of
        self.all: list[Record] = []
        self.pending: dict[str, list[Record]] = defaultdict(list)
        self.synced_at = float("-inf")  # start of the last completed read
        self.changed = asyncio.Condition()
        self.failures = 0

    async def run(self) -> None:
        """Read new records until cancelled."""
        while True:
            started = time.monotonic()
            try:
                async with self.session.get(self.url, params={"since": len(self.all)}) as r:
                    records = (await r.json())["records"]
            except (aiohttp.ClientError, TimeoutError, ValueError):
                self.failures += 1
                await asyncio.sleep(POLL_INTERVAL)
                continue
            for record in records:
                self.all.append(record)
                key = self.key_of(record)
                if key is not None:
                    self.pending[key].append(record)
            self.synced_at = started
            async with self.changed:
                self.changed.notify_all()
            await asyncio.sleep(POLL_INTERVAL)

    async def _until(self, condition: Callable[[], bool], timeout: float) -> bool:
        try:
            async with asyncio.timeout(timeout):
                async with self.changed:
                    await self.changed.wait_for(condition)
        except TimeoutError:
            return False
        return True

    async def first(self, key: str, timeout: float = REPLY_TIMEOUT) -> list[Record]:
        """Wait for the first record for `key`; return (and forget) all there are."""
        await self._until(lambda: bool(self.pending.get(key)), timeout)
        return self.pending.pop(key, [])

    async def settled(self, key: str, after: float, timeout: float = REPLY_TIMEOUT) -> list[Record]:
        """Every record for `key` that arrived before `after` (a moment already past)."""
        await self._until(lambda: self.synced_at >= after, timeout)
        return self.pending.pop(key, [])

    def drop(self, key: str) -> None:
        self.pending.pop(key, None)

    async def sync(self, timeout: float = REPLY_TIMEOUT) -> None:
        """Wait until everything received up to now has been read."""
        await self._until(lambda: self.synced_at >= time.monotonic() - 1e-3, timeout)


def slack_key(record: Record) -> str | None:
    method = record.get("method")
    if method == "chat.postMessage":
        return f"dm:{record.get('channel')}"
    if method == "hook":
        return f"hook:{record.get('hook')}"
    if method == "views.open":
        return f"trigger:{record.get('trigger_id')}"
    return None


def telegram_key(record: Record) -> str | None:
    method = record.get("method")
    if method == "sendMessage" and record.get("ok"):
        return f"chat:{record.get('chat_id')}"
    if method == "answerCallbackQuery":
        return f"cb:{record.get('callback_query_id')}"
    return None


class Budget:
    """Actions left: bounded by a count and by a moment on the monotonic clock."""

    def __init__(self, actions: int | None, deadline: float) -> None:
        self.left = actions
        self.deadline = deadline

    def take(self) -> bool:
        if time.monotonic() >= self.deadline:
            return False
        if self.left is None:
            return True
        if self.left <= 0:
            return False
        self.left -= 1
        return True


@dataclass
class Target:
    """The bot under load and what it needs to accept requests."""

    base_url: str
    signing_secret: str
    webhook_secret: str
    slack_hooks: str  # base URL of the fake Slack's response_url hooks
    run_id: str


class Driver:
    """Shared by all users: HTTP session, inboxes, counters, unique ids."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        target: Target,
        slack: Inbox,
        telegram: Inbox,
        stats: Stats,
        receivers: list[Person],
        *,
        redeliver: float,
        think: float,
        rng: random.Random,
    ) -> None:
        self.session = session
        self.target = target
        self.slack = slack
        self.telegram = telegram
        self.stats = stats
        self.receivers = receivers
        self.redeliver = redeliver
        self.think = think
        self.rng = rng
        self.expect = Expect.from_catalogue()

    def serial(self) -> int:
        """A number never used before in this process: update ids, trigger ids, tokens."""
        return next(_SERIALS)

    def token(self) -> str:
        return f"LOAD{self.target.run_id}N{self.serial():06d}"

    async def pause(self) -> None:
        if self.think > 0:
            await asyncio.sleep(self.rng.uniform(0.5, 1.5) * self.think)

    async def post(
        self, path: str, data: bytes, headers: dict[str, str], retry_headers: dict[str, str]
    ) -> tuple[int | None, float]:
        """POST (possibly twice at once: a redelivery); return the first's status and ack time."""
        url = self.target.base_url + path
        twice = self.rng.random() < self.redeliver

        async def one(extra: dict[str, str]) -> int | None:
            self.stats.requests += 1
            try:
                async with self.session.post(
                    url,
                    data=data,
                    headers={**headers, **extra},
                    timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT),
                ) as response:
                    await response.read()
                    if response.status != 200:
                        self.stats.error(f"http_{response.status}", path)
                    return response.status
            except TimeoutError:
                self.stats.error("timeout", path)
            except aiohttp.ClientError as error:
                self.stats.error("connection", f"{path}: {type(error).__name__}")
            return None

        started = time.monotonic()
        if twice:
            self.stats.redelivered += 1
            status, _ = await asyncio.gather(one({}), one(retry_headers))
        else:
            status = await one({})
        return status, started

    def sample(self, label: str, started: float, acked: float, reply: Record | None) -> None:
        reply_s = reply["at"] - started if reply is not None else None
        self.stats.samples[label].append((acked - started, reply_s))

    def check_text(self, label: str, records: list[Record], must: str | None = None) -> bool:
        """Whether the reply is no apology and (if given) says `must`; count it otherwise."""
        text = "\n".join(str(r.get("text", "")) for r in records)
        if any(e in text for e in self.expect.errors):
            self.stats.error("error_reply", f"{label}: {text}")
            return False
        if must is not None and must not in text:
            self.stats.error("unexpected_reply", f"{label}: {text}")
            return False
        return True


class SlackUser:
    """A Slack user of the load network: DMs, `/leerlus` commands, the reflection modal."""

    def __init__(self, driver: Driver, person: Person) -> None:
        self.d = driver
        self.person = person
        self.user = person.user_id
        self.kudos_given = 0

    async def _send(self, body: str, content_type: str) -> tuple[int | None, float, float]:
        headers = payloads.sign(self.d.target.signing_secret, body, int(time.time()))
        headers["Content-Type"] = content_type
        retry = {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
        status, started = await self.d.post("/slack/events", body.encode(), headers, retry)
        return status, started, time.monotonic()

    def _slash(self, text: str, trigger: str) -> str:
        form = payloads.slash(self.user, text, f"{self.d.target.slack_hooks}{self.user}")
        form["trigger_id"] = trigger
        return urlencode(form)

    async def _reply(self, label: str, key: str, started: float, acked: float) -> Record | None:
        self.d.stats.expected_slack[key] += 1
        records = await self.d.slack.first(key)
        if not records:
            self.d.stats.error("missing_reply", label)
            self.d.sample(label, started, acked, None)
            return None
        self.d.sample(label, started, acked, records[0])
        return records[0]

    async def act(self, action: str) -> None:
        await getattr(self, action)()

    async def ask(self) -> None:
        d = self.d
        question = d.rng.choice(QUESTIONS)
        n = d.serial()
        if d.rng.random() < 0.5:
            event = payloads.dm(self.user, question)
            body = json.dumps(
                payloads.event_callback(event, event_id=f"Ev{d.target.run_id}{n:07d}")
            )
            key, label, content_type = f"dm:D{self.user}", "slack.ask.dm", "application/json"
        else:
            body = self._slash("vraag " + question, f"trigger.{d.target.run_id}.{n}")
            key, label = f"hook:{self.user}", "slack.ask.slash"
            content_type = "application/x-www-form-urlencoded"
        status, started, acked = await self._send(body, content_type)
        if status != 200:
            return
        reply = await self._reply(label, key, started, acked)
        if reply is not None:
            d.check_text(label, [reply])

    async def kudos(self) -> None:
        d = self.d
        receiver = d.rng.choice(d.receivers)
        token = d.token()
        body = self._slash(
            f"kudos {receiver.mention('slack')} voor de hulp bij de oefening {token}",
            f"trigger.{d.target.run_id}.{d.serial()}",
        )
        status, started, acked = await self._send(body, "application/x-www-form-urlencoded")
        if status != 200:
            return
        d.stats.kudos.append((token, receiver))
        self.kudos_given += 1
        reply = await self._reply("slack.kudos", f"hook:{self.user}", started, acked)
        if reply is not None:
            d.check_text("slack.kudos", [reply], d.expect.kudos_sent)

    async def reflect(self) -> None:
        d = self.d
        trigger = f"trigger.{d.target.run_id}.{d.serial()}"
        status, started, acked = await self._send(
            self._slash("reflectie", trigger), "application/x-www-form-urlencoded"
        )
        if status != 200:
            return
        opened = await self._reply("slack.reflect.open", f"trigger:{trigger}", started, acked)
        if opened is None or not isinstance(opened.get("view"), dict):
            return
        await d.pause()
        token = d.token()
        values = {
            "went_well": "De opschaling ging snel en iedereen wist zijn rol.",
            "improve": "De verbindingen vielen weg in de tunnel.",
            "lesson": f"Test de portofoons vooraf op de plek zelf. {token}",
            "visibility": d.rng.choice([v.value for v in Visibility]),
            "loop_level": d.rng.choice([None, *(v.value for v in LoopLevel)]),
            "themes": d.rng.sample(["techniek", "communicatie", "samenwerking"], 2),
        }
        view_id = f"V{d.target.run_id}{d.serial():07d}"
        submission = payloads.submit(self.user, opened["view"], values, view_id=view_id)
        status, started, acked = await self._send(
            payloads.as_form(submission), "application/x-www-form-urlencoded"
        )
        if status != 200:
            return
        d.stats.reflections.append(token)
        reply = await self._reply("slack.reflect.submit", f"dm:D{self.user}", started, acked)
        if reply is not None:
            d.check_text("slack.reflect.submit", [reply], d.expect.saved)


class TelegramUser:
    """A Telegram user in a private chat with the bot: commands, answers, button presses."""

    def __init__(self, driver: Driver, person: Person) -> None:
        self.d = driver
        self.person = person
        self.user_id = int(person.user_id)
        self.key = f"chat:{self.user_id}"
        self.last: Record | None = None  # the bot's last message, for its buttons
        self.kudos_given = 0

    def _sender(self) -> dict[str, Any]:
        first, _, last = self.person.name.partition(" ")
        return {
            "id": self.user_id,
            "is_bot": False,
            "first_name": first,
            "last_name": last,
            "language_code": "nl",
        }

    def _message(self, update_id: int, text: str) -> dict[str, Any]:
        message: dict[str, Any] = {
            "message_id": update_id,
            "date": int(time.time()),
            "chat": {"id": self.user_id, "type": "private", "first_name": self.person.name},
            "from": self._sender(),
            "text": text,
        }
        if text.startswith("/"):
            length = len(text.split()[0])
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
        return {"update_id": update_id, "message": message}

    def _press(self, update_id: int, data: str) -> dict[str, Any]:
        shown = self.last or {}
        message: dict[str, Any] = {
            "message_id": 10_000_000 + update_id,
            "date": int(time.time()),
            "chat": {"id": self.user_id, "type": "private", "first_name": self.person.name},
            "from": {"id": 999, "is_bot": True, "first_name": "Leerlus"},
            "text": str(shown.get("text", "…")),
        }
        if isinstance(shown.get("reply_markup"), dict):
            message["reply_markup"] = shown["reply_markup"]
        return {
            "update_id": update_id,
            "callback_query": {
                "id": f"cb{self.d.target.run_id}{update_id}",
                "from": self._sender(),
                "chat_instance": str(self.user_id),
                "data": data,
                "message": message,
            },
        }

    async def _send(self, label: str, update: dict[str, Any]) -> list[Record] | None:
        """Deliver an update; return the bot's messages to this chat, None when refused."""
        d = self.d
        headers = {
            "Content-Type": "application/json",
            "X-Telegram-Bot-Api-Secret-Token": d.target.webhook_secret,
        }
        d.telegram.drop(self.key)
        status, started = await d.post(
            "/telegram/webhook", json.dumps(update).encode(), headers, {}
        )
        acked = time.monotonic()
        if status != 200:
            return None
        query = update.get("callback_query")
        if query is not None:
            d.stats.callbacks.append(query["id"])
        records = await d.telegram.settled(self.key, acked)
        if not records:
            d.stats.error("missing_reply", label)
            d.sample(label, started, acked, None)
            return []
        d.sample(label, started, acked, records[-1])
        self.last = records[-1]
        d.check_text(label, records)
        return records

    async def act(self, action: str) -> None:
        await getattr(self, action)()

    async def ask(self) -> None:
        d = self.d
        question = d.rng.choice(QUESTIONS)
        text = question if d.rng.random() < 0.5 else "/vraag " + question
        await self._send("telegram.ask", self._message(d.serial(), text))

    async def kudos(self) -> None:
        d = self.d
        receiver = d.rng.choice(d.receivers)
        token = d.token()
        text = f"/kudos {receiver.mention('telegram')} voor de hulp bij de oefening {token}"
        records = await self._send("telegram.kudos", self._message(d.serial(), text))
        if records is None:
            return
        d.stats.kudos.append((token, receiver))
        self.kudos_given += 1
        if records:
            d.check_text("telegram.kudos.sent", records, d.expect.kudos_sent)

    def _button(self, wanted: str | None = None) -> str | None:
        """The callback data of a button of the bot's last message (`wanted`, or any)."""
        markup = (self.last or {}).get("reply_markup") or {}
        found = [b.get("callback_data") for row in markup.get("inline_keyboard", []) for b in row]
        found = [f for f in found if isinstance(f, str)]
        if wanted is not None:
            return wanted if wanted in found else None
        return self.d.rng.choice(found) if found else None

    async def reflect(self) -> None:
        d = self.d
        token = d.token()
        steps: list[tuple[str, str | None]] = [
            ("text", "/reflectie"),
            ("text", "De samenwerking met de gemeente liep goed."),
            ("text", "De eerste melding kwam laat binnen."),
            ("text", f"Deel de stoffenlijst direct met alle disciplines. {token}"),
            ("press", None),  # visibility: one of its buttons
            ("press", None),  # loop level (or skip)
            ("text", "communicatie, samenwerking"),  # themes
        ]
        for number, (kind, value) in enumerate(steps, 1):
            label = "telegram.reflect.step"
            if kind == "text":
                update = self._message(d.serial(), value or "")
            else:
                data = self._button()
                if data is None:
                    d.stats.error("unexpected_reply", f"no buttons at reflection step {number}")
                    return
                update = self._press(d.serial(), data)
            records = await self._send(label, update)
            if not records:
                return
            await d.pause()
        skip = _nl("reflect.skip_word")
        data = self._button(skip) or skip
        records = await self._send("telegram.reflect.finish", self._press(d.serial(), data))
        if records is None:
            return
        d.stats.reflections.append(token)
        if records:
            d.check_text("telegram.reflect.finish", records, d.expect.saved)


User = SlackUser | TelegramUser


async def run_user(user: User, budget: Budget) -> None:
    """Do actions until the budget is spent; one at a time, with a pause in between."""
    d = user.d
    while budget.take():
        await act(user, d.rng.choices(ACTIONS, ACTION_WEIGHTS)[0])
        await d.pause()


async def act(user: User, action: str) -> None:
    """Do one action (counted); a bug in the driver is counted, and others go on."""
    d = user.d
    if action == "kudos" and user.kudos_given >= DAILY_LIMIT:
        action = "ask"  # the bot gives no more today, rightly: ask something instead
    d.stats.actions[action] += 1
    try:
        await user.act(action)
    except Exception as error:
        d.stats.error("driver", f"{action}: {type(error).__name__}: {error}")


TOKEN = re.compile(r"LOAD[0-9a-f]+N[0-9]+")


def notices(stats: Stats, slack: list[Record], telegram: list[Record]) -> Counter[str]:
    """How many direct messages each accepted kudos' receiver got about it (must be 1)."""
    seen: Counter[tuple[str, str]] = Counter()
    for key_of, records in ((slack_key, slack), (telegram_key, telegram)):
        for record in records:
            key = key_of(record)
            if key is not None and key.startswith(("dm:", "chat:")):
                for token in set(TOKEN.findall(str(record.get("text", "")))):
                    seen[token, key] += 1
    return Counter({token: seen[token, receiver.inbox_key] for token, receiver in stats.kudos})
