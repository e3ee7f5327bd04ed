"""Ranking: fuse the index's rankings, keep only relevant lessons, prefer other organisations.

Pure functions over ids and scores, so they are tested without any model.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from bot.models import Hit, ScoredCandidate
from bot.ports import Ranking

LEXICAL = "bm25"
TRANSLATED = "~"  # suffix of a ranking of the question's glossary translation


def _default_weights() -> dict[str, float]:
    return {"bm25": 1.0, "e5": 1.0, "minilm": 1.0}


def _default_thresholds() -> dict[str, float]:
    # A lesson is "relevant enough" when one method scores it at least this high. Measured
    # on the demo network: e5 puts relevant lessons at 0.85-0.90 and off-topic questions
    # ("appeltaart", "tulpen") at 0.74-0.82; MiniLM scores Dutch nonsense up to 0.50.
    return {"e5": 0.835, "minilm": 0.62, "bm25": 12.0}


def _default_floors() -> dict[str, float]:
    # Once a method's best lesson passed its threshold, lessons down to this floor count
    # too: a Dutch lesson for an English question scores a few hundredths lower.
    return {"e5": 0.81, "minilm": 0.5, "bm25": 12.0}


def _default_pair_thresholds() -> dict[str, dict[str, float]]:
    # e5's scores depend on the languages of question and lesson, and on the corpus: on the
    # 4,778 real records the best lesson for an English question scores 0.857-0.901 when
    # the judges found relevant ones, six off-topic English questions ("how do I knit a
    # scarf?") 0.795-0.850; on the small demo network an on-topic English question's best
    # English lesson scores 0.851, off-topic ones up to 0.821. Dutch questions score
    # everything lower (real records: answered >= 0.830 in either language, off-topic
    # <= 0.821; demo: off-topic 0.74-0.82). English questions reach Dutch lessons at 0.81+
    # when relevant, off-topic ones at most 0.804. The figures: python -m bench.eval.
    # "question-lesson" language pairs; the floor (threshold minus floor_gap) applies below.
    return {"e5": {"en-en": 0.85, "nl-nl": 0.825, "nl-en": 0.825, "en-nl": 0.81}}


@dataclass(frozen=True)
class RankingConfig:
    candidates: int = 200
    rrf_k: int = 30  # 20-45 within noise on bench/questions.json; 60 lost 0.02 recall@10
    page_size: int = 3
    weights: dict[str, float] = field(default_factory=_default_weights)
    thresholds: dict[str, float] = field(default_factory=_default_thresholds)
    floors: dict[str, float] = field(default_factory=_default_floors)
    # Per method, thresholds by "question-lesson" language pair; where a pair (or the
    # question's language) is unknown, `thresholds` and `floors` apply.
    pair_thresholds: dict[str, dict[str, float]] = field(default_factory=_default_pair_thresholds)
    floor_gap: dict[str, float] = field(default_factory=lambda: {"e5": 0.025})
    other_threshold: float = 0.5  # for encoders without a calibrated threshold
    lexical_only_threshold: float = 1e-9  # without encoders any lexical match counts
    # Lessons scored lower than the best one (of their language) by more than this margin
    # do not count: they are about something else.
    margins: dict[str, float] = field(default_factory=lambda: {"e5": 0.04, "minilm": 0.15})
    max_results: int = 30  # ten pages: nobody reads further, and the tail is weak
    # Which (question, lesson) language pairs a method can judge: BM25 needs shared words,
    # MiniLM was trained on English, yet its word pieces match Dutch to Dutch well enough
    # to judge a Dutch question's Dutch lessons (Dutch MRR 0.63 -> 0.67 on bench/questions.json,
    # 0.28 -> 0.32 on the held-out set, with `unvouched_language_weight` 0.9).
    # "same" means: question and lesson in one language. A translated question ("bm25~",
    # "minilm~") judges lessons in the other language.
    judges: dict[str, tuple[str, ...]] = field(
        default_factory=lambda: {
            "bm25": ("same",),
            "minilm": ("en-en", "nl-nl"),
            "bm25~": ("nl-en", "en-nl"),
            "minilm~": ("nl-en",),
        }
    )
    # Once some lesson is relevant, the best this many of the fused ranking are shown too:
    # a lesson that BM25 and a translation rank high may sit below every dense threshold.
    always_top: int = 10
    # Spreading the results over organisations: each further lesson of a source already
    # shown weighs this much less. Gentle, so it reorders near-ties only: 0.8 cost a fifth
    # of the recall@10 on bench/questions.json, 0.97 nothing measurable.
    same_source_penalty: float = 0.97
    # Others first, softly: the viewer's own organisation's lessons weigh this much, so they
    # follow comparably relevant lessons of others but precede weaker ones. Fused scores lie
    # close together (rank 1 vs rank 10: 0.032 vs 0.024 per method), so 0.9 already put
    # the asker's own strong lessons below weak ones of others on the demo network.
    own_organisation_weight: float = 0.95  # about two ranks of the fusion
    # Each method's ranks are counted within each language (the index returns the best of
    # each), and a lesson in another language than the question's counts this much of its
    # rank's worth. Measured on bench/questions.json (python -m bench.eval): without the
    # translated rankings 0.8 was best (1.0 let the other language crowd out the
    # question's); with them 0.97-1.0 is (recall@10 0.33 at 0.9, 0.35 at 0.97, 0.36 at 1).
    other_language_weight: float = 0.97  # below 1.0: a tie goes to the question's language
    # Lessons in a language of which no method found one relevant enough (see `relevant`)
    # weigh this much less again: ranks count per language, so without it the best of an
    # unrelated group takes a first place's credit from every method that judges it (on
    # the demo network an English lesson about briefings came first for "hoe communiceer je
    # met bewoners bij een evacuatie"). 0.9 and 0.95 measured alike on both question sets
    # with MiniLM judging Dutch; 0.8 cost cross-language MRR (0.51 -> 0.50), 0.6 more.
    unvouched_language_weight: float = 0.9


def can_judge(
    method: str, query_language: str | None, lesson_language: str, config: RankingConfig
) -> bool:
    """Whether a method's ranking says anything about a lesson in that language."""
    rules = config.judges.get(method)
    if rules is None and method.endswith(TRANSLATED):
        return query_language is not None and lesson_language != query_language
    if rules is None or query_language is None:
        return True
    pair = f"{query_language}-{lesson_language}"
    return pair in rules or ("same" in rules and query_language == lesson_language)


def fuse(
    rankings: dict[str, Ranking],
    config: RankingConfig,
    languages: dict[int, str] | None = None,
    query_language: str | None = None,
    vouched: set[str] | None = None,
) -> list[tuple[int, float]]:
    """Reciprocal-rank fusion, best first.

    With lesson languages known, ranks count within each language, and lessons in another
    language than the question's weigh `other_language_weight`: a multilingual encoder
    scores them lower than equally relevant ones in the question's language.
    A method that cannot judge a lesson's language pair (BM25 across languages, MiniLM on
    Dutch lessons for an English question) would otherwise count as a vote against it; it
    gets the mean contribution of the methods that can judge it instead.
    `vouched`: the lesson languages in which some lesson passed a threshold; a lesson in
    another language than the question's and than these weighs `unvouched_language_weight`
    less again.
    """
    languages = languages or {}
    # Which methods judge a lesson depends on its language only: worked out once per
    # language, not once per lesson and method (a thousand candidates or more).
    judging_of: dict[str, list[str]] = {}

    def judging(language: str) -> list[str]:
        found = judging_of.get(language)
        if found is None:
            found = [m for m in rankings if can_judge(m, query_language, language, config)]
            judging_of[language] = found
        return found

    contributions: dict[int, dict[str, float]] = defaultdict(dict)
    for method, ranking in rankings.items():
        weight = config.weights.get(method, 1.0)
        ranks: dict[str | None, int] = defaultdict(int)
        for reflection_id, _score in ranking:
            language = languages.get(reflection_id)
            if language is not None and method not in judging(language):
                continue
            rank = ranks[language]
            ranks[language] += 1
            factor = 1.0
            if query_language is not None and language is not None and language != query_language:
                factor = config.other_language_weight
                if vouched is not None and language not in vouched:
                    factor *= config.unvouched_language_weight
            contributions[reflection_id][method] = factor * weight / (config.rrf_k + rank + 1)
    scores: dict[int, float] = {}
    for rid, parts in contributions.items():
        language = languages.get(rid)
        if language is None:
            scores[rid] = sum(parts.values())
            continue
        judges = judging(language)
        known = [parts.get(m, 0.0) for m in judges]
        mean = sum(known) / len(known) if known else 0.0
        scores[rid] = sum(known) + mean * (len(rankings) - len(judges))
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))


def relevant(
    rankings: dict[str, Ranking],
    config: RankingConfig,
    languages: dict[int, str] | None = None,
    query_language: str | None = None,
) -> set[int]:
    """Ids that count as relevant.

    Per method and per lesson language: when the best lesson of that language passes the
    threshold for the (question, lesson) language pair, the method vouches for every
    lesson of that language scored above the floor and within the margin of the best.
    """
    languages = languages or {}
    found: set[int] = set()
    lexical_only = all(method.removesuffix(TRANSLATED) == LEXICAL for method in rankings)
    for method, ranking in rankings.items():
        if method.endswith(TRANSLATED):
            continue  # a bag of glossary words does not say whether a question is on topic
        groups: dict[str | None, Ranking] = defaultdict(list)
        for rid, score in ranking:
            groups[languages.get(rid)].append((rid, score))
        for language, group in groups.items():
            if lexical_only:
                threshold = floor = config.lexical_only_threshold
            else:
                threshold, floor = _threshold(method, query_language, language, config)
            best = max(score for _rid, score in group)
            if best >= threshold:
                floor = max(floor, best - config.margins.get(method, best))
                found.update(rid for rid, score in group if score >= floor)
    return found


def _threshold(
    method: str, query_language: str | None, language: str | None, config: RankingConfig
) -> tuple[float, float]:
    """The (threshold, floor) of a method for a question-lesson language pair."""
    pairs = config.pair_thresholds.get(method, {})
    pair = f"{query_language}-{language}"
    if query_language is not None and language is not None and pair in pairs:
        threshold = pairs[pair]
        return threshold, threshold - config.floor_gap.get(method, 0.0)
    threshold = config.thresholds.get(method, config.other_threshold)
    return threshold, min(threshold, config.floors.get(method, threshold))


H = TypeVar("H", Hit, ScoredCandidate)


def source_of(hit: Hit | ScoredCandidate) -> str:
    """The key used to spread results over sources: organisation, or discipline if anonymous."""
    lesson = hit.lesson
    return f"org:{lesson.org_id}" if lesson.org_id is not None else f"anon:{lesson.discipline}"


def arrange(hits: Sequence[H], viewer_org_id: int, config: RankingConfig) -> list[H]:
    """Order hits: by score, the viewer's own organisation's weighed down a little, and
    each further lesson of one source a little less again (spread over organisations).

    Greedy: always the best hit as weighed now. Weights only ever fall, so a heap whose
    entries are re-weighed when popped stale gives the same order in O(n log n).
    """

    def weight(hit: H) -> float:
        own = hit.lesson.org_id == viewer_org_id
        return hit.score * (config.own_organisation_weight if own else 1.0)

    seen: dict[str, int] = defaultdict(int)
    # (weighed score, then plain weight and id for ties; the source count it was weighed at)
    heap = [(-weight(h), -weight(h), h.lesson.reflection_id, 0, n) for n, h in enumerate(hits)]
    heapq.heapify(heap)
    ordered: list[H] = []
    while heap:
        _now, plain, rid, count, n = heapq.heappop(heap)
        source = source_of(hits[n])
        if count != seen[source]:
            weighed = plain * config.same_source_penalty ** seen[source]
            heapq.heappush(heap, (weighed, plain, rid, seen[source], n))
            continue
        seen[source] += 1
        ordered.append(hits[n])
    return ordered
