"""The faiss index type follows the number of lessons (exact, then IVF), at small sizes.

The thresholds are parameters (IndexPolicy), so a few hundred lessons stand in for the
hundreds of thousands where the product switches; bench/run.py measures the real sizes.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import bm25s
import numpy as np
import pytest

from embeddings.index import FLAT, IVF, IndexPolicy, LessonIndex, _Dense, _Encoded, language_code
from embeddings.lexical import Bm25Ranking, tokenize

from .conftest import FakeEncoder, FakeStore

# Small lists so that a few hundred vectors make a real IVF index.
SMALL = IndexPolicy(exact_limit=40, nprobe=4, list_factor=0.5, min_lists=4, train_per_list=10)

TOPICS = (
    "brand tunnel ventilatie rook",
    "portofoon bereik kelder repeater",
    "nazorg vrijwilligers oefening debriefing",
    "evacuatie ziekenhuis patienten bedden",
    "overstroming dijk pompen zandzakken",
    "gaslek woonwijk afsluiten ontruimen",
    "verkeersongeval snelweg afzetting file",
    "stroomstoring noodaggregaat communicatie",
)


def lesson_text(n: int) -> str:
    """Lessons on a few topics, each with its own words too (so no two are the same)."""
    return f"{TOPICS[n % len(TOPICS)]} les{n} punt{n % 13} stap{n % 7}"


def fill(store: FakeStore, count: int) -> None:
    for n in range(count):
        store.put(lesson_text(n))


def ids(ranking: list[tuple[int, float]]) -> list[int]:
    return [i for i, _ in ranking]


def dutch_part(tmp_path: Path) -> dict[str, object]:
    """The sidecar's entry for the Dutch file (the fake lessons are all Dutch)."""
    meta = json.loads((tmp_path / "index" / "fake.json").read_text())
    assert set(meta["parts"]) == {"nl"}
    part: dict[str, object] = meta["parts"]["nl"]
    return part


def clustered(count: int, dim: int, seed: int) -> np.ndarray:
    """Unit vectors around 20 centres, like embeddings of lessons on a few subjects."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(20, dim))
    vectors = centres[rng.integers(0, 20, count)] + rng.normal(scale=0.6, size=(count, dim))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors.astype(np.float32)


def test_policy_chooses_exact_up_to_the_limit_then_ivf() -> None:
    policy = IndexPolicy(exact_limit=1000)
    assert policy.kind_for(0) == FLAT
    assert policy.kind_for(1000) == FLAT
    assert policy.kind_for(1001) == IVF
    # Back to exact only well below the limit, so a count around it does not flip-flop.
    assert policy.kind_for(600, IVF) == IVF
    assert policy.kind_for(499, IVF) == FLAT
    # About 4 sqrt(n) lists, a power of two.
    assert IndexPolicy().nlist(100_000) == 1024
    assert IndexPolicy().nlist(1_000_000) == 4096
    assert IndexPolicy().nlist(10) == 16
    assert IndexPolicy().probes(1024) == 192
    assert IndexPolicy().probes(4096) == 192  # at most max_probes
    assert IndexPolicy(max_probes=1000).probes(4096) == 384
    assert IndexPolicy().probes(16) == 16 and IndexPolicy(nprobe=60).probes(64) == 60
    assert IndexPolicy(nprobe=4).probes(2) == 2  # at most all


def test_default_policy_is_exact_for_a_network_and_ivf_for_a_million() -> None:
    policy = IndexPolicy()
    assert policy.kind_for(10_000) == FLAT
    assert policy.kind_for(1_000_000) == IVF


def test_ivf_finds_what_exact_search_finds() -> None:
    vectors = clustered(3000, 32, seed=1)
    keys = np.arange(100, 3100, dtype=np.int64)
    dense = _Dense(FakeEncoder(dim=32), "fake/bow-v1", policy=IndexPolicy(exact_limit=500))
    dense.build(keys, vectors)
    assert dense.kind == IVF
    assert dense.index.nlist == 256  # 4 sqrt(3000) ~ 219
    queries = clustered(50, 32, seed=2)
    recalls = []
    for query in queries:
        exact = keys[np.argsort(-(vectors @ query))[:10]]
        found = ids(dense.search(query[None, :], 10))
        recalls.append(len(set(found) & set(exact.tolist())) / 10)
    assert np.mean(recalls) >= 0.95


def test_lessons_over_the_limit_get_an_ivf_index(
    store: FakeStore, encoder: FakeEncoder, tmp_path: Path
) -> None:
    fill(store, 200)
    index = LessonIndex(store, [encoder], tmp_path, policy=SMALL)  # type: ignore[arg-type]
    index.load()
    assert dutch_part(tmp_path) == {"kind": IVF, "count": 200, "trained_for": 200}
    exact = LessonIndex(store, [FakeEncoder()], tmp_path / "exact")  # type: ignore[arg-type]
    for n in (3, 50, 101):
        query = lesson_text(n)
        assert (
            ids(index.rankings(query, 5)["fake"])[:1] == ids(exact.rankings(query, 5)["fake"])[:1]
        )


def test_ivf_add_remove_and_persistence_round_trip(
    store: FakeStore, encoder: FakeEncoder, tmp_path: Path
) -> None:
    fill(store, 200)
    index = LessonIndex(store, [encoder], tmp_path, policy=SMALL)  # type: ignore[arg-type]
    index.load()
    new = store.put("kettingbotsing mist viaduct gladheid")
    index.add([new])
    assert ids(index.rankings("kettingbotsing mist viaduct gladheid", 1)["fake"]) == [new.id]
    gone = [1, 2, 3]
    for i in gone:
        store.drop(i)
    index.remove(gone)
    assert index.stats() == {"bm25": 198, "fake": 198}
    found = ids(index.rankings(lesson_text(1), 200)["fake"])
    assert not set(found) & set(gone)

    encoded = len(encoder.encoded)
    again_encoder = FakeEncoder()
    again = LessonIndex(store, [again_encoder], tmp_path, policy=SMALL)  # type: ignore[arg-type]
    again.load()
    assert again_encoder.encoded == []  # read from the file, nothing encoded again
    assert len(encoder.encoded) == encoded
    assert again._dense["fake"].kind == IVF
    assert again._dense["fake"].ids() == index._dense["fake"].ids()
    assert ids(again.rankings("kettingbotsing mist viaduct gladheid", 1)["fake"]) == [new.id]
    # A replaced lesson keeps one entry, with the new vector.
    edited = store.change(new.id, lesson="hoogwater uiterwaarden camping")
    again.add([edited])
    assert again.stats()["fake"] == 198
    assert ids(again.rankings("hoogwater uiterwaarden camping", 1)["fake"]) == [new.id]


@pytest.mark.parametrize(
    ("saved_with", "opened_with", "kind"), [(None, SMALL, IVF), (SMALL, None, FLAT)]
)
def test_a_file_of_the_wrong_type_for_the_size_is_rebuilt(
    store: FakeStore,
    encoder: FakeEncoder,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    saved_with: IndexPolicy | None,
    opened_with: IndexPolicy | None,
    kind: str,
) -> None:
    fill(store, 200)
    LessonIndex(store, [encoder], tmp_path, policy=saved_with).load()  # type: ignore[arg-type]
    again_encoder = FakeEncoder()
    again = LessonIndex(store, [again_encoder], tmp_path, policy=opened_with)  # type: ignore[arg-type]
    with caplog.at_level(logging.WARNING, logger="embeddings.index"):
        again.load()
    assert any("rebuilding the fake index" in r.getMessage() for r in caplog.records)
    assert again._dense["fake"].kind == kind
    assert again_encoder.encoded == []  # rebuilt from the stored vectors
    assert dutch_part(tmp_path)["kind"] == kind
    assert again.stats() == {"bm25": 200, "fake": 200}


def test_growing_past_the_limit_migrates_and_shrinking_goes_back(
    store: FakeStore, encoder: FakeEncoder, tmp_path: Path
) -> None:
    fill(store, 40)
    index = LessonIndex(store, [encoder], tmp_path, policy=SMALL, batch_size=64)  # type: ignore[arg-type]
    index.load()
    dense = index._dense["fake"].parts[language_code("nl")]
    assert dense.kind == FLAT
    before = dense.ids()
    extra = store.put("kettingbotsing mist viaduct gladheid")
    index.add([extra])
    assert dense.kind == IVF and dense.trained_for == 41
    assert dense.ids() == before | {extra.id}
    assert ids(index.rankings("kettingbotsing mist viaduct gladheid", 1)["fake"]) == [extra.id]
    # Grown to more than `regrow` times what it was trained for: trained again.
    more = [store.put(lesson_text(n)) for n in range(100, 230)]
    index.add(more)
    # (added in batches of 64: trained again after the batch that passed 4 x 41)
    assert dense.kind == IVF and dense.trained_for == 41 + 64 + 64
    # Shrunk below half the limit: exact again.
    gone = sorted(dense.ids())[:160]
    for i in gone:
        store.drop(i)
    index.remove(gone)
    assert dense.kind == FLAT and dense.count == 11
    index.flush()
    assert dutch_part(tmp_path)["kind"] == FLAT


WORDS = [
    "brand",
    "tunnel",
    "rook",
    "ventilatie",
    "portofoon",
    "kelder",
    "repeater",
    "nazorg",
    "oefening",
    "evacuatie",
    "ziekenhuis",
    "dijk",
    "pompen",
    "gaslek",
    "ontruimen",
    "snelweg",
    "afzetting",
    "stroomstoring",
    "aggregaat",
    "communicatie",
    "commandant",
    "melding",
    "uitruk",
    "ploeg",
    "water",
    "schuim",
    "ladder",
]


@pytest.mark.parametrize("merge_at", [3, 50, 10**9])
def test_incremental_bm25_scores_like_bm25s(merge_at: int) -> None:
    """Adds in batches, replacements and removals, merged or not: bm25s's scores exactly."""
    rng = np.random.default_rng(merge_at % 97)
    texts = {i: " ".join(rng.choice(WORDS, size=int(rng.integers(0, 12)))) for i in range(1, 301)}
    bm25 = Bm25Ranking(merge_at=merge_at)
    items = sorted(texts.items())
    for start in range(0, len(items), 40):
        bm25.add((i, text, None) for i, text in items[start : start + 40])
    bm25.remove(range(1, 60, 3))
    texts = {i: t for i, t in texts.items() if not (i < 60 and (i - 1) % 3 == 0)}
    for i in (61, 62, 500):
        texts[i] = "brand brand tunnel ladder"
    texts[500] += " zeldzaam"  # a rare word: few postings are summed another way than many
    bm25.add((i, texts[i], None) for i in (61, 62, 500))
    assert len(bm25) == len(texts)

    living = sorted(texts)
    reference = bm25s.BM25(k1=1.2, b=0.75)
    reference.index([tokenize(texts[i]) for i in living], show_progress=False)
    queries = ("brand tunnel", "ladder water schuim", "rook", "ploeg ploeg melding", "zeldzaam")
    for query in queries:
        terms = [t for t in tokenize(query) if t in reference.vocab_dict]
        scores = np.asarray(reference.get_scores(terms), dtype=np.float64)
        top = [n for n in np.argsort(-scores, kind="stable")[:10] if scores[n] > 0]
        got = bm25.search(query, 10, "xx")  # a language without a stemmer: words as written
        np.testing.assert_allclose([s for _, s in got], scores[top], rtol=1e-5)
        assert {living[n] for n in top if scores[n] > scores[top[-1]]} <= {i for i, _ in got}


def test_a_question_of_unknown_language_meets_stemmed_lessons() -> None:
    bm25 = Bm25Ranking()
    bm25.add([(1, "Oefenen met ontruimingen in de parkeergarage", "nl"), (2, "brand", "nl")])
    # One word: no language detected; the Dutch stem ("parkeergarag") still matches.
    assert [i for i, _ in bm25.search("parkeergarage", 5, None)] == [1]


def test_each_language_has_its_own_index_and_finds_what_exact_search_finds() -> None:
    """A minority language lives in clusters of its own: its own index keeps IVF cheap."""
    vectors = clustered(3000, 32, seed=3)
    vectors[:600] = clustered(600, 32, seed=4)  # "Dutch": other clusters than the rest
    keys = np.arange(1, 3001, dtype=np.int64)
    codes = np.asarray([language_code("nl" if k <= 600 else "en") for k in keys], np.int8)
    dense = _Encoded(FakeEncoder(dim=32), "fake/bow-v1", IndexPolicy(exact_limit=500))
    dense.build(keys, vectors, codes)
    nl, en = language_code("nl"), language_code("en")
    assert dense.codes() == [nl, en]
    assert dense.parts[nl].kind == IVF and dense.parts[en].kind == IVF
    assert dense.parts[nl].count == 600 and dense.parts[en].count == 2400
    for code, rows in ((nl, slice(0, 600)), (en, slice(600, 3000))):
        recalls = []
        for query in clustered(20, 32, seed=5):  # questions near the majority's clusters
            exact = keys[rows][np.argsort(-(vectors[rows] @ query))[:10]]
            found = ids(dense.search_part(query[None, :], 10, code))
            assert set(found) <= set(keys[rows].tolist())
            recalls.append(len(set(found) & set(exact.tolist())) / 10)
        assert np.mean(recalls) >= 0.95, code
    # An edit that changes a lesson's language moves it to the other index.
    dense.replace([5], vectors[5:6], [en])
    assert dense.code_of(5) == en and 5 not in dense.parts[nl].ids()
    assert dense.parts[en].count == 2401 and dense.count == 3000
    dense.remove([5, 2999])
    assert dense.code_of(5) == 0 and dense.count == 2998
