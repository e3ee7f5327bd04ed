"""Ranking: fuse the index's rankings, keep only relevant lessons, prefer other organisations.

Pure functions over ids and scores, so they are tested without any model.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from bot.models import Hit
from bot.ports import Ranking


def _default_weights() -> dict[str, float]:
    return {"bm25": 1.0, "e5": 1.0, "minilm": 1.0}


def _default_thresholds() -> dict[str, float]:
    # A lesson is "relevant enough" when one method scores it at least this high.
    # Calibrated on the demo network and a slice of the real records (see bench/).
    return {"e5": 0.83, "minilm": 0.42, "bm25": 6.0}


@dataclass(frozen=True)
class RankingConfig:
    candidates: int = 200
    rrf_k: int = 60
    page_size: int = 3
    weights: dict[str, float] = field(default_factory=_default_weights)
    thresholds: dict[str, float] = field(default_factory=_default_thresholds)
    other_threshold: float = 0.5  # for encoders without a calibrated threshold
    same_source_penalty: float = 0.8


def fuse(rankings: dict[str, Ranking], config: RankingConfig) -> list[tuple[int, float]]:
    """Reciprocal-rank fusion of several rankings, best first."""
    scores: dict[int, float] = defaultdict(float)
    for method, ranking in rankings.items():
        weight = config.weights.get(method, 1.0)
        for rank, (reflection_id, _score) in enumerate(ranking):
            scores[reflection_id] += weight / (config.rrf_k + rank + 1)
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))


def relevant(rankings: dict[str, Ranking], config: RankingConfig) -> set[int]:
    """Ids that at least one method scored above its relevance threshold."""
    found: set[int] = set()
    for method, ranking in rankings.items():
        threshold = config.thresholds.get(method, config.other_threshold)
        found.update(rid for rid, score in ranking if score >= threshold)
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
