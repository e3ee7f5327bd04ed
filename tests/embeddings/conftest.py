"""Hand-written doubles for the index: a bag-of-words encoder and the store's index methods."""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from bot.models import Reflection, Visibility
from embeddings.index import LessonIndex

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


class FakeEncoder:
    """Hashes words into buckets: texts sharing words get similar vectors. Counts its work."""

    def __init__(self, name: str = "fake", model_id: str = "fake/bow-v1", dim: int = 64) -> None:
        self.name = name
        self.model_id = model_id
        self.dim = dim
        self.calls = 0
        self.encoded: list[str] = []

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        self.encoded.extend(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                out[row, zlib.crc32(word.encode()) % self.dim] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return np.divide(out, norms, out=out, where=norms > 0)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts)

    def encode_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts)


class Ticker:
    """A monotonic clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeStore:
    """Only what LessonIndex needs of `bot.ports.Store`, in memory."""

    def __init__(self) -> None:
        self.reflections: dict[int, Reflection] = {}
        # (reflection id, model) -> (content hash, vector bytes)
        self.embeddings: dict[tuple[int, str], tuple[str, bytes]] = {}
        self.saved = 0
        self.transactions = 0
        self._next_id = 1
        # The index change log: entry id (position + 1) -> reflection id; None = rolled back.
        self.changes: list[int | None] = []

    def put(self, lesson: str, *, title: str | None = None, **fields: object) -> Reflection:
        """Store a finished reflection and return it (test helper, not a port method)."""
        values: dict[str, object] = {
            "id": self._next_id,
            "member_id": 1,
            "org_id": 1,
            "went_well": "",
            "improve": "",
            "lesson": lesson,
            "visibility": Visibility.NETWERK,
            "created_at": T0,
            "updated_at": T0,
            "title": title,
        }
        values.update(fields)
        reflection = Reflection(**values)  # type: ignore[arg-type]
        self.reflections[reflection.id] = reflection
        self._next_id = max(self._next_id, reflection.id) + 1
        self.changes.append(reflection.id)
        return reflection

    def change(self, reflection_id: int, **fields: object) -> Reflection:
        """Edit, hide or un-hide a reflection, as another process would (test helper)."""
        changed = replace(self.reflections[reflection_id], **fields)  # type: ignore[arg-type]
        self.reflections[reflection_id] = changed
        self.changes.append(reflection_id)
        return changed

    def drop(self, reflection_id: int) -> None:
        """Delete a reflection and its embeddings (test helper)."""
        del self.reflections[reflection_id]
        for key in [k for k in self.embeddings if k[0] == reflection_id]:
            del self.embeddings[key]
        self.changes.append(reflection_id)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self.transactions += 1
        yield

    def _searchable(self) -> list[Reflection]:
        return [r for _, r in sorted(self.reflections.items()) if not r.draft and not r.hidden]

    def searchable_reflections(self, after_id: int = 0, limit: int = 500) -> list[Reflection]:
        return [r for r in self._searchable() if r.id > after_id][:limit]

    def count_searchable(self) -> int:
        return len(self._searchable())

    def reflections_by_id(self, reflection_ids: Sequence[int]) -> dict[int, Reflection]:
        return {i: self.reflections[i] for i in reflection_ids if i in self.reflections}

    def last_index_change(self) -> int:
        return len(self.changes)

    def index_changes(
        self, after: int, also: Sequence[int] = (), limit: int = 1000
    ) -> list[tuple[int, int]]:
        entries = [(n, r) for n, r in enumerate(self.changes, 1) if r is not None]
        newer = [e for e in entries if e[0] > after][:limit]
        return sorted({*newer, *(e for e in entries if e[0] in set(also))})

    def embeddings_by_hash(self, model: str, content_hashes: Sequence[str]) -> dict[str, bytes]:
        wanted = set(content_hashes)
        return {h: v for (_, m), (h, v) in self.embeddings.items() if m == model and h in wanted}

    def save_embedding(
        self, reflection_id: int, model: str, content_hash: str, vector: bytes
    ) -> None:
        self.saved += 1
        self.embeddings[(reflection_id, model)] = (content_hash, vector)

    def iter_embeddings(self, model: str, batch: int = 1000) -> Iterator[tuple[int, bytes]]:
        ids = {r.id for r in self._searchable()}
        for (rid, m), (_, vector) in sorted(self.embeddings.items()):
            if m == model and rid in ids:
                yield rid, vector


LESSONS = (
    "Bij een brand in de tunnel eerst de ventilatie omzetten en de rookrichting bepalen",
    "Fire in a road tunnel: close both tubes and evacuate people upwind of the smoke",
    "De portofoons hadden geen bereik in de kelder; neem een repeater mee",
    "Radio coverage failed in the basement, bring a repeater next time",
    "Na de oefening was er te weinig nazorg voor de vrijwilligers",
)


@pytest.fixture
def store() -> FakeStore:
    return FakeStore()


@pytest.fixture
def encoder() -> FakeEncoder:
    return FakeEncoder()


@pytest.fixture
def filled(store: FakeStore) -> FakeStore:
    for text in LESSONS:
        store.put(text)
    return store


@pytest.fixture
def make_index(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Return a factory for indexes over the same data directory."""

    def make(store: FakeStore, *encoders: FakeEncoder) -> LessonIndex:
        return LessonIndex(store, list(encoders), tmp_path)  # type: ignore[arg-type]

    return make
