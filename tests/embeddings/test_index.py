from __future__ import annotations

import dataclasses
import json
import threading
from pathlib import Path

import numpy as np
import pytest

from embeddings.index import FORMAT_VERSION, LessonIndex, content_hash

from .conftest import LESSONS, FakeEncoder, FakeStore, Ticker


def ids(ranking: list[tuple[int, float]]) -> list[int]:
    return [i for i, _ in ranking]


# The fake lessons are all Dutch by their language field: one file, the Dutch part's.
PART = "fake.nl.faiss"


def test_add_then_rank_by_both_methods(store: FakeStore, encoder: FakeEncoder, make_index) -> None:
    index = make_index(store, encoder)
    added = [store.put(text) for text in LESSONS]
    index.add(added)
    result = index.rankings("brand tunnel ventilatie", 3)
    assert set(result) == {"bm25", "fake"}
    assert ids(result["bm25"])[0] == added[0].id
    assert ids(result["fake"])[0] == added[0].id
    assert len(result["fake"]) == 3
    scores = [s for _, s in result["fake"]]
    assert scores == sorted(scores, reverse=True)
    assert all(isinstance(i, int) for i in ids(result["fake"]))


def test_add_stores_vectors_with_hash_of_model_and_text(
    store: FakeStore, encoder: FakeEncoder, make_index
) -> None:
    reflection = store.put("Rook in de tunnel", title="Tunnelbrand")
    make_index(store, encoder).add([reflection])
    text_hash, vector = store.embeddings[(reflection.id, "fake/bow-v1")]
    assert text_hash == content_hash("fake/bow-v1", "Tunnelbrand\nRook in de tunnel")
    expected = encoder.encode_passages([reflection.search_text()])[0]
    np.testing.assert_allclose(np.frombuffer(vector, dtype=np.float32), expected)


def test_add_replaces_same_id(store: FakeStore, encoder: FakeEncoder, make_index) -> None:
    index = make_index(store, encoder)
    reflection = store.put("radio in de kelder")
    index.add([reflection])
    edited = dataclasses.replace(reflection, lesson="brand in de tunnel")
    store.reflections[reflection.id] = edited
    index.add([edited])
    assert index.stats() == {"bm25": 1, "fake": 1}
    assert ids(index.rankings("tunnel", 5)["bm25"]) == [reflection.id]
    assert index.rankings("kelder", 5)["bm25"] == []
    assert ids(index.rankings("tunnel", 5)["fake"]) == [reflection.id]


def test_add_of_draft_or_hidden_removes(store: FakeStore, encoder: FakeEncoder, make_index) -> None:
    index = make_index(store, encoder)
    reflection = store.put("brand in de tunnel")
    index.add([reflection])
    hidden = dataclasses.replace(reflection, hidden=True)
    store.reflections[reflection.id] = hidden
    index.add([hidden])
    assert index.stats() == {"bm25": 0, "fake": 0}


def test_remove(filled: FakeStore, encoder: FakeEncoder, make_index) -> None:
    index = make_index(filled, encoder)
    index.load()
    index.remove([1, 2, 999])
    result = index.rankings("brand tunnel fire", 10)
    assert 1 not in ids(result["bm25"]) and 2 not in ids(result["bm25"])
    assert 1 not in ids(result["fake"]) and 2 not in ids(result["fake"])
    assert index.stats() == {"bm25": 3, "fake": 3}


def test_rankings_empty_cases(store: FakeStore, encoder: FakeEncoder, make_index) -> None:
    index = make_index(store, encoder)
    assert index.rankings("brand", 5) == {"bm25": [], "fake": []}
    assert encoder.calls == 0  # an empty index needs no query vector
    index.add([store.put("brand in de tunnel")])
    assert index.rankings("", 5) == {"bm25": [], "fake": []}
    assert index.rankings("   ", 5) == {"bm25": [], "fake": []}
    assert index.rankings("brand", 0) == {"bm25": [], "fake": []}


def test_without_encoders_only_bm25(filled: FakeStore, make_index) -> None:
    index = make_index(filled)
    assert ids(index.rankings("repeater", 5)["bm25"]) == [3, 4]
    assert set(index.rankings("repeater", 5)) == {"bm25"}


def test_nothing_loads_in_init(filled: FakeStore, encoder: FakeEncoder, tmp_path: Path) -> None:
    LessonIndex(filled, [encoder], tmp_path)  # type: ignore[arg-type]
    assert encoder.calls == 0
    assert not (tmp_path / "index").exists()


def test_persisted_index_is_loaded_without_encoding(
    filled: FakeStore, encoder: FakeEncoder, make_index, tmp_path: Path
) -> None:
    make_index(filled, encoder).load()
    assert len(encoder.encoded) == len(LESSONS)
    meta = json.loads((tmp_path / "index" / "fake.json").read_text())
    assert meta.pop("writer").endswith(":1")  # this process's first write
    assert meta == {
        "format": FORMAT_VERSION,
        "model_id": "fake/bow-v1",
        "dim": 64,
        "synced_to": 5,  # the five lessons' change-log entries
        "parts": {"nl": {"count": 5, "kind": "flat", "trained_for": 0}},
    }
    assert sorted(p.name for p in (tmp_path / "index").glob("*.faiss")) == [PART]

    fresh = FakeEncoder()
    again = make_index(filled, fresh)
    result = again.rankings("repeater basement", 2)
    assert fresh.encoded == ["repeater basement"]  # only the query
    assert ids(result["fake"])[0] == 4


def rebuilt_by_store_only(filled: FakeStore, make_index) -> FakeEncoder:
    """Load a new index; return its encoder, to see what it had to encode."""
    fresh = FakeEncoder()
    make_index(filled, fresh).load()
    return fresh


def test_rebuild_when_file_missing(filled: FakeStore, encoder: FakeEncoder, make_index, tmp_path):
    make_index(filled, encoder).load()
    (tmp_path / "index" / PART).unlink()
    fresh = FakeEncoder()
    index = make_index(filled, fresh)
    index.load()
    # Rebuilt from the vectors in the database: nothing encoded again.
    assert fresh.calls == 0
    assert index.stats() == {"bm25": 5, "fake": 5}
    assert (tmp_path / "index" / PART).exists()


def test_rebuild_when_file_corrupt(filled: FakeStore, encoder: FakeEncoder, make_index, tmp_path):
    make_index(filled, encoder).load()
    (tmp_path / "index" / PART).write_bytes(b"\x00garbage\xff" * 50)
    index = make_index(filled, FakeEncoder())
    assert ids(index.rankings("radio basement repeater", 1)["fake"]) == [4]
    assert index.stats()["fake"] == 5


def test_rebuild_when_sidecar_corrupt(filled, encoder, make_index, tmp_path) -> None:
    make_index(filled, encoder).load()
    (tmp_path / "index" / "fake.json").write_text("{not json")
    index = make_index(filled, FakeEncoder())
    index.load()
    assert index.stats()["fake"] == 5
    assert json.loads((tmp_path / "index" / "fake.json").read_text())["parts"]["nl"]["count"] == 5


def test_rebuild_when_other_model(filled: FakeStore, encoder: FakeEncoder, make_index) -> None:
    make_index(filled, encoder).load()
    other = FakeEncoder(model_id="fake/bow-v2")
    index = make_index(filled, other)
    index.load()
    # No stored vectors of v2: everything is encoded, and stored under v2.
    assert len(other.encoded) == len(LESSONS)
    assert {m for _, m in filled.embeddings} == {"fake/bow-v1", "fake/bow-v2"}
    assert index.stats()["fake"] == 5


def test_rebuild_when_count_disagrees(filled, encoder, make_index) -> None:
    make_index(filled, encoder).load()
    late = filled.put("Waterongeval: duikers te laat gealarmeerd")  # written without the index
    filled.drop(1)
    fresh = FakeEncoder()
    index = make_index(filled, fresh)
    index.load()
    assert fresh.encoded == [late.search_text()]
    assert index.stats() == {"bm25": 5, "fake": 5}
    assert 1 not in ids(index.rankings("brand tunnel", 10)["fake"])


def test_explicit_rebuild_reports_progress(filled, encoder, make_index) -> None:
    index = make_index(filled, encoder, FakeEncoder(name="other", model_id="other/v1"))
    seen: list[tuple[int, int]] = []
    assert index.rebuild(lambda done, total: seen.append((done, total))) == 5
    assert seen[-1] == (10, 10)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert index.stats() == {"bm25": 5, "fake": 5, "other": 5}


def test_rebuild_of_empty_store(store: FakeStore, encoder: FakeEncoder, make_index, tmp_path):
    seen: list[tuple[int, int]] = []
    assert make_index(store, encoder).rebuild(lambda d, t: seen.append((d, t))) == 0
    assert seen == [(0, 0)]
    assert json.loads((tmp_path / "index" / "fake.json").read_text())["parts"] == {}
    assert not list((tmp_path / "index").glob("*.faiss"))


def test_stored_vectors_reused_by_content_hash(
    store: FakeStore, encoder: FakeEncoder, make_index
) -> None:
    index = make_index(store, encoder)
    first = store.put("Afzetting te krap bij de brand")
    index.add([first])
    assert len(encoder.encoded) == 1
    # Same text in another reflection: found by hash, not encoded, but stored for it too.
    twin = store.put("Afzetting te krap bij de brand")
    index.add([twin])
    assert len(encoder.encoded) == 1
    assert store.embeddings[(twin.id, "fake/bow-v1")] == store.embeddings[(first.id, "fake/bow-v1")]
    # Unchanged text added again: nothing encoded; a changed text: encoded once.
    index.add([first])
    assert len(encoder.encoded) == 1
    index.add([dataclasses.replace(first, improve="meer ruimte")])
    assert len(encoder.encoded) == 2


def test_batches_long_lists(store: FakeStore, encoder: FakeEncoder, tmp_path: Path) -> None:
    index = LessonIndex(store, [encoder], tmp_path, batch_size=4)  # type: ignore[arg-type]
    index.load()
    index.add([store.put(f"les nummer {i}") for i in range(10)])
    assert encoder.calls == 3
    assert index.stats()["fake"] == 10


def test_refresh_picks_up_other_process(filled: FakeStore, encoder, make_index) -> None:
    index = make_index(filled, encoder)
    index.load()
    other = make_index(filled, FakeEncoder())
    other.load()
    new = filled.put("Nieuwe les over de repeater in de parkeergarage")
    other.add([new])
    saved = filled.saved
    assert index.refresh() == 1
    assert encoder.encoded[-1] != new.search_text()  # reused the stored vector
    assert filled.saved == saved  # and wrote nothing back
    assert new.id in ids(index.rankings("parkeergarage", 5)["bm25"])

    filled.drop(2)
    assert index.refresh() == 1
    assert 2 not in ids(index.rankings("tunnel fire", 10)["fake"])
    assert index.refresh() == 0


def test_different_dimension_from_encoder_is_an_error(store, make_index) -> None:
    index = make_index(store, FakeEncoder(dim=64))
    index.add([store.put("brand")])
    index._dense["fake"].encoder = FakeEncoder(dim=32)  # a broken deployment
    with pytest.raises(ValueError, match="32-d"):
        index.add([store.put("water")])


def test_rebuild_when_file_truncated(filled, encoder, make_index, tmp_path) -> None:
    make_index(filled, encoder).load()
    path = tmp_path / "index" / PART
    path.write_bytes(path.read_bytes()[:100])
    index = make_index(filled, FakeEncoder())
    index.load()
    assert index.stats()["fake"] == 5


def test_threads_share_one_index(store: FakeStore, encoder: FakeEncoder, make_index) -> None:
    index = make_index(store, encoder)
    batches = [[store.put(f"les {t} nummer {i} over brand") for i in range(10)] for t in range(4)]

    def work(batch: list) -> None:
        for reflection in batch:
            index.add([reflection])
            index.rankings("brand", 3)

    threads = [threading.Thread(target=work, args=(batch,)) for batch in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert index.stats() == {"bm25": 40, "fake": 40}
    again = make_index(store, FakeEncoder())
    again.load()
    assert again.stats() == {"bm25": 40, "fake": 40}  # from the files and the change log


def test_files_are_written_at_most_every_persist_interval(
    filled: FakeStore, encoder: FakeEncoder, tmp_path: Path
) -> None:
    clock = Ticker()
    index = LessonIndex(filled, [encoder], tmp_path, persist_interval=60, monotonic=clock)  # type: ignore[arg-type]
    index.load()
    sidecar = tmp_path / "index" / "fake.json"
    written = sidecar.read_text()
    new = filled.put("Rookmelders in de kelder gaven vals alarm")
    index.add([new])
    assert ids(index.rankings("rookmelders kelder", 1)["fake"]) == [new.id]  # searchable at once
    assert sidecar.read_text() == written  # but not written yet
    clock.now += 61
    index.add([filled.put("Nog een les over de kelder")])
    meta = json.loads(sidecar.read_text())
    assert meta["parts"]["nl"]["count"] == 7 and meta["synced_to"] >= 5
    filled.drop(new.id)
    index.remove([new.id])
    assert json.loads(sidecar.read_text())["parts"]["nl"]["count"] == 7
    index.flush()
    assert json.loads(sidecar.read_text())["parts"]["nl"]["count"] == 6


def test_a_file_that_missed_changes_is_brought_up_to_date_from_the_change_log(
    filled: FakeStore, encoder: FakeEncoder, tmp_path: Path
) -> None:
    clock = Ticker()
    first = LessonIndex(filled, [encoder], tmp_path, persist_interval=60, monotonic=clock)  # type: ignore[arg-type]
    first.load()
    # Changes the file never saw (the process was killed before it wrote them):
    added = filled.put("Hoogwater: zandzakken te laat bij de dijk")
    first.add([added])
    edited = filled.change(2, lesson="Overstroming van de camping in de uiterwaarden")
    first.add([edited])
    filled.drop(1)
    first.remove([1])
    moved = filled.change(3, language="en")  # now in the English part
    first.add([moved])

    fresh = FakeEncoder()
    again = LessonIndex(filled, [fresh], tmp_path)  # type: ignore[arg-type]
    again.load()
    assert fresh.encoded == []  # every vector came from the database, none encoded
    assert again.stats() == {"bm25": 5, "fake": 5}
    # (a dense ranking holds the best of each language: here one Dutch, one English)
    assert ids(again.rankings("camping uiterwaarden overstroming", 1)["fake"])[0] == 2
    assert ids(again.rankings("zandzakken dijk hoogwater", 1)["fake"])[0] == added.id
    assert 1 not in ids(again.rankings("brand tunnel ventilatie", 10)["fake"])
    dense = again._dense["fake"]
    assert dense.code_of(3) != dense.code_of(4)  # lesson 3 moved to the English file
    files = sorted(p.name for p in (tmp_path / "index").glob("*.faiss"))
    assert files == ["fake.en.faiss", PART]  # and the patched state was written


def test_a_file_older_than_the_change_log_is_rebuilt(
    filled: FakeStore, encoder: FakeEncoder, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    LessonIndex(filled, [encoder], tmp_path).load()  # type: ignore[arg-type]
    filled.change(2, lesson="Overstroming van de camping in de uiterwaarden")
    filled.changes[:6] = [None] * 6  # pruned, entry 5 (the file's marker) among them
    fresh = FakeEncoder()
    again = LessonIndex(filled, [fresh], tmp_path)  # type: ignore[arg-type]
    with caplog.at_level("WARNING", logger="embeddings.index"):
        again.load()
    assert any("change log" in r.getMessage() for r in caplog.records)
    assert fresh.encoded == [filled.reflections[2].search_text()]  # the edited text only
    assert ids(again.rankings("camping uiterwaarden overstroming", 1)["fake"])[0] == 2


def test_a_file_that_missed_too_much_is_rebuilt(
    store: FakeStore, encoder: FakeEncoder, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    LessonIndex(store, [encoder], tmp_path).load()  # type: ignore[arg-type]
    for n in range(1200):  # more than PATCH_LIMIT, written without the index
        store.put(f"les {n} over de brandweer")
    again = LessonIndex(store, [encoder], tmp_path)  # type: ignore[arg-type]
    with caplog.at_level("WARNING", logger="embeddings.index"):
        again.load()
    assert any("1200 of 1200 lessons changed" in r.getMessage() for r in caplog.records)
    assert again.stats() == {"bm25": 1200, "fake": 1200}


class EnglishOnly(FakeEncoder):
    """Reads English only, like MiniLM: a Dutch question reaches it translated too."""

    languages = ("en",)

    def __init__(self) -> None:
        super().__init__(name="english", model_id="english/v1")
        self.threads: set[str] = set()

    def encode_queries(self, texts):  # type: ignore[no-untyped-def]
        self.threads.add(threading.current_thread().name)
        return super().encode_queries(texts)


def test_each_encoder_reads_its_question_texts_in_one_call_and_remembers_them(
    filled: FakeStore, encoder: FakeEncoder, tmp_path: Path
) -> None:
    english = EnglishOnly()
    index = LessonIndex(filled, [encoder, english], tmp_path)  # type: ignore[list-item]
    index.load()
    encoder.encoded.clear(), english.encoded.clear()
    calls = encoder.calls, english.calls
    first = index.rankings("brand in de tunnel", 3)
    # The Dutch question and its glossary translation, one call for the English reader.
    assert encoder.encoded == ["brand in de tunnel"]
    assert english.encoded[0] == "brand in de tunnel" and len(english.encoded) == 2
    assert "fire" in english.encoded[1]
    assert (encoder.calls, english.calls) == (calls[0] + 1, calls[1] + 1)
    assert {"fake", "english", "english~"} <= first.keys()
    # Two encoders: each in a worker thread of the index, side by side.
    assert all(name.startswith("leerlus-query") for name in english.threads)
    # Asked again (a "more" page): nothing is encoded, the answer is the same.
    again = index.rankings("brand in de tunnel", 3)
    assert (encoder.calls, english.calls) == (calls[0] + 1, calls[1] + 1)
    assert again == first


def test_another_process_writing_between_makes_the_next_write_whole(
    filled: FakeStore, encoder: FakeEncoder, tmp_path: Path
) -> None:
    """Two processes on one data directory: each write leaves files that hold one view."""
    first = LessonIndex(filled, [encoder], tmp_path, persist_interval=0)  # type: ignore[arg-type]
    second = LessonIndex(filled, [FakeEncoder()], tmp_path, persist_interval=0)  # type: ignore[arg-type]
    first.load(), second.load()
    first.add([filled.change(2, lesson="Overstroming van de camping in de uiterwaarden")])
    first.refresh()  # its marker moves past the edit
    # The second never refreshed: it writes the Dutch file without that edit.
    second.add([filled.change(3, lesson="Zandzakken bij de dijk kwamen te laat")])
    # The first changes only the English part: it must not leave the second's Dutch file
    # under a sidecar that claims the edit of lesson 2.
    first.add([filled.put("Radio repeaters on the hill were out", language="en")])
    fresh = LessonIndex(filled, [FakeEncoder()], tmp_path)  # type: ignore[arg-type]
    fresh.load()
    assert ids(fresh.rankings("camping uiterwaarden overstroming", 1)["fake"])[0] == 2
    assert ids(fresh.rankings("zandzakken dijk", 1)["fake"])[0] == 3
    assert fresh.stats() == {"bm25": 6, "fake": 6}


def test_an_id_in_two_files_is_taken_out_of_both_and_redone(
    filled: FakeStore, encoder: FakeEncoder, tmp_path: Path
) -> None:
    index = LessonIndex(filled, [encoder], tmp_path, persist_interval=0)  # type: ignore[arg-type]
    index.load()
    english = tmp_path / "index" / "fake.en.faiss"
    index.add([filled.change(3, language="en")])  # lesson 3 moves to the English file
    saved_english, sidecar = english.read_bytes(), (tmp_path / "index" / "fake.json").read_text()
    index.add([filled.change(3, language="nl")])  # and back
    # A crash after the Dutch file was written, before the English one and the sidecar:
    english.write_bytes(saved_english)
    (tmp_path / "index" / "fake.json").write_text(sidecar)
    filled.drop(3)
    again = LessonIndex(filled, [FakeEncoder()], tmp_path)  # type: ignore[arg-type]
    again.load()
    assert again.stats() == {"bm25": 4, "fake": 4}
    assert 3 not in ids(again.rankings("portofoons bereik kelder repeater", 10)["fake"])


def test_a_file_written_on_exit_after_an_import_needs_no_catch_up(
    store: FakeStore, encoder: FakeEncoder, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    index = LessonIndex(store, [encoder], tmp_path)  # type: ignore[arg-type]
    index.load()
    index.add([store.put(f"les {n} over de brandweer") for n in range(1200)])
    index.flush()  # as `leerlus import` does on exit
    again = LessonIndex(store, [FakeEncoder()], tmp_path)  # type: ignore[arg-type]
    with caplog.at_level("INFO", logger="embeddings.index"):
        again.load()
    assert not [
        r for r in caplog.records if "changed" in r.getMessage() or "rebuild" in r.getMessage()
    ]
    assert again.stats() == {"bm25": 1200, "fake": 1200}


def test_a_malformed_sidecar_means_a_rebuild(
    filled: FakeStore, encoder: FakeEncoder, tmp_path: Path
) -> None:
    LessonIndex(filled, [encoder], tmp_path).load()  # type: ignore[arg-type]
    sidecar = tmp_path / "index" / "fake.json"
    meta = json.loads(sidecar.read_text())
    sidecar.write_text(json.dumps({**meta, "synced_to": None, "parts": ["nl"]}))
    again = LessonIndex(filled, [FakeEncoder()], tmp_path)  # type: ignore[arg-type]
    again.load()
    assert again.stats() == {"bm25": 5, "fake": 5}
