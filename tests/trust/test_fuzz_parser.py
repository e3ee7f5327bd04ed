"""The command parser and `Bot.handle_text` under arbitrary input (hypothesis).

Any text — control characters, NUL, RTL and zero-width marks, every script, 100 kB — is
parsed into a Command without raising, and the bot answers every line with at least one
reply, whatever the member was doing.
"""

from __future__ import annotations

import typing

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot import commands as c
from bot.commands import ALIASES, MAX_INPUT, parse_command
from bot.handlers.reflect import MAX_ANSWER
from bot.models import Discipline, Identity, Member, Role
from bot.replies import Form, LessonCard, Reply, Text
from bot.service import Bot
from tests.fakes import FakeIndex, FixedClock, InMemoryStore, RecordingNotifier

COMMAND_TYPES = typing.get_args(c.Command)
MARKS = "\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2069\ufeff"
TRICKY = ["\x00", "\x1b[31m", "\r\n", "\t", "\u2028", "\u00a0", "²", "٣", "𝟘", "-1", "0", "1e9"]

# Any text without surrogates (the default), weighted towards what breaks parsers.
characters = st.one_of(
    st.characters(),
    st.characters(categories=("Cc", "Cf", "Zs", "Zl", "Zp", "Nd", "No")),
    st.sampled_from(MARKS),
)
free_text = st.text(characters, max_size=80)
words = st.sampled_from(sorted(ALIASES))
arguments = st.one_of(free_text, st.sampled_from(TRICKY), st.integers().map(str))
lines = st.one_of(
    free_text,
    st.builds(lambda w, a: f"/{w} {a}", words, arguments),
    st.builds(lambda w, a: f"/{w}{a}", words, arguments),
    st.builds(lambda w, a, b: f"/{w} {a} {b}", words, arguments, arguments),
    st.builds(lambda m, w, a: f"{m}/{w}{m} {a}", st.sampled_from(MARKS), words, arguments),
    st.builds(lambda w: f"/{w}@leerlus_bot", words),
)


def long_text(minimum: int, maximum: int) -> st.SearchStrategy[str]:
    """A text of minimum..maximum characters, built by repeating a random piece."""
    return st.builds(
        lambda piece, size: (piece * (size // len(piece) + 1))[:size],
        st.text(characters, min_size=1, max_size=20),
        st.integers(minimum, maximum),
    )


def _check(command: object) -> None:
    assert isinstance(command, COMMAND_TYPES)
    if isinstance(command, c.PlainText):
        assert command.text and command.text == command.text.strip()
        assert all(ch.isprintable() or ch in "\n\t" for ch in command.text)
    if isinstance(command, c.Unknown):
        assert len(command.name) <= 40
    for name in ("reflection_id", "prompt_id"):
        value = getattr(command, name, None)
        assert value is None or 0 <= value < 10**12


@settings(max_examples=3000, deadline=None)
@given(lines)
def test_any_line_parses_into_a_command(text: str) -> None:
    _check(parse_command(text))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(long_text(MAX_INPUT + 1, 100_000), st.sampled_from(["", "/vraag ", "/kudos @a "]))
def test_too_long_input_is_refused_whole(text: str, prefix: str) -> None:
    command = parse_command(prefix + text)
    assert command == c.Invalid("error.too_long", (("limit", str(MAX_INPUT)),))


@settings(max_examples=300, deadline=None)
@given(long_text(1, MAX_INPUT))
def test_long_input_within_the_limit_parses(text: str) -> None:
    _check(parse_command(text))
    _check(parse_command("/vraag " + text[: MAX_INPUT - 7]))


def test_known_tricky_inputs() -> None:
    """Cases the fuzzing found, kept as plain examples."""
    assert parse_command("/bedank ¹") == c.Invalid("error.missing_id")  # "¹".isdigit()
    assert parse_command("/nuttig 99999999999999999") == c.Invalid("error.missing_id")
    assert parse_command("/reflectie 5³") == c.StartReflection("5³")
    assert parse_command("\u202e/help\u202c") == c.Help()  # RTL override around a command
    assert parse_command("hallo\u00a0wereld") == c.PlainText("hallo wereld")
    assert parse_command("\x00\x01\x1b") == c.Invalid("error.empty")
    assert parse_command("/ja\x00") == c.Confirm(True)


# Bot.handle_text end to end on the fake ports


def small_network() -> tuple[Bot, list[Member]]:
    store = InMemoryStore()
    police = store.add_org("Politie Midden", "politie", Discipline.POLITIE)
    fire = store.add_org("Brandweer Midden", "brandweer", Discipline.BRANDWEER)
    members = [
        store.add_member(police.id, "Anna", Identity("console", "anna"), role=Role.COORDINATOR),
        store.add_member(police.id, "Bas", Identity("console", "bas")),
        store.add_member(fire.id, "Piet", Identity("console", "piet"), locale="en"),
    ]
    bot = Bot(store=store, index=FakeIndex(), clock=FixedClock(), notifier=RecordingNotifier())
    # Something to find, to thank and to act on.
    bot.handle(members[1], c.SubmitReflection("Goed", "Beter", "Een les over brand", "netwerk"))
    bot.handle_text(members[0], "/incident Oefening met @bas")
    return bot, members


def _answered(replies: list[Reply]) -> None:
    assert replies, "every line gets a reply"
    for reply in replies:
        if isinstance(reply, Text):
            assert reply.body.strip()
        else:
            assert isinstance(reply, LessonCard | Form)


# Lines that start flows, so that random text also lands in the middle of one.
flow_starts = st.sampled_from(["/reflectie", "/vergeet", "/invullen 1", "/vraag brand", ""])


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, 2), flow_starts, lines), min_size=1, max_size=6))
def test_the_bot_answers_every_line(script: list[tuple[int, str, str]]) -> None:
    bot, members = small_network()
    for who, start, text in script:
        member = bot.store.get_member(members[who].id)
        if member is None:  # forgot themselves: the platform would not find them again
            continue
        if start:
            _answered(bot.handle_text(member, start))
        _answered(bot.handle_text(member, text))
        _answered(bot.handle_text(member, text, shared=True))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(long_text(MAX_INPUT - 50, 100_000), st.sampled_from(["", "/reflectie", "/vraag x"]))
def test_the_bot_refuses_long_lines_and_keeps_the_flow(text: str, start: str) -> None:
    bot, members = small_network()
    member = members[1]
    if start:
        bot.handle_text(member, start)
    before = bot.store.get_conversation(member.id)
    draft = bot.store.current_draft(member.id)
    replies = bot.handle_text(member, text)
    _answered(replies)
    if len(text) > MAX_INPUT:
        assert isinstance(replies[0], Text) and "5000" in replies[0].body
        assert bot.store.get_conversation(member.id) == before
    after = bot.store.current_draft(member.id)
    # Control characters are dropped first: what remains may be a fine answer.
    if draft is not None and after is not None and len(c.clean(text).strip()) > MAX_ANSWER:
        # A long answer to a reflection question is refused, not stored half.
        assert after.went_well == draft.went_well and after.draft_step == draft.draft_step


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.one_of(free_text, long_text(900, 1200)), min_size=7, max_size=7),
    st.one_of(st.none(), st.integers(-5, 10**15)),
    st.one_of(st.none(), st.integers(-5, 10**15)),
)
def test_a_submitted_form_with_any_fields_gets_an_answer(
    fields: list[str], incident_id: int | None, prompt_id: int | None
) -> None:
    bot, members = small_network()
    went_well, improve, lesson, visibility, loop_level, themes, thanks = fields
    command = c.SubmitReflection(
        went_well, improve, lesson, visibility, loop_level, themes, thanks, incident_id, prompt_id
    )
    before = len(bot.store.reflections_of(members[0].id))
    replies = bot.handle(members[0], command)
    _answered(replies)
    saved = bot.store.reflections_of(members[0].id)
    if len(saved) > before:  # saved: then whole, with every required answer
        newest = saved[0]
        assert newest.went_well.strip() and newest.improve.strip() and newest.lesson.strip()
        assert len(newest.lesson) <= 1000
