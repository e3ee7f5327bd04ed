"""Replies to Telegram messages: escaping, keyboards, splitting, the menu (pure functions)."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.telegram import outbound
from bot.replies import Choice, Field, Form, LessonCard, Text
from bot.texts import Translator

TR = Translator("nl")


def balanced(html: str) -> bool:
    stack: list[str] = []
    for closing, name in re.findall(r"<(/?)([a-z]+)[^>]*>", html):
        if closing:
            if not stack or stack.pop() != name:
                return False
        else:
            stack.append(name)
    return not stack


def card(lesson: str) -> LessonCard:
    return LessonCard(
        reflection_id=7,
        lesson=lesson,
        went_well="Goed <overleg>",
        improve="",
        source="Politie Oost",
        labels={"lesson": "Les", "went_well": "Ging goed", "improve": "Kan beter",
                "incident": "Incident"},
        incident_title="Brand & rook",
        date=datetime(2026, 3, 1, tzinfo=UTC),
        title="Titel *met* _markdown_",
        choices=(Choice("Nuttig", "/nuttig 7"), Choice("Bedank", "/bedank 7", "primary")),
    )  # fmt: skip


def test_a_card_escapes_everything_it_did_not_write() -> None:
    [message] = outbound.render(card("Les <script>"), TR)
    assert message.text.splitlines() == [
        "<b>Titel *met* _markdown_</b>",
        "<i>Politie Oost · Incident: Brand &amp; rook · 01-03-2026</i>",
        "<b>Les:</b> Les &lt;script&gt;",
        "<b>Ging goed:</b> Goed &lt;overleg&gt;",
    ]
    assert message.keyboard is not None
    row = message.keyboard.inline_keyboard[0]
    assert [(b.text, b.callback_data) for b in row] == [
        ("Nuttig", "/nuttig 7"), ("Bedank", "/bedank 7"), ("Meer", "/meer"),
    ]  # fmt: skip


def test_long_labels_get_a_row_each_and_oversized_callback_data_is_left_out() -> None:
    text = Text("Kies", choices=(Choice("Een heel erg lang label hier", "a"), Choice("B", "b"),
                                 Choice("C", "/x " + "9" * 70)))  # fmt: skip
    [message] = outbound.render(text, TR)
    assert message.keyboard is not None
    assert [[b.callback_data for b in row] for row in message.keyboard.inline_keyboard] == [
        ["a"],
        ["b"],
    ]


def test_a_form_is_shown_as_text() -> None:
    form = Form("Reflectie", (Field("went_well", "Wat ging er goed?"),), "reflection", "Bewaren")
    [message] = outbound.render(form, TR)
    assert "Wat ging er goed?" in message.text and message.keyboard is None


def test_splitting_keeps_the_keyboard_for_the_last_part() -> None:
    parts = outbound.render(Text("regel\n" * 1500, choices=(Choice("OK", "ok"),)), TR)
    assert len(parts) == 3
    assert [p.keyboard is not None for p in parts] == [False, False, True]
    assert "".join(p.text + "\n" for p in parts).count("regel") == 1500


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.text(alphabet=st.sampled_from("ab <>&*_\n"), min_size=0, max_size=900), max_size=12)
)
def test_split_parts_fit_and_stay_well_formed(lines: list[str]) -> None:
    text = "\n".join(f"<b>{html.escape(line[:5])}</b> {html.escape(line)}" for line in lines)
    parts = outbound.split_html(text, limit=300)
    for part in parts:
        assert len(part) <= 300
        assert balanced(part)
        assert not re.search(r"&[a-z]*$", part)  # no entity cut in half
    visible = re.sub(r"\s+", "", html.unescape(re.sub(r"<[^>]+>", "", "".join(parts))))
    assert visible == re.sub(r"\s+", "", html.unescape(re.sub(r"<[^>]+>", "", text)))


def test_chosen_html_and_repeatable_buttons() -> None:
    assert (
        outbound.chosen_html("Wie?", "Het <hele> netwerk") == "Wie?\n\n✓ Het &lt;hele&gt; netwerk"
    )
    assert outbound.keeps_keyboard("/nuttig 3") and outbound.keeps_keyboard("/thank 3")
    assert outbound.keeps_keyboard("/meer")
    assert not outbound.keeps_keyboard("netwerk") and not outbound.keeps_keyboard("/later 4")
