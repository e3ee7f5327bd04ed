"""Fusion, relevance and arrangement on their own."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.models import Discipline, Hit, Lesson, Visibility
from bot.ranking import RankingConfig, arrange, fuse, relevant

CONFIG = RankingConfig()


def lesson(rid: int, org_id: int | None) -> Lesson:
    return Lesson(
        reflection_id=rid,
        title=None,
        lesson="l",
        went_well="",
        improve="",
        visibility=Visibility.ANONIEM if org_id is None else Visibility.NETWERK,
        discipline=Discipline.POLITIE,
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
        org_id=org_id,
        org_name=None if org_id is None else f"org {org_id}",
        author_id=None,
        author_name=None,
    )


def test_fusion_rewards_agreement_between_methods() -> None:
    fused = fuse({"bm25": [(1, 9.0), (2, 5.0)], "e5": [(2, 0.9), (3, 0.8)]}, CONFIG)
    assert [rid for rid, _ in fused] == [2, 1, 3]


def test_relevance_uses_dense_thresholds_when_encoders_exist() -> None:
    rankings = {"bm25": [(1, 3.0)], "e5": [(2, 0.90), (3, 0.70)], "minilm": [(3, 0.30)]}
    assert relevant(rankings, CONFIG) == {2}


def test_a_method_whose_best_passed_vouches_down_to_its_floor() -> None:
    rankings = {"e5": [(1, 0.86), (2, 0.83), (3, 0.815), (4, 0.79)]}
    assert relevant(rankings, CONFIG) == {1, 2}  # 3 is above the floor but too far below 1
    assert relevant({"e5": [(2, 0.83), (3, 0.79)]}, CONFIG) == set()


def test_relevance_without_encoders_counts_any_lexical_match() -> None:
    assert relevant({"bm25": [(1, 0.4), (2, 0.0)]}, CONFIG) == {1}


def test_other_organisations_first_and_spread_over_sources() -> None:
    hits = [
        Hit(lesson(1, 7), 0.9),
        Hit(lesson(2, 8), 0.8),
        Hit(lesson(3, 8), 0.7),
        Hit(lesson(4, 9), 0.5),
        Hit(lesson(5, None), 0.6),
    ]
    ordered = [h.lesson.reflection_id for h in arrange(hits, viewer_org_id=7, config=CONFIG)]
    assert ordered[-1] == 1  # own organisation last
    assert ordered[:3] == [2, 5, 3]  # a second lesson of org 8 waits for another source


def test_lessons_in_the_other_language_are_evened_out() -> None:
    from bot.ranking import adjust_for_language

    rankings = {"e5": [(1, 0.85), (2, 0.82)], "bm25": [(2, 3.0)]}
    config = RankingConfig(cross_language_bonus={"e5": 0.04})
    adjusted = adjust_for_language(rankings, {1: "en", 2: "nl"}, "en", config)
    assert adjusted["e5"] == [(2, 0.82 + 0.04), (1, 0.85)]
    assert adjusted["bm25"] == rankings["bm25"]
    assert adjust_for_language(rankings, {1: "en", 2: "nl"}, None, config) == rankings


def test_language_of_a_question() -> None:
    from bot.language import detect_language

    assert detect_language("hoe communiceer je met bewoners tijdens een evacuatie?") == "nl"
    assert detect_language("what went wrong with the radio during the fire") == "en"
    assert detect_language("C2000") is None


def test_a_method_that_cannot_judge_a_language_pair_does_not_vote_against_it() -> None:
    # question in English; lesson 1 Dutch (only e5 can judge it), lesson 2 English
    rankings = {"bm25": [(2, 5.0)], "e5": [(1, 0.9), (2, 0.85)], "minilm": [(2, 0.6)]}
    languages = {1: "nl", 2: "en"}
    plain = fuse(rankings, CONFIG)
    fair = fuse(rankings, CONFIG, languages, "en")
    assert plain[0][0] == 2  # three votes against one
    assert fair[0][0] == 1  # e5's best stands once the others' silence is not counted
