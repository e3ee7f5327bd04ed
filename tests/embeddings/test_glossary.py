"""The glossary that translates questions word by word."""

from __future__ import annotations

import pytest

from embeddings.glossary import Glossary, bundled

SMALL = Glossary.parse(
    "# comment\n"
    "portofoon\tradio|handheld radio\n"
    "ongevallen\taccidents\n"
    "stroomstoring\tpower outage|blackout\n"
    "stroom\tpower\n"
    "ziekenhuis\thospital\n"
)


def test_dutch_words_become_their_english_words() -> None:
    assert SMALL.translate("De portofoon viel uit", "nl", "en") == "radio handheld radio"


def test_plural_with_apostrophe_and_compounds_are_found() -> None:
    assert SMALL.translate("hijsongevallen", "nl", "en") == "accidents"
    assert SMALL.translate("stroomstoring bij het ziekenhuis", "nl", "en") == (
        "power outage blackout hospital"
    )


def test_english_phrases_match_on_stems_longest_first() -> None:
    # "power outages" is the phrase "power outage", not "power" plus an unknown word.
    assert SMALL.translate("Power outages at two hospitals", "en", "nl") == (
        "stroomstoring ziekenhuis"
    )
    assert SMALL.translate("the power was off", "en", "nl") == "stroom"


def test_nothing_known_or_another_language_pair_gives_nothing() -> None:
    assert SMALL.translate("appeltaart met slagroom", "nl", "en") == ""
    assert SMALL.translate("portofoon", "nl", "de") == ""


def test_malformed_lines_are_refused_with_their_number() -> None:
    with pytest.raises(ValueError, match="line 2"):
        Glossary.parse("portofoon\tradio\nkapot\n")


def test_the_bundled_glossary_loads_and_covers_the_domain() -> None:
    glossary = bundled()
    assert len(glossary) > 200
    assert "evacuation" in glossary.translate("ontruiming van de woonwijk", "nl", "en")
    assert "gaslek" in glossary.translate("a gas leak in the street", "en", "nl")
