"""Ranking: fuse the index's rankings, keep only relevant lessons, prefer other organisations.

Pure functions over ids and scores, so they are tested without any model.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from bot.models import Hit
from bot.ports import Ranking

LEXICAL = "bm25"


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


@dataclass(frozen=True)
class RankingConfig:
    candidates: int = 200
    rrf_k: int = 60
    page_size: int = 3
    weights: dict[str, float] = field(default_factory=_default_weights)
    thresholds: dict[str, float] = field(default_factory=_default_thresholds)
    floors: dict[str, float] = field(default_factory=_default_floors)
    other_threshold: float = 0.5  # for encoders without a calibrated threshold
    lexical_only_threshold: float = 1e-9  # without encoders any lexical match counts
    # Multilingual e5 scores a lesson in the other language 0.03-0.09 lower than the same
    # content in the question's language. A bonus of 0.04 helped on the (Dutch) demo
    # network, but on the judged real records (bench/questions.json, 94% English) it lifted
    # thousands of English records over the Dutch ones: Dutch-question recall@10 fell from
    # 0.18 to 0.09 for +0.02 cross-language. Off by default until issue 6 finds better.
    cross_language_bonus: dict[str, float] = field(default_factory=lambda: {"e5": 0.04})
    # Lessons scored lower than the best one by more than this margin do not count: they
    # are about something else. Per method, on the language-adjusted scores.
    margins: dict[str, float] = field(default_factory=lambda: {"e5": 0.04, "minilm": 0.15})
    # Which (question, lesson) language pairs a method can judge: BM25 needs shared words,
    # MiniLM knows English only. "same" means: question and lesson in one language.
    judges: dict[str, tuple[str, ...]] = field(
        default_factory=lambda: {"bm25": ("same",), "minilm": ("en-en",)}
    )
    same_source_penalty: float = 0.8


def can_judge(
    method: str, query_language: str | None, lesson_language: str, config: RankingConfig
) -> bool:
    """Whether a method's ranking says anything about a lesson in that language."""
    rules = config.judges.get(method)
    if rules is None or query_language is None:
        return True
    pair = f"{query_language}-{lesson_language}"
    return pair in rules or ("same" in rules and query_language == lesson_language)


def fuse(
    rankings: dict[str, Ranking],
    config: RankingConfig,
    languages: dict[int, str] | None = None,
    query_language: str | None = None,
) -> list[tuple[int, float]]:
    """Reciprocal-rank fusion, best first.

    A method that cannot judge a lesson's language pair (BM25 across languages, MiniLM on
    Dutch) would otherwise count as a vote against it; it gets the mean contribution of the
    methods that can judge it instead.
    """
    contributions: dict[int, dict[str, float]] = defaultdict(dict)
    for method, ranking in rankings.items():
        weight = config.weights.get(method, 1.0)
        for rank, (reflection_id, _score) in enumerate(ranking):
            contributions[reflection_id][method] = weight / (config.rrf_k + rank + 1)
    languages = languages or {}
    scores: dict[int, float] = {}
    for rid, parts in contributions.items():
        language = languages.get(rid)
        if language is None:
            scores[rid] = sum(parts.values())
            continue
        judging = [m for m in rankings if can_judge(m, query_language, language, config)]
        known = [parts.get(m, 0.0) for m in judging]
        mean = sum(known) / len(known) if known else 0.0
        scores[rid] = sum(known) + mean * (len(rankings) - len(judging))
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))


def adjust_for_language(
    rankings: dict[str, Ranking],
    languages: dict[int, str],
    query_language: str | None,
    config: RankingConfig,
) -> dict[str, Ranking]:
    """Raise dense scores of lessons in the other language, and re-sort each ranking."""
    if query_language is None:
        return rankings
    adjusted: dict[str, Ranking] = {}
    for method, ranking in rankings.items():
        bonus = config.cross_language_bonus.get(method, 0.0)
        if not bonus:
            adjusted[method] = ranking
            continue
        rescored = [
            (rid, score + (bonus if languages.get(rid, query_language) != query_language else 0.0))
            for rid, score in ranking
        ]
        adjusted[method] = sorted(rescored, key=lambda item: -item[1])
    return adjusted


def relevant(rankings: dict[str, Ranking], config: RankingConfig) -> set[int]:
    """Ids that count as relevant: a method whose best score passed its threshold vouches
    for every lesson it scored above its floor."""
    found: set[int] = set()
    lexical_only = all(method == LEXICAL for method in rankings)
    for method, ranking in rankings.items():
        if not ranking:
            continue
        if lexical_only:
            threshold = floor = config.lexical_only_threshold
        else:
            threshold = config.thresholds.get(method, config.other_threshold)
            floor = min(threshold, config.floors.get(method, threshold))
        best = ranking[0][1]
        if best >= threshold:
            floor = max(floor, best - config.margins.get(method, best))
            found.update(rid for rid, score in ranking if score >= floor)
    return found


def source_of(hit: Hit) -> str:
    """The key used to spread results over sources: organisation, or discipline if anonymous."""
    lesson = hit.lesson
    return f"org:{lesson.org_id}" if lesson.org_id is not None else f"anon:{lesson.discipline}"


def arrange(hits: Sequence[Hit], viewer_org_id: int, config: RankingConfig) -> list[Hit]:
    """Order hits: other organisations first, each group spread over sources."""
    others = [h for h in hits if h.lesson.org_id != viewer_org_id]
    own = [h for h in hits if h.lesson.org_id == viewer_org_id]
    return _diversify(others, config) + _diversify(own, config)


def _diversify(hits: Sequence[Hit], config: RankingConfig) -> list[Hit]:
    remaining = sorted(hits, key=lambda h: -h.score)
    seen: dict[str, int] = defaultdict(int)
    ordered: list[Hit] = []
    while remaining:
        best = max(
            remaining,
            key=lambda h: h.score * config.same_source_penalty ** seen[source_of(h)],
        )
        remaining.remove(best)
        seen[source_of(best)] += 1
        ordered.append(best)
    return ordered
