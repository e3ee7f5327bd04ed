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
    # Multilingual e5 scores a lesson in the other language 0.05-0.08 lower than the same
    # content in the question's language (measured on the demo network); this evens it out.
    cross_language_bonus: dict[str, float] = field(default_factory=lambda: {"e5": 0.06})
    same_source_penalty: float = 0.8


def fuse(rankings: dict[str, Ranking], config: RankingConfig) -> list[tuple[int, float]]:
    """Reciprocal-rank fusion of several rankings, best first."""
    scores: dict[int, float] = defaultdict(float)
    for method, ranking in rankings.items():
        weight = config.weights.get(method, 1.0)
        for rank, (reflection_id, _score) in enumerate(ranking):
            scores[reflection_id] += weight / (config.rrf_k + rank + 1)
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
        if ranking[0][1] >= threshold:
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
