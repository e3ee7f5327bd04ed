"""The lesson index: BM25 plus one faiss index per encoder, kept in step with the store.

The database is the source of truth: every lesson's vector is stored there with the
model that made it. The faiss files under `data_dir/index/` are a cache of those
vectors; each is rebuilt by itself when it is missing, unreadable, made by another
model, or holds other lessons than the store says are searchable. BM25 lives in
memory only and is rebuilt from the lesson texts on load.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import numpy.typing as npt

from bot.models import Reflection
from bot.ports import Encoder, ProgressFn, Ranking, Store
from embeddings.lexical import Bm25Ranking

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
BM25 = "bm25"
PAGE = 500  # reflections per store query
NO_FILE = "no index file"

FloatMatrix = npt.NDArray[np.float32]


def model_id_of(encoder: Encoder) -> str:
    """Return the identity stored with an encoder's vectors (falls back to its name)."""
    return str(getattr(encoder, "model_id", encoder.name))


def content_hash(model_id: str, text: str) -> str:
    """Return the key under which a model's vector of `text` is stored."""
    return hashlib.sha256(f"{model_id}\n{text}".encode()).hexdigest()


def _searchable(reflection: Reflection) -> bool:
    return not reflection.draft and not reflection.hidden


@dataclass
class _Dense:
    """One encoder's faiss index; `index` is None until its dimension is known."""

    encoder: Encoder
    model_id: str
    index: Any = None

    @property
    def count(self) -> int:
        return 0 if self.index is None else int(self.index.ntotal)

    def ids(self) -> set[int]:
        if self.index is None:
            return set()
        return {int(i) for i in faiss.vector_to_array(self.index.id_map)}

    def replace(self, ids: Sequence[int], vectors: FloatMatrix) -> None:
        if self.index is None:
            self.index = faiss.IndexIDMap2(faiss.IndexFlatIP(vectors.shape[1]))
        keys = np.asarray(ids, dtype=np.int64)
        self.index.remove_ids(keys)
        self.index.add_with_ids(vectors, keys)

    def remove(self, ids: Sequence[int]) -> int:
        if self.index is None or not ids:
            return 0
        return int(self.index.remove_ids(np.asarray(ids, dtype=np.int64)))

    def search(self, query: FloatMatrix, k: int) -> Ranking:
        if self.count == 0:
            return []
        scores, ids = self.index.search(query, min(k, self.count))
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]


class LessonIndex:
    """Implements `bot.ports.SearchIndex` over the store's lessons.

    Nothing is loaded in `__init__`: the first call (or `load()`) reads the faiss files
    and the lesson texts, and the encoders load their models on first encode. One lock
    serialises changes and searches, so one process may share an instance between
    threads; several processes each keep their own and call `refresh()`.
    """

    def __init__(
        self, store: Store, encoders: Sequence[Encoder], data_dir: Path, *, batch_size: int = 64
    ) -> None:
        self._store = store
        self._encoders = list(encoders)
        self._dir = Path(data_dir) / "index"
        self._batch_size = batch_size
        self._lock = threading.RLock()
        self._dense = {e.name: _Dense(e, model_id_of(e)) for e in self._encoders}
        self._bm25 = Bm25Ranking()
        self._loaded = False
        self._max_id = 0

    @property
    def methods(self) -> list[str]:
        """Return the ranking keys: "bm25" and one per encoder."""
        return [BM25, *self._dense]

    def stats(self) -> dict[str, int]:
        """Return the number of lessons per method (for health checks)."""
        with self._lock:
            return {BM25: len(self._bm25), **{n: d.count for n, d in self._dense.items()}}

    # loading and rebuilding

    def load(self) -> None:
        """Load the persisted indexes, rebuilding any that are stale; a no-op once loaded."""
        with self._lock:
            if not self._loaded:
                self._load(rebuild=False, progress=None)

    def rebuild(self, progress: ProgressFn | None = None) -> int:
        """Rebuild every index from the database, encoding lessons without a stored vector."""
        with self._lock:
            return self._load(rebuild=True, progress=progress)

    def _load(self, *, rebuild: bool, progress: ProgressFn | None) -> int:
        # A failure half-way (an encoder error) leaves partial indexes: load again next time.
        self._loaded = False
        reflections = list(self._iter_searchable())
        self._bm25.clear()
        self._bm25.add((r.id, r.search_text()) for r in reflections)
        self._max_id = max((r.id for r in reflections), default=0)
        wanted = {r.id for r in reflections}
        total = len(reflections) * max(1, len(self._dense))
        done, reported = 0, -1
        for dense in self._dense.values():
            if not rebuild:
                reason = self._read(dense, wanted)
                if reason is None:
                    done += len(reflections)
                    continue
                # A first start has no file yet: only other reasons deserve a warning.
                level = logging.INFO if reason == NO_FILE else logging.WARNING
                log.log(level, "rebuilding the %s index: %s", dense.encoder.name, reason)
            dense.index = None
            for start in range(0, len(reflections), self._batch_size):
                batch = reflections[start : start + self._batch_size]
                vectors, fresh = self._vectors_for(dense, batch)
                self._save(dense, batch, vectors, fresh)
                dense.replace([r.id for r in batch], vectors)
                done += len(batch)
                if progress is not None:
                    progress(done, total)
                    reported = done
            self._persist(dense)
        if progress is not None and reported != total:
            progress(total, total)
        self._loaded = True
        return len(reflections)

    def _iter_searchable(self, after_id: int = 0) -> Iterator[Reflection]:
        while True:
            page = self._store.searchable_reflections(after_id=after_id, limit=PAGE)
            yield from page
            if len(page) < PAGE:
                return
            after_id = page[-1].id

    def _paths(self, dense: _Dense) -> tuple[Path, Path]:
        base = self._dir / f"{dense.encoder.name}.faiss"
        return base, base.with_suffix(".json")

    def _read(self, dense: _Dense, wanted: set[int]) -> str | None:
        """Load `dense` from its files; return why it must be rebuilt, or None."""
        path, meta_path = self._paths(dense)
        if not path.exists() or not meta_path.exists():
            return NO_FILE
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            index = faiss.read_index(str(path))
        except Exception as error:  # faiss raises RuntimeError; JSON/OS errors too
            return f"unreadable index file ({error.__class__.__name__})"
        if meta.get("format") != FORMAT_VERSION:
            return "old file format"
        if meta.get("model_id") != dense.model_id:
            return f"made by {meta.get('model_id')!r}, not {dense.model_id!r}"
        if not isinstance(index, faiss.IndexIDMap2) or index.d != meta.get("dim"):
            return "unexpected index type"
        if index.ntotal != meta.get("count"):
            return "index file and sidecar disagree"
        dense.index = index
        if dense.ids() != wanted:
            dense.index = None
            return f"holds {index.ntotal} lessons, the database {len(wanted)} searchable"
        return None

    def _persist(self, dense: _Dense) -> None:
        """Write the faiss file and its sidecar atomically (temp file, then rename)."""
        if dense.index is None:
            dense.index = faiss.IndexIDMap2(faiss.IndexFlatIP(dense.encoder.dim))
        path, meta_path = self._paths(dense)
        self._dir.mkdir(parents=True, exist_ok=True)
        meta = {
            "format": FORMAT_VERSION,
            "model_id": dense.model_id,
            "dim": int(dense.index.d),
            "count": dense.count,
        }
        # A reader who sees the new faiss file with the old sidecar finds the counts
        # disagree and rebuilds; it never trusts a half-written file.
        fd, tmp = tempfile.mkstemp(dir=self._dir, prefix=f".{path.name}.", suffix=".tmp")
        os.close(fd)
        try:
            faiss.write_index(dense.index, tmp)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        fd, tmp = tempfile.mkstemp(dir=self._dir, prefix=f".{meta_path.name}.", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(meta, out)
        os.replace(tmp, meta_path)

    # vectors

    def _vectors_for(
        self, dense: _Dense, reflections: Sequence[Reflection]
    ) -> tuple[FloatMatrix, list[bool]]:
        """Return one vector per reflection, reusing stored ones; mark which were encoded."""
        texts = [r.search_text() for r in reflections]
        hashes = [content_hash(dense.model_id, t) for t in texts]
        found = self._store.embeddings_by_hash(dense.model_id, sorted(set(hashes)))
        dim = None if dense.index is None else int(dense.index.d)
        if dim is None and found:
            dim = len(next(iter(found.values()))) // 4
        rows: list[FloatMatrix | None] = []
        for h in hashes:
            blob = found.get(h)
            # A vector of another size is damaged or foreign: encode it again.
            ok = blob is not None and dim is not None and len(blob) == dim * 4
            rows.append(np.frombuffer(blob, dtype=np.float32) if blob is not None and ok else None)
        missing = [i for i, row in enumerate(rows) if row is None]
        encoded_rows = set(missing)
        if missing:
            encoded = np.asarray(
                dense.encoder.encode_passages([texts[i] for i in missing]), dtype=np.float32
            )
            if dim is not None and encoded.shape[1] != dim:
                raise ValueError(
                    f"{dense.encoder.name} makes {encoded.shape[1]}-d vectors, index has {dim}"
                )
            for i, vector in zip(missing, encoded, strict=True):
                rows[i] = vector
        matrix = np.ascontiguousarray(np.vstack([r for r in rows if r is not None]))
        return matrix.astype(np.float32, copy=False), [i in encoded_rows for i in range(len(rows))]

    def _save(
        self,
        dense: _Dense,
        reflections: Sequence[Reflection],
        vectors: FloatMatrix,
        which: Sequence[bool],
    ) -> None:
        if not any(which):
            return
        # One transaction per batch, not per vector (joins the caller's when there is one).
        with self._store.transaction():
            for reflection, vector, save in zip(reflections, vectors, which, strict=True):
                if save:
                    text_hash = content_hash(dense.model_id, reflection.search_text())
                    self._store.save_embedding(
                        reflection.id, dense.model_id, text_hash, vector.tobytes()
                    )

    # the SearchIndex port

    def add(self, reflections: Sequence[Reflection]) -> None:
        """Index reflections (replacing same ids); drafts and hidden ones are removed instead."""
        with self._lock:
            self.load()
            unique = {r.id: r for r in reflections}
            removed = self._remove([i for i, r in unique.items() if not _searchable(r)])
            added = self._add([r for r in unique.values() if _searchable(r)], save_all=True)
            if removed or added:
                self._persist_all()

    def _add(self, reflections: Sequence[Reflection], *, save_all: bool) -> bool:
        """Add to every index without persisting; `save_all` stores reused vectors too."""
        if not reflections:
            return False
        for dense in self._dense.values():
            for start in range(0, len(reflections), self._batch_size):
                batch = reflections[start : start + self._batch_size]
                vectors, fresh = self._vectors_for(dense, batch)
                self._save(dense, batch, vectors, [True] * len(batch) if save_all else fresh)
                dense.replace([r.id for r in batch], vectors)
        self._bm25.add((r.id, r.search_text()) for r in reflections)
        self._max_id = max(self._max_id, *(r.id for r in reflections))
        return True

    def remove(self, reflection_ids: Sequence[int]) -> None:
        """Forget reflections in every index; unknown ids are ignored."""
        with self._lock:
            self.load()
            if self._remove([int(i) for i in reflection_ids]):
                self._persist_all()

    def _remove(self, ids: Sequence[int]) -> bool:
        """Remove from every index without persisting; return whether anything was there."""
        if not ids:
            return False
        known = self._bm25.ids()
        changed = any(i in known for i in ids)
        self._bm25.remove(ids)
        for dense in self._dense.values():
            changed = dense.remove(ids) > 0 or changed
        return changed

    def _persist_all(self) -> None:
        for dense in self._dense.values():
            self._persist(dense)

    def rankings(self, query: str, k: int) -> dict[str, Ranking]:
        """Return the top `k` reflection ids per method, best first."""
        result: dict[str, Ranking] = {name: [] for name in self.methods}
        if not query.strip() or k <= 0:
            return result
        self.load()
        # Encode outside the lock: it is the slow part and touches no shared state.
        queries = {
            name: np.asarray(d.encoder.encode_queries([query]), dtype=np.float32)
            for name, d in self._dense.items()
            if d.count
        }
        with self._lock:
            result[BM25] = self._bm25.search(query, k)
            for name, vector in queries.items():
                result[name] = self._dense[name].search(vector, k)
        return result

    def refresh(self) -> int:
        """Catch up with lessons another process added or removed; return how many changed.

        Costs two small queries when nothing changed. It sees new ids and a changed
        count; a lesson edited elsewhere, or one hidden while another was un-hidden,
        waits for the next `rebuild()`.
        """
        with self._lock:
            if not self._loaded:
                self.load()
                return 0
            new = [
                r for r in self._iter_searchable(after_id=self._max_id) if r.id not in self._bm25
            ]
            self._add(new, save_all=False)
            changed = len(new)
            if self._store.count_searchable() != len(self._bm25):
                current = {r.id: r for r in self._iter_searchable()}
                gone = sorted(self._bm25.ids() - current.keys())
                missing = [r for i, r in current.items() if i not in self._bm25]
                self._remove(gone)
                self._add(missing, save_all=False)
                changed += len(gone) + len(missing)
            if changed:
                self._persist_all()
            return changed
