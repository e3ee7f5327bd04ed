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


def test_own_organisation_follows_comparable_others_but_precedes_weak_ones() -> None:
    hits = [Hit(lesson(1, 7), 0.90), Hit(lesson(2, 8), 0.88), Hit(lesson(3, 9), 0.50)]
    ordered = [h.lesson.reflection_id for h in arrange(hits, viewer_org_id=7, config=CONFIG)]
    assert ordered == [2, 1, 3]  # 0.90 * 0.9 < 0.88, but far above 0.50


def test_near_ties_are_spread_over_sources() -> None:
    hits = [
        Hit(lesson(1, 8), 0.900),
        Hit(lesson(2, 8), 0.899),
        Hit(lesson(3, 9), 0.890),
        Hit(lesson(4, 8), 0.500),
    ]
    ordered = [h.lesson.reflection_id for h in arrange(hits, viewer_org_id=7, config=CONFIG)]
    assert ordered == [1, 3, 2, 4]  # a second lesson of org 8 waits for a near-tie of org 9


def test_ranks_count_within_each_language() -> None:
    # An English question: the best Dutch lesson ranks first among the Dutch ones, so the
    # English lessons that e5 scores higher do not push it down.
    rankings = {"e5": [(1, 0.90), (2, 0.89), (3, 0.88), (4, 0.84)]}
    languages = {1: "en", 2: "en", 3: "en", 4: "nl"}
    fused = dict(fuse(rankings, RankingConfig(other_language_weight=1.0), languages, "en"))
    assert fused[4] == fused[1] > fused[2]
    ordered = [rid for rid, _ in fuse(rankings, CONFIG, languages, "en")]
    assert ordered[:2] == [1, 4]  # a tie goes to the question's language
    lower = fuse(rankings, RankingConfig(other_language_weight=0.5), languages, "en")
    assert [rid for rid, _ in lower][-1] == 4


def test_a_language_where_nothing_is_relevant_gives_no_free_first_place() -> None:
    # A Dutch question. The one English lesson ranks first among the English ones for e5
    # and for the translated question's BM25, yet e5 scores it below the nl-en threshold.
    rankings = {
        "e5": [(1, 0.88), (2, 0.87), (3, 0.80)],
        "bm25": [(4, 30.0), (2, 20.0), (1, 10.0)],  # the Dutch methods disagree a little
        "bm25~": [(3, 5.0)],
    }
    languages = {1: "nl", 2: "nl", 3: "en", 4: "nl"}
    config = RankingConfig(unvouched_language_weight=0.5)
    vouched = {languages[rid] for rid in relevant(rankings, config, languages, "nl")}
    assert vouched == {"nl"}
    assert fuse(rankings, config, languages, "nl")[0][0] == 3  # a first place from both
    ordered = [rid for rid, _ in fuse(rankings, config, languages, "nl", vouched)]
    assert ordered == [1, 2, 4, 3]  # still there, after the Dutch ones
    # Once e5 finds it relevant enough, it competes on its ranks again.
    rankings["e5"][2] = (3, 0.83)
    vouched = {languages[rid] for rid in relevant(rankings, config, languages, "nl")}
    assert vouched == {"nl", "en"}
    assert fuse(rankings, config, languages, "nl", vouched)[0][0] == 3


def test_thresholds_depend_on_the_language_pair() -> None:
    rankings = {"e5": [(1, 0.845), (2, 0.82)]}
    # English question: an English lesson needs 0.85, a Dutch one 0.81.
    assert relevant(rankings, CONFIG, {1: "en", 2: "nl"}, "en") == {2}
    assert relevant(rankings, CONFIG, {1: "en", 2: "en"}, "en") == set()
    # Dutch question, Dutch lessons: 0.825, then down to the floor within the margin.
    assert relevant(rankings, CONFIG, {1: "nl", 2: "nl"}, "nl") == {1, 2}
    # Language unknown: the general threshold (0.835).
    assert relevant(rankings, CONFIG) == {1, 2}


def test_a_translated_question_ranks_the_other_language_but_never_vouches() -> None:
    rankings = {"bm25~": [(1, 40.0), (2, 30.0)], "e5": [(3, 0.70)]}
    languages = {1: "en", 2: "nl", 3: "nl"}
    assert relevant(rankings, CONFIG, languages, "nl") == set()
    fused = dict(fuse(rankings, CONFIG, languages, "nl"))
    assert 2 not in fused  # a Dutch lesson is not judged by the Dutch question's translation
    assert fused[1] > 0


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
    fair = fuse(rankings, RankingConfig(other_language_weight=1.0), languages, "en")
    assert plain[0][0] == 2  # three votes against one
    assert fair[0][0] == 1  # e5's best stands once the others' silence is not counted
