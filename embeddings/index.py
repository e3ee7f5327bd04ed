"""The lesson index: BM25 plus one faiss index per encoder, kept in step with the store.

The database is the source of truth: every lesson's vector is stored there with the
model that made it. The faiss files under `data_dir/index/` are a cache of those
vectors; each is rebuilt by itself when it is missing, unreadable, made by another
model, or holds other lessons than the store says are searchable. BM25 lives in
memory only and is rebuilt from the lesson texts on load.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import math
import os
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import numpy.typing as npt

from bot.language import detect_language
from bot.models import Reflection
from bot.ports import Encoder, ProgressFn, Ranking, Store
from embeddings.glossary import Glossary, bundled
from embeddings.lexical import Bm25Ranking

log = logging.getLogger(__name__)

FORMAT_VERSION = 3  # 2: IVF indexes, "kind", "trained_for"; 3: a file per language, "synced_to"
BM25 = "bm25"
TRANSLATED = "~"  # suffix of the rankings of a question's glossary translation
PAGE = 500  # reflections per store query
NO_FILE = "no index file"
# A file that missed at most this many lessons (or this share) is brought up to date on
# load; beyond, it is rebuilt from the vectors stored in the database.
PATCH_LIMIT = 1000
PATCH_SHARE = 0.2

FloatMatrix = npt.NDArray[np.float32]
_faiss: Any = faiss  # for the parts of faiss that its type stubs lack


def model_id_of(encoder: Encoder) -> str:
    """Return the identity stored with an encoder's vectors (falls back to its name)."""
    return str(getattr(encoder, "model_id", encoder.name))


def content_hash(model_id: str, text: str) -> str:
    """Return the key under which a model's vector of `text` is stored."""
    return hashlib.sha256(f"{model_id}\n{text}".encode()).hexdigest()


def _searchable(reflection: Reflection) -> bool:
    return not reflection.draft and not reflection.hidden


@dataclass(frozen=True)
class IndexPolicy:
    """Which faiss index a number of lessons gets, and how it is searched.

    Up to `exact_limit` lessons: exact search (IndexFlatIP in an IndexIDMap2). Beyond:
    IndexIVFFlat (inner product) with ~4 sqrt(n) lists, `nprobe` of them searched, the
    lessons' own ids stored in its lists and a hashtable from id to place, so that
    `add_with_ids` and `remove_ids` work as before. IVF rather than HNSW: faiss's HNSW cannot
    remove (a removal would need tombstones and periodic rebuilds) and keeps a graph on top
    of the vectors; IVF's cost is its training (k-means on a sample) at build time. HNSW
    was not measured. Figures behind the defaults: bench/run.py (README, "Measuring speed").
    """

    exact_limit: int = 20_000
    # Lists searched: `probe_factor` sqrt(lists), at least `nprobe`. bench/run.py at 100k
    # (93k lessons in one language, 1,024 lists): recall@10 against exact search 0.84 (e5)
    # and 0.83 (MiniLM) with 32 lists, 0.98 / 0.93 with 128, 0.99 / 0.96 with 192, at 5.2
    # and 2.3 ms a search (exact: ~8 ms). The generated variants there are mixtures of real
    # vectors, which lie between clusters: real lessons need fewer lists. With more lists
    # a smaller share suffices (the lists are finer), hence at most `max_probes`: at a
    # million (934k lessons, 4,096 lists) recall@10 with 192 lists was 0.994 (e5) and 0.987
    # (MiniLM) at 18 and 6 ms a search, with 384 0.999 / 0.993 at 24 and 11 ms.
    nprobe: int = 32
    probe_factor: float = 6.0
    max_probes: int = 192
    # An IVF index trained for n lessons is trained again once it holds more than
    # `regrow` * n (its lists grow long), and becomes exact again below exact_limit / 2.
    regrow: float = 4.0
    train_per_list: int = 40  # training sample: this many vectors per list
    train_iterations: int = 10  # k-means rounds (faiss: 25): faster; recall: bench/run.py
    list_factor: float = 4.0  # lists: list_factor * sqrt(n), a power of two, >= min_lists
    min_lists: int = 16
    # Threads for one search: a single query gains nothing from two threads on a busy
    # two-core machine (exact search over 100k: 10 ms with one, 42 ms with two).
    search_threads: int = 1

    def nlist(self, count: int) -> int:
        """Number of IVF lists for `count` lessons: a power of two near 4 sqrt(count)."""
        lists = 2 ** round(math.log2(self.list_factor * math.sqrt(max(count, 1))))
        return int(max(self.min_lists, lists))

    def probes(self, nlist: int) -> int:
        """Lists one search visits: `probe_factor` sqrt(nlist) up to `max_probes`, at least
        `nprobe`, at most all."""
        wanted = min(self.max_probes, math.ceil(self.probe_factor * math.sqrt(nlist)))
        return int(min(nlist, max(self.nprobe, wanted)))

    def kind_for(self, count: int, current: str | None = None) -> str:
        """FLAT or IVF for `count` lessons, given the current kind (hysteresis)."""
        if current == IVF:
            return IVF if count >= self.exact_limit // 2 else FLAT
        return IVF if count > self.exact_limit else FLAT

    def fits(self, dense: _Dense) -> str | None:
        """Why `dense` has the wrong index for its size, or None."""
        count, kind = dense.count, dense.kind
        wanted = self.kind_for(count, kind)
        if wanted != kind:
            return f"a {kind} index for {count} lessons"
        if kind == IVF and count > self.regrow * max(dense.trained_for, 1):
            return f"an IVF index trained for {dense.trained_for} lessons holds {count}"
        return None


FLAT = "flat"
IVF = "ivf"


@dataclass
class _Dense:
    """One encoder's faiss index; `index` is None until its dimension is known.

    `index` is an IndexIDMap2 over an IndexFlatIP (exact) or an IndexIVFFlat holding the
    lessons' ids itself; `policy` says which, by size (see IndexPolicy).
    """

    encoder: Encoder
    model_id: str
    index: Any = None
    policy: IndexPolicy = field(default_factory=IndexPolicy)
    trained_for: int = 0  # lessons an IVF index was trained for

    @property
    def count(self) -> int:
        return 0 if self.index is None else int(self.index.ntotal)

    @property
    def kind(self) -> str:
        return IVF if isinstance(self.index, faiss.IndexIVF) else FLAT

    def ids(self) -> set[int]:
        if self.index is None:
            return set()
        return {int(i) for i in self.all_ids()}

    def all_ids(self) -> npt.NDArray[np.int64]:
        """Every id in the index, in its internal order."""
        if self.index is None:
            return np.zeros(0, dtype=np.int64)
        if self.kind == FLAT:
            return faiss.vector_to_array(self.index.id_map).astype(np.int64)
        lists = self.index.invlists
        parts = [
            faiss.rev_swig_ptr(lists.get_ids(i), lists.list_size(i)).copy()
            for i in range(lists.nlist)
            if lists.list_size(i)
        ]
        return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)

    def all_vectors(self) -> tuple[npt.NDArray[np.int64], FloatMatrix]:
        """Every (id, vector) in the index: what a change of index type starts from."""
        d = int(self.index.d)
        if self.kind == FLAT:
            flat: Any = faiss.downcast_index(self.index.index)
            matrix = faiss.rev_swig_ptr(flat.get_xb(), self.count * d).copy()
            return self.all_ids(), matrix.reshape(self.count, d)
        lists = self.index.invlists
        parts = []
        for i in range(lists.nlist):
            size = lists.list_size(i)
            if size:
                codes = faiss.rev_swig_ptr(lists.get_codes(i), size * d * 4).copy()
                parts.append(codes.view(np.float32).reshape(size, d))
        matrix = np.vstack(parts) if parts else np.zeros((0, d), dtype=np.float32)
        return self.all_ids(), matrix

    def build(self, ids: npt.NDArray[np.int64], vectors: FloatMatrix) -> None:
        """Make a new index of the type the policy wants for this many lessons."""
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        d = int(vectors.shape[1])
        if self.policy.kind_for(len(ids)) == FLAT:
            self.index = faiss.IndexIDMap2(faiss.IndexFlatIP(d))
            self.trained_for = 0
        else:
            nlist = self.policy.nlist(len(ids))
            ivf = faiss.IndexIVFFlat(faiss.IndexFlatIP(d), d, nlist, faiss.METRIC_INNER_PRODUCT)
            ivf.cp.niter = self.policy.train_iterations
            sample = min(len(ids), nlist * self.policy.train_per_list)
            # A fixed seed: the same lessons give the same index.
            rows = np.random.default_rng(0).choice(len(ids), size=sample, replace=False)
            ivf.train(vectors[np.sort(rows)])
            ivf.set_direct_map_type(_faiss.DirectMap.Hashtable)
            self.index = ivf
            self.trained_for = len(ids)
        self._configure()
        if len(ids):
            self.index.add_with_ids(vectors, ids)

    def _configure(self) -> None:
        if self.kind == IVF:
            self.index.nprobe = self.policy.probes(self.index.nlist)

    def loaded(self, index: Any, trained_for: int) -> None:
        """Adopt an index read from disk."""
        self.index = index
        self.trained_for = trained_for
        if self.kind == IVF and self.index.direct_map.type != _faiss.DirectMap.Hashtable:
            self.index.set_direct_map_type(_faiss.DirectMap.Hashtable)
        self._configure()

    def replace(self, ids: Sequence[int], vectors: FloatMatrix) -> None:
        keys = np.asarray(ids, dtype=np.int64)
        if self.index is None:
            self.build(keys, vectors)
            return
        self.index.remove_ids(keys)
        self.index.add_with_ids(vectors, keys)
        self.refit()

    def remove(self, ids: Sequence[int]) -> int:
        if self.index is None or not ids:
            return 0
        removed = int(self.index.remove_ids(np.asarray(ids, dtype=np.int64)))
        if removed:
            self.refit()
        return removed

    def refit(self) -> bool:
        """Change to the index type the policy wants for the current size; True if changed."""
        reason = self.policy.fits(self)
        if reason is None:
            return False
        log.info("rebuilding the %s index from its vectors: %s", self.encoder.name, reason)
        self.build(*self.all_vectors())
        return True

    def search(self, query: FloatMatrix, k: int) -> Ranking:
        """The `k` best lessons for `query` (one row), best first."""
        if self.count == 0:
            return []
        threads = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(self.policy.search_threads)
        try:
            scores, ids = self.index.search(query, min(k, self.count))
        finally:
            faiss.omp_set_num_threads(threads)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]


# Languages searched one by one: multilingual e5 scores a lesson in the question's language
# higher than an equally relevant one in the other, so with one search over all lessons a
# Dutch lesson hardly ever reaches the candidates of an English question (bench/eval.py:
# none in the top 300 of 14 English questions answered by Dutch lessons). Each language
# has a faiss index of its own: IVF lists cluster by language, so one IVF index searched
# with a language filter had to probe every list (bench/run.py at 100k: 14 ms per search,
# recall@10 0.5 at nprobe 32 without probing all).
SPLIT_LANGUAGES = ("nl", "en")
_CODES = {language: code for code, language in enumerate(SPLIT_LANGUAGES, start=2)}
_OTHER = 1  # a lesson in another language; 0: no lesson
_PART_NAMES = {_OTHER: "other", **{code: language for language, code in _CODES.items()}}
_PART_CODES = {name: code for code, name in _PART_NAMES.items()}


def language_code(language: str | None) -> int:
    """The part (see SPLIT_LANGUAGES) a lesson in `language` belongs to."""
    return _CODES.get(language or "", _OTHER)


class _Encoded:
    """One encoder's vectors: a `_Dense` index per language part, each sized by the policy.

    Knows which part holds each lesson (a code per id in a numpy array: 1 MB per million
    lessons), so a removal or an edit that changes a lesson's language touches one part.
    """

    def __init__(self, encoder: Encoder, model_id: str, policy: IndexPolicy) -> None:
        self.encoder = encoder
        self.model_id = model_id
        self.policy = policy
        self.parts: dict[int, _Dense] = {}
        self._codes = np.zeros(0, dtype=np.int8)
        self.dirty: set[int] = set()  # parts changed since they were last written
        self.writes = 0  # sidecars this process wrote (its token in the sidecar)
        self.written_marker = -1  # the change-log marker of the last sidecar written
        self._duplicates: set[int] = set()

    @property
    def count(self) -> int:
        # A copy: a search reads this outside the index's lock.
        return sum(part.count for part in list(self.parts.values()))

    @property
    def dim(self) -> int | None:
        return next((int(p.index.d) for p in self.parts.values() if p.index is not None), None)

    @property
    def kind(self) -> str:
        """The index type of the largest part (FLAT when empty): for reports."""
        largest = max(self.parts.values(), key=lambda p: p.count, default=None)
        return FLAT if largest is None else largest.kind

    def ids(self) -> set[int]:
        return {i for part in self.parts.values() for i in part.ids()}

    def codes(self) -> list[int]:
        """The codes of the parts that hold lessons, in order."""
        return sorted(code for code, part in self.parts.items() if part.count)

    def part(self, code: int) -> _Dense:
        found = self.parts.get(code)
        if found is None:
            found = self.parts[code] = _Dense(self.encoder, self.model_id, policy=self.policy)
        return found

    def held_codes(self) -> npt.NDArray[np.int8]:
        """The part of every lesson id (0: none), indexed by id."""
        return self._codes

    def code_of(self, reflection_id: int) -> int:
        """The part holding a lesson (0: none)."""
        codes = self._codes
        return int(codes[reflection_id]) if 0 <= reflection_id < len(codes) else 0

    def _set_codes(self, ids: npt.NDArray[np.int64], code: int) -> None:
        if not len(ids):
            return
        if int(ids.max()) >= len(self._codes):
            grown = np.zeros(max(int(ids.max()) + 1, 2 * len(self._codes)), dtype=np.int8)
            grown[: len(self._codes)] = self._codes
            self._codes = grown
        self._codes[ids] = code

    def clear(self) -> None:
        self.parts = {}
        self._codes = np.zeros(0, dtype=np.int8)
        self.dirty = set()
        self._duplicates = set()

    def build(
        self, ids: npt.NDArray[np.int64], vectors: FloatMatrix, codes: npt.NDArray[Any]
    ) -> None:
        """Make every part anew (each of the type its size wants)."""
        self.clear()
        for code in sorted({int(c) for c in codes}):
            mask = codes == code
            self.part(code).build(ids[mask], vectors[mask])
            self._set_codes(ids[mask], code)
            self.dirty.add(code)

    def adopt(self, code: int, index: Any, trained_for: int) -> None:
        """Take a part's index read from disk (ids another part holds too are noted)."""
        part = self.part(code)
        part.loaded(index, trained_for)
        ids = part.all_ids()
        known = ids[ids < len(self._codes)]
        self._duplicates.update(int(i) for i in known[self._codes[known] != 0])
        self._set_codes(ids, code)

    def drop_duplicates(self) -> set[int]:
        """Take ids found in more than one part out of every part; return them."""
        found, self._duplicates = self._duplicates, set()
        if found:
            keys = sorted(found)
            for part in self.parts.values():
                part.remove(keys)
            self._codes[np.asarray(keys, dtype=np.int64)] = 0
            self.dirty |= set(self.parts)
        return found

    def replace(self, ids: Sequence[int], vectors: FloatMatrix, codes: Sequence[int]) -> None:
        """Add lessons, replacing the same ids wherever they are."""
        self.remove(ids)
        keys = np.asarray(ids, dtype=np.int64)
        wanted = np.asarray(codes, dtype=np.int8)
        for code in sorted({int(c) for c in wanted}):
            mask = wanted == code
            self.part(code).replace(keys[mask].tolist(), vectors[mask])
            self._set_codes(keys[mask], code)
            self.dirty.add(code)

    def remove(self, ids: Sequence[int]) -> int:
        """Remove lessons from the parts holding them; return how many were there."""
        by_code: dict[int, list[int]] = {}
        for i in ids:
            code = self.code_of(int(i))
            if code:
                by_code.setdefault(code, []).append(int(i))
        removed = 0
        for code, keys in by_code.items():
            removed += self.parts[code].remove(keys)
            self._codes[np.asarray(keys, dtype=np.int64)] = 0
            self.dirty.add(code)
        return removed

    def refit(self) -> None:
        """Give every part the index type its size wants."""
        for code, part in self.parts.items():
            if part.refit():
                self.dirty.add(code)

    def search_part(self, vector: FloatMatrix, k: int, code: int) -> Ranking:
        """The best `k` lessons of one language part."""
        part = self.parts.get(code)
        return [] if part is None else part.search(vector, k)


def _write_atomically(path: Path, write: Callable[[str], object]) -> None:
    """Write a file through a temporary one beside it and a rename: never half a file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


class LessonIndex:
    """Implements `bot.ports.SearchIndex` over the store's lessons.

    Nothing is loaded in `__init__`: the first call (or `load()`) reads the faiss files
    and the lesson texts, and the encoders load their models on first encode. One lock
    serialises changes and searches, so one process may share an instance between
    threads; several processes each keep their own and call `refresh()`.

    Changes are searchable at once; the files are written at most every
    `persist_interval` seconds (and on `flush()`), since writing a million vectors takes
    seconds. Files that missed changes are brought up to date on load from the store's
    change log, with the vectors stored in the database (see `_read`).
    """

    def __init__(
        self,
        store: Store,
        encoders: Sequence[Encoder],
        data_dir: Path,
        *,
        batch_size: int = 256,
        refresh_interval: float | None = None,
        persist_interval: float = 60.0,
        monotonic: Callable[[], float] = time.monotonic,
        policy: IndexPolicy | None = None,
    ) -> None:
        self._store = store
        self._encoders = list(encoders)
        self._dir = Path(data_dir) / "index"
        self._batch_size = batch_size
        self._lock = threading.RLock()
        self.policy = policy or IndexPolicy()
        self._dense = {
            e.name: _Encoded(e, model_id_of(e), policy=self.policy) for e in self._encoders
        }
        self._bm25 = Bm25Ranking()
        self._loaded = False
        self._glossary: Glossary = bundled()
        # Keeping in step with other processes (see `refresh()`); `refresh_interval` set
        # means a search first refreshes an index that was not refreshed for that long.
        self.refresh_interval = refresh_interval
        self.persist_interval = persist_interval
        self._monotonic = monotonic
        self._persisted_at = -math.inf
        self._sync = _SyncState()
        self._query_vectors = _QueryVectors()
        # Threads start on the first search that needs them (two encoders or more).
        self._query_pool = ThreadPoolExecutor(max(1, len(self._dense)), "leerlus-query")
        self._writer = f"{os.getpid()}-{os.urandom(4).hex()}"  # this process, in sidecars

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
                self._start_sync()
                self._load(rebuild=False, progress=None)

    def rebuild(self, progress: ProgressFn | None = None) -> int:
        """Rebuild every index from the database, encoding lessons without a stored vector."""
        with self._lock:
            self._start_sync()
            return self._load(rebuild=True, progress=progress)

    def flush(self) -> None:
        """Catch up with the change log, then write the changed files (on exit).

        Catching up moves the marker the sidecar records past this process's own changes
        (an import), so the next start need not redo them.
        """
        with self._store.transaction(), self._lock:
            if self._loaded:
                self._apply_changes(self._monotonic())
                self._persist_all(force=True)

    def close(self) -> None:
        """Stop the query threads (after `flush`)."""
        self._query_pool.shutdown(wait=False)

    def _load(self, *, rebuild: bool, progress: ProgressFn | None) -> int:
        # A failure half-way (an encoder error) leaves partial indexes: load again next time.
        self._loaded = False
        reflections = list(self._iter_searchable())
        self._bm25.clear()
        self._bm25.add((r.id, r.search_text(), r.language) for r in reflections)
        wanted = {r.id: language_code(r.language) for r in reflections}
        total = len(reflections) * max(1, len(self._dense))
        done, reported = 0, -1
        for dense in self._dense.values():
            if not rebuild:
                with self._locked():
                    reason, stale = self._read(dense, wanted)
                if reason is None:
                    if stale:
                        by_id = {r.id: r for r in reflections}
                        log.info(
                            "%s index: %s lessons changed since written",
                            dense.encoder.name,
                            len(stale),
                        )
                        dense.remove(sorted(stale))
                        self._add_to(
                            dense, [by_id[i] for i in sorted(stale) if i in by_id], save_all=False
                        )
                        dense.refit()
                        with self._locked():
                            self._persist(dense)
                    done += len(reflections)
                    continue
                # A first start has no file yet: only other reasons deserve a warning.
                level = logging.INFO if reason == NO_FILE else logging.WARNING
                log.log(level, "rebuilding the %s index: %s", dense.encoder.name, reason)
            dense.clear()
            # All vectors first, then one index per language of the type their number wants.
            matrix: FloatMatrix | None = None
            for start in range(0, len(reflections), self._batch_size):
                batch = reflections[start : start + self._batch_size]
                vectors, fresh = self._vectors_for(dense, batch)
                self._save(dense, batch, vectors, fresh)
                if matrix is None:
                    matrix = np.empty((len(reflections), vectors.shape[1]), dtype=np.float32)
                matrix[start : start + len(batch)] = vectors
                done += len(batch)
                if progress is not None:
                    progress(done, total)
                    reported = done
            if matrix is not None:
                ids = np.fromiter((r.id for r in reflections), np.int64, count=len(reflections))
                codes = np.fromiter(
                    (wanted[r.id] for r in reflections), np.int8, count=len(reflections)
                )
                dense.build(ids, matrix, codes)
            with self._locked():
                self._persist(dense)
        if progress is not None and reported != total:
            progress(total, total)
        self._persisted_at = self._monotonic()
        self._loaded = True
        return len(reflections)

    def _iter_searchable(self, after_id: int = 0) -> Iterator[Reflection]:
        while True:
            page = self._store.searchable_reflections(after_id=after_id, limit=PAGE)
            yield from page
            if len(page) < PAGE:
                return
            after_id = page[-1].id

    def _meta_path(self, dense: _Encoded) -> Path:
        """The sidecar: model, dimension, sync marker and the parts of an encoder's files."""
        return self._dir / f"{dense.encoder.name}.json"

    def _part_path(self, dense: _Encoded, code: int) -> Path:
        return self._dir / f"{dense.encoder.name}.{_PART_NAMES[code]}.faiss"

    def _read(self, dense: _Encoded, wanted: dict[int, int]) -> tuple[str | None, set[int]]:
        """Load `dense` from its files: (why it must be rebuilt, or None; ids to redo).

        The ids to redo are the lessons whose part in the file is not the one the store
        wants (added, removed, or changed language since the file was written) and those
        the change log names since then (edited texts). Too many of them, or a change log
        that no longer reaches back to the file, mean a rebuild from the stored vectors.
        """
        meta_path = self._meta_path(dense)
        if not meta_path.exists():
            return NO_FILE, set()
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            return f"unreadable sidecar ({error.__class__.__name__})", set()
        if not isinstance(meta, dict) or meta.get("format") != FORMAT_VERSION:
            return "old file format", set()
        if meta.get("model_id") != dense.model_id:
            return f"made by {meta.get('model_id')!r}, not {dense.model_id!r}", set()
        try:
            synced_to = int(meta.get("synced_to", -1))
            parts_meta = {str(k): dict(v) for k, v in dict(meta.get("parts") or {}).items()}
        except (TypeError, ValueError, AttributeError) as error:
            return f"unreadable sidecar ({error.__class__.__name__})", set()
        dense.clear()
        for name, part_meta in parts_meta.items():
            code = _PART_CODES.get(name)
            if code is None or not self._part_path(dense, code).exists():
                dense.clear()
                return f"no file for the {name} part", set()
            try:
                index = faiss.read_index(str(self._part_path(dense, code)))
            except Exception as error:  # faiss raises RuntimeError for damaged files
                dense.clear()
                return f"unreadable index file ({error.__class__.__name__})", set()
            kind = IVF if isinstance(index, faiss.IndexIVFFlat) else FLAT
            if (kind == FLAT and not isinstance(index, faiss.IndexIDMap2)) or index.d != meta.get(
                "dim"
            ):
                dense.clear()
                return "unexpected index type", set()
            dense.adopt(code, index, int(part_meta.get("trained_for", 0) or 0))
        for part in dense.parts.values():
            misfit = self.policy.fits(part)
            if misfit is not None:
                dense.clear()
                return misfit, set()
        touched = self._changed_since(synced_to)
        if touched is None:
            dense.clear()
            return "older than the change log reaches back", set()
        stale = {i for i in touched if i in wanted or dense.code_of(i)}
        # An id in two files (a crash between writing them): out of both, then redone.
        stale |= dense.drop_duplicates()
        # Lessons whose part differs between the file and the store (0: in neither).
        want_ids = np.fromiter(wanted, dtype=np.int64, count=len(wanted))
        want_codes = np.fromiter(wanted.values(), dtype=np.int8, count=len(wanted))
        held = dense.held_codes()
        size = max(len(held), int(want_ids.max()) + 1 if len(want_ids) else 0)
        expected = np.zeros(size, dtype=np.int8)
        expected[want_ids] = want_codes
        actual = np.zeros(size, dtype=np.int8)
        actual[: len(held)] = held
        stale.update(int(i) for i in np.flatnonzero(expected != actual))
        if len(stale) > max(PATCH_LIMIT, PATCH_SHARE * len(wanted)):
            dense.clear()
            return f"{len(stale)} of {len(wanted)} lessons changed since it was written", set()
        return None, stale

    def _changed_since(self, synced_to: int) -> set[int] | None:
        """Lessons the change log names after entry `synced_to`; None if it no longer
        reaches back that far (pruned, or another database)."""
        if synced_to < 0:
            return None
        # Pruning removes the oldest entries (by age; ids grow with time): if the oldest
        # left is no later than the one after `synced_to`, nothing after it is gone. A
        # rolled-back id right after it looks the same as a pruned one: a rebuild, safely.
        first = self._store.index_changes(0, limit=1)
        if first and first[0][0] > synced_to + 1:
            return None
        if not first and synced_to > 0:  # an emptied log (pruning keeps the newest entry)
            return None
        if synced_to > self._store.last_index_change():  # written against another database
            return None
        touched: set[int] = set()
        after = synced_to
        while True:
            rows = self._store.index_changes(after, limit=CHANGES_PAGE)
            touched.update(reflection_id for _change, reflection_id in rows)
            if len(rows) < CHANGES_PAGE:
                return touched
            after = rows[-1][0]

    def _persist(self, dense: _Encoded) -> None:
        """Write the changed part files and then the sidecar, each atomically.

        Every part is written when the sidecar on disk is not this process's last one:
        another process (a `leerlus import` beside `leerlus run`) wrote in between, and
        its files hold its view. Callers hold the directory's lock (`_locked`).
        """
        self._dir.mkdir(parents=True, exist_ok=True)
        dim = dense.dim if dense.dim is not None else dense.encoder.dim
        meta_path = self._meta_path(dense)
        try:
            on_disk = json.loads(meta_path.read_text(encoding="utf-8")).get("writer")
        except (OSError, ValueError, AttributeError):
            on_disk = None
        if on_disk != self._writer_token(dense):
            dense.dirty |= set(dense.parts)
        for code in sorted(dense.dirty):
            part = dense.parts.get(code)
            if part is not None and part.count:
                _write_atomically(
                    self._part_path(dense, code), partial(faiss.write_index, part.index)
                )
        sync = self._sync
        parts = {
            _PART_NAMES[code]: {
                "count": part.count,
                "kind": part.kind,
                "trained_for": part.trained_for,
            }
            for code, part in sorted(dense.parts.items())
            if part.count
        }
        dense.writes += 1
        meta = {
            "format": FORMAT_VERSION,
            "model_id": dense.model_id,
            "dim": int(dim),
            # The files hold at least every change up to this change-log entry.
            "synced_to": min([*sync.gaps, sync.marker + 1]) - 1,
            "parts": parts,
            "writer": self._writer_token(dense),
        }
        _write_atomically(
            meta_path, lambda tmp: Path(tmp).write_text(json.dumps(meta), encoding="utf-8")
        )
        dense.dirty.clear()
        dense.written_marker = sync.marker
        for code, name in _PART_NAMES.items():  # parts emptied since: their files go
            if name not in parts:
                self._part_path(dense, code).unlink(missing_ok=True)

    # vectors

    def _vectors_for(
        self, dense: _Encoded, reflections: Sequence[Reflection]
    ) -> tuple[FloatMatrix, list[bool]]:
        """Return one vector per reflection, reusing stored ones; mark which were encoded."""
        texts = [r.search_text() for r in reflections]
        hashes = [content_hash(dense.model_id, t) for t in texts]
        found = self._store.embeddings_by_hash(dense.model_id, sorted(set(hashes)))
        dim = dense.dim
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
        dense: _Encoded,
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
            self._sync.applied(unique.values())
            self._remove([i for i, r in unique.items() if not _searchable(r)])
            self._add([r for r in unique.values() if _searchable(r)], save_all=True)
            self._persist_due()

    def _add(self, reflections: Sequence[Reflection], *, save_all: bool) -> bool:
        """Add to every index without persisting; `save_all` stores reused vectors too."""
        if not reflections:
            return False
        for dense in self._dense.values():
            self._add_to(dense, reflections, save_all=save_all)
        self._bm25.add((r.id, r.search_text(), r.language) for r in reflections)
        return True

    def _add_to(
        self, dense: _Encoded, reflections: Sequence[Reflection], *, save_all: bool
    ) -> None:
        for start in range(0, len(reflections), self._batch_size):
            batch = reflections[start : start + self._batch_size]
            vectors, fresh = self._vectors_for(dense, batch)
            self._save(dense, batch, vectors, [True] * len(batch) if save_all else fresh)
            dense.replace(
                [r.id for r in batch], vectors, [language_code(r.language) for r in batch]
            )

    def remove(self, reflection_ids: Sequence[int]) -> None:
        """Forget reflections in every index; unknown ids are ignored."""
        with self._lock:
            self.load()
            self._sync.applied(int(i) for i in reflection_ids)
            self._remove([int(i) for i in reflection_ids])
            self._persist_due()

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

    def _writer_token(self, dense: _Encoded) -> str:
        """This process and its count of sidecar writes: who wrote a sidecar last."""
        return f"{self._writer}:{dense.writes}"

    def _persist_all(self, *, force: bool = False) -> None:
        """Write every encoder's changed parts, and its sidecar when anything changed or
        the marker moved (so the sidecar never falls behind a pruned change log)."""
        with self._locked():
            for dense in self._dense.values():
                if force or dense.dirty or dense.written_marker != self._sync.marker:
                    self._persist(dense)
        self._persisted_at = self._monotonic()

    def _persist_due(self) -> None:
        """Write what changed if the last write is `persist_interval` old."""
        if self._monotonic() - self._persisted_at < self.persist_interval:
            return
        marker = self._sync.marker
        if any(d.dirty or d.written_marker != marker for d in self._dense.values()):
            self._persist_all()

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """The index directory's lock: one process writes or reads the files at a time."""
        self._dir.mkdir(parents=True, exist_ok=True)
        with open(self._dir / ".lock", "a+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def rankings(self, query: str, k: int) -> dict[str, Ranking]:
        """Return the top `k` reflection ids per method, best first.

        A dense method returns the top `k` of each language (so up to `k` per language).
        When the glossary translates the question into the other language, BM25 ranks that
        translation too ("bm25~"), and so does an encoder that reads only the other
        language ("minilm~" for a Dutch question).
        """
        result: dict[str, Ranking] = {name: [] for name in self.methods}
        if not query.strip() or k <= 0:
            return result
        self.load()
        self._refresh_if_due()
        language, other, translated = self._languages_of(query)
        # Encoded outside the lock: the slow part, and it touches no shared state.
        queries = self.encode_question(query, (language, other, translated))
        with self._lock:
            result[BM25] = self._bm25.search(query, k, language)
            if translated:
                result[BM25 + TRANSLATED] = self._bm25.search(translated, k, other)
            for key, vector in queries.items():
                dense = self._dense[key.removesuffix(TRANSLATED)]
                # The best `k` of each language, merged: see SPLIT_LANGUAGES.
                merged = [
                    hit for code in dense.codes() for hit in dense.search_part(vector, k, code)
                ]
                result[key] = sorted(merged, key=lambda hit: (-hit[1], hit[0]))
        return result

    def _languages_of(self, query: str) -> tuple[str | None, str | None, str]:
        """The question's language, the other one, and its glossary translation ("")."""
        language = detect_language(query)
        other = {"nl": "en", "en": "nl"}.get(language or "")
        translated = self._glossary.translate(query, language, other) if language and other else ""
        return language, other, translated

    def encode_question(
        self, query: str, languages: tuple[str | None, str | None, str] | None = None
    ) -> dict[str, FloatMatrix]:
        """Each encoder's vector of the question, keyed like `rankings`: an encoder that
        does not read the question's language but reads the other also gets the glossary
        translation (key + "~"), in the same call. `languages`: `_languages_of(query)`
        when the caller has it already."""
        language, other, translated = languages or self._languages_of(query)
        texts: dict[str, list[str]] = {}
        for name, d in self._dense.items():
            if d.count:
                readable = getattr(d.encoder, "languages", None) or ()
                wants = translated and language not in readable and other in readable
                texts[name] = [query, translated] if wants else [query]
        queries: dict[str, FloatMatrix] = {}
        for name, vectors in self._encode_queries(texts).items():
            queries[name] = vectors[:1]
            if len(vectors) > 1:
                queries[name + TRANSLATED] = vectors[1:2]
        return queries

    def _encode_queries(self, texts: dict[str, list[str]]) -> dict[str, FloatMatrix]:
        """Vectors of each encoder's question texts: remembered ones (a "more" page asks
        again), the rest encoded, each encoder in a thread of its own (~20% faster on two
        cores: a single question keeps neither core busy)."""
        found: dict[str, FloatMatrix] = {}
        missing: dict[str, list[str]] = {}
        for name, wanted in texts.items():
            known = self._query_vectors.get(name, wanted)
            if known is not None:
                found[name] = known
            else:
                missing[name] = wanted

        def encode(name: str) -> FloatMatrix:
            encoder = self._dense[name].encoder
            return np.asarray(encoder.encode_queries(missing[name]), dtype=np.float32)

        if len(missing) > 1:
            futures = {name: self._query_pool.submit(encode, name) for name in missing}
            encoded = {name: future.result() for name, future in futures.items()}
        else:
            encoded = {name: encode(name) for name in missing}
        for name, vectors in encoded.items():
            self._query_vectors.put(name, missing[name], vectors)
        return found | encoded

    def refresh(self) -> int:
        """Catch up with lessons other processes added, edited, hid or deleted; return how many.

        Reads the store's change log from the last entry applied: one small query when
        nothing changed. A skipped entry id (its transaction was still open) is asked for
        again until it appears, for up to GAP_TIMEOUT seconds. Every CHECK_EVERY seconds
        the number of searchable lessons is compared as well (a second query), a net for
        changes made outside the store; a real difference makes it compare every id.
        Changes this process made itself (through `add`/`remove`) are not applied twice.
        """
        # The transaction before the lock, as a command does that indexes (Bot.handle):
        # on SQLite the other order would deadlock against it.
        with self._store.transaction(), self._lock:
            now = self._monotonic()
            if not self._loaded:
                self.load()
                return 0
            sync = self._sync
            if now - sync.refreshed_at > STALE_AFTER:
                # Entries may have been pruned since the last look: what the log still
                # names since the marker, then every id compared (a net for the rest).
                touched = self._changed_since(sync.marker)
                self._start_sync()
                changed = self._apply(touched or set()) + self._reconcile()
            else:
                changed = self._apply_changes(now)
                if now - sync.checked_at >= CHECK_EVERY:
                    changed += self._check_count(now)
            self._sync.refreshed_at = now
            self._persist_due()
            return changed

    def _refresh_if_due(self) -> None:
        """Refresh before a search when the last refresh is `refresh_interval` old."""
        if self.refresh_interval is None:
            return
        if self._monotonic() - self._sync.refreshed_at < self.refresh_interval:
            return
        try:
            self.refresh()
        except Exception:  # a slightly stale answer beats none; the next search retries
            log.warning("refreshing the index before a search failed", exc_info=True)

    def _start_sync(self) -> None:
        """Start following the change log; call before reading the lessons.

        Ids missing among the recent entries may belong to transactions still open:
        they are waited for like any other gap.
        """
        now = self._monotonic()
        marker = self._store.last_index_change()
        seen = [
            c
            for c, _ in self._store.index_changes(max(0, marker - GAP_LOOKBACK), limit=GAP_LOOKBACK)
        ]
        first = min(seen, default=marker)
        gaps = dict.fromkeys(sorted(set(range(first + 1, marker)) - set(seen))[-MAX_GAPS:], now)
        self._sync = _SyncState(marker=marker, gaps=gaps, refreshed_at=now, checked_at=now)

    def _apply_changes(self, now: float) -> int:
        """Apply the log entries after the marker and the awaited gaps; move the marker."""
        sync = self._sync
        gaps = {g: since for g, since in sync.gaps.items() if now - since <= GAP_TIMEOUT}
        if len(gaps) < len(sync.gaps):
            log.warning("gave up waiting for %s index changes", len(sync.gaps) - len(gaps))
        marker, also, touched = sync.marker, sorted(gaps), set()
        while True:
            rows = self._store.index_changes(marker, also=also, limit=CHANGES_PAGE)
            also = []
            newer = [c for c, _ in rows if c > marker]
            for change_id, reflection_id in rows:
                gaps.pop(change_id, None)
                touched.add(reflection_id)
            if newer:
                gaps.update(dict.fromkeys(set(range(marker + 1, max(newer))) - set(newer), now))
                marker = max(newer)
            if len(newer) < CHANGES_PAGE:
                break
        changed = self._apply(touched)
        # Only now: a failure above leaves the marker, and the next refresh reads it all again.
        sync.marker = marker
        sync.gaps = dict(sorted(gaps.items())[-MAX_GAPS:])
        return changed

    def _apply(self, reflection_ids: set[int]) -> int:
        """Bring these lessons in line with the store; return how many changed here."""
        if not reflection_ids:
            return 0
        current = self._store.reflections_by_id(sorted(reflection_ids))
        add: list[Reflection] = []
        gone: list[int] = []
        for i in sorted(reflection_ids):
            reflection = current.get(i)
            wanted = reflection is not None and _searchable(reflection)
            state = reflection.updated_at if reflection is not None and wanted else None
            if self._sync.recent.pop(i, _UNSEEN) == state:
                continue  # this process indexed exactly this state itself
            if reflection is not None and wanted:
                add.append(reflection)
            elif i in self._bm25:
                gone.append(i)
        self._remove(gone)
        self._add(add, save_all=False)
        return len(add) + len(gone)

    def _check_count(self, now: float) -> int:
        """Compare the number of searchable lessons; compare every id if they truly differ."""
        sync = self._sync
        sync.checked_at = now
        if self._store.count_searchable() == len(self._bm25):
            return 0
        marker, gaps = sync.marker, len(sync.gaps)
        changed = self._apply_changes(now)
        if sync.marker != marker or len(sync.gaps) != gaps:
            sync.checked_at = -math.inf  # changes came in meanwhile: check again next time
            return changed
        log.warning("the index and the database disagree on the number of lessons: comparing")
        return changed + self._reconcile()

    def _reconcile(self) -> int:
        """Compare every searchable id with the index; add and remove the difference."""
        current = {r.id: r for r in self._iter_searchable()}
        gone = sorted(self._bm25.ids() - current.keys())
        missing = [r for i, r in current.items() if i not in self._bm25]
        for i in [*gone, *(r.id for r in missing)]:
            # An own change not committed yet was undone here: apply it when its entry comes.
            self._sync.recent.pop(i, None)
        self._remove(gone)
        self._add(missing, save_all=False)
        return len(gone) + len(missing)


class _QueryVectors:
    """The vectors of recent questions, per encoder: least recently used go first."""

    def __init__(self, size: int = 256) -> None:
        self._size = size
        self._items: OrderedDict[tuple[str, tuple[str, ...]], FloatMatrix] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, encoder: str, texts: Sequence[str]) -> FloatMatrix | None:
        key = (encoder, tuple(texts))
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
            return found

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def put(self, encoder: str, texts: Sequence[str], vectors: FloatMatrix) -> None:
        with self._lock:
            self._items[encoder, tuple(texts)] = vectors
            while len(self._items) > self._size:
                self._items.popitem(last=False)


# Following the store's change log (see LessonIndex.refresh).
CHANGES_PAGE = 1000  # log entries per query
GAP_TIMEOUT = 3600.0  # seconds a skipped entry id is waited for (an open transaction)
GAP_LOOKBACK = 10_000  # entries before the newest that a load checks for open transactions
MAX_GAPS = 1000  # skipped ids awaited at most (rolled-back transactions leave some too)
CHECK_EVERY = 60.0  # seconds between comparisons of the number of lessons
STALE_AFTER = 3600.0  # a refresh after this long compares every id (the log may be pruned)
MAX_RECENT = 10_000  # own changes remembered between refreshes
_UNSEEN = object()


@dataclass
class _SyncState:
    """Where one process is in the change log."""

    marker: int = 0  # the newest entry applied
    gaps: dict[int, float] = field(default_factory=dict)  # skipped entry id: first missed
    # lessons this process indexed itself since the last refresh: updated_at, None if removed
    recent: dict[int, datetime | None] = field(default_factory=dict)
    refreshed_at: float = -math.inf
    checked_at: float = -math.inf

    def applied(self, items: Iterable[Reflection] | Iterable[int]) -> None:
        """Remember what `add`/`remove` did, so that `refresh` need not do it again."""
        if len(self.recent) > MAX_RECENT:
            self.recent.clear()  # re-applying is harmless, only slower
        for item in items:
            if isinstance(item, int):
                self.recent[item] = None
            else:
                self.recent[item.id] = item.updated_at if _searchable(item) else None
