"""Speed at scale: ask latency, index build and add time, memory and recall, 10k to 1M lessons.

    python -m bench.run [--sizes 10000,100000,1000000] [--questions 120] [--encoders e5]

For each size a cached SQLite database (bench/.cache/scale/n<size>/) holds the real records
of the data directory plus generated variants: texts recombined from sentences of real
records (one record's sentence as the lesson, two others of the same language as what went
well and what to improve), vectors mixed from those records' real vectors (0.6 / 0.2 / 0.2
plus noise, re-normalised), spread over the organisations and all visibilities. The real
records' vectors come from the real encoders once (the import path, cached in
bench/.cache/scale/base/; a bench/.cache/eval database seeds it when present).

Each size is measured in its own process (so its memory is its own), against a brute-force
numpy baseline from the same run over the same vectors (matmul + argpartition per language,
the same BM25 and query encoders, the same `ask` core): the product's index is rebuilt from
the database and timed; `ask` goes through `bot.handlers.ask.search` with a real viewer
(visibility filters on) for every question, query encoding included; recall@10 of each
encoder's index against exact search, per language as the product searches; one lesson and a
batch of 100 are added (encoded by the real encoders, persisted) and removed again. Prints a
table and writes bench/results/run.json.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table
from threadpoolctl import threadpool_limits

from adapters.runtime import Runtime, build
from bot import bulk
from bot.config import Settings
from bot.handlers.ask import search
from bot.language import detect_language
from bot.models import Member, NewReflection, Reflection, Visibility
from bot.ports import Ranking
from embeddings.index import _PART_NAMES, BM25, LessonIndex, content_hash, language_code
from storage.tables import EmbeddingRow, ReflectionRow

HERE = Path(__file__).resolve().parent
DEFAULT_DATA = HERE.parent.parent / "shared" / "data"
DATA_FILES = ("vr_grip_nl.jsonl", "safenet.jsonl", "nasa_llis.jsonl")
CACHE = HERE / ".cache" / "scale"
ENCODERS = "e5,minilm"
GENERATOR = 1  # bump when the generated lessons change: cached databases are made again
SIZES = (10_000, 100_000, 1_000_000)
K = 10
BATCH = 100
VISIBILITIES = (
    (Visibility.NETWERK, 0.5),
    (Visibility.ORGANISATIE, 0.2),
    (Visibility.ANONIEM, 0.15),
    (Visibility.PRIVE, 0.15),
)
FloatMatrix = np.ndarray


def rss_mb() -> float:
    """Resident memory of this process now, in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _copy_db(source: Path, target: Path) -> None:
    """A consistent copy of a SQLite database, even while another process writes it."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(f"file:{source}?mode=ro", uri=True) as src, sqlite3.connect(target) as dst:
        src.backup(dst)


# the real records


def base_runtime(data_dir: Path, console: Console) -> Runtime:
    """The real records, imported through the product's path, each with its real vectors."""
    base = CACHE / "base"
    seed = HERE / ".cache" / "eval" / "leerlus.db"
    if not (base / "leerlus.db").exists() and seed.exists():
        console.print(f"seeding the real records' vectors from {seed}")
        _copy_db(seed, base / "leerlus.db")
    rt = build(Settings(data_dir=base, embedding_model=ENCODERS))
    lines: list[str] = []
    for name in DATA_FILES:
        lines += (data_dir / name).read_text(encoding="utf-8").splitlines()
    started = time.perf_counter()
    report = bulk.import_records(lines, store=rt.store, index=rt.index, now=rt.bot.clock.now())
    console.print(
        f"real records: {len(lines)}, imported now {report.imported} "
        f"in {time.perf_counter() - started:.0f} s, cached {report.skipped}"
    )
    return rt


@dataclass
class Real:
    reflections: list[Reflection]
    vectors: dict[str, FloatMatrix]  # model id -> one row per reflection
    orgs: list[int]


def real_records(rt: Runtime) -> Real:
    """Every searchable real record with a vector from every encoder."""
    reflections: list[Reflection] = []
    after = 0
    while page := rt.store.searchable_reflections(after, 1000):
        reflections += page
        after = page[-1].id
    vectors: dict[str, dict[int, bytes]] = {}
    for dense in rt.index._dense.values():
        vectors[dense.model_id] = dict(rt.store.iter_embeddings(dense.model_id))
    keep = [r for r in reflections if all(r.id in v for v in vectors.values())]
    matrices = {
        model: np.vstack([np.frombuffer(found[r.id], dtype=np.float32) for r in keep])
        for model, found in vectors.items()
    }
    with rt.engine.connect() as conn:
        orgs = [int(i) for (i,) in conn.exec_driver_sql("SELECT id FROM organisations")]
    return Real(keep, matrices, orgs)


# generated lessons

_SENTENCE = re.compile(r"(?<=[.!?])\s+")


def _sentences(reflection: Reflection) -> list[str]:
    text = " ".join(p for p in (reflection.lesson, reflection.went_well, reflection.improve) if p)
    found = [s.strip() for s in _SENTENCE.split(text) if 20 <= len(s.strip()) <= 400]
    return found or [text[:300]]


def size_dir(size: int) -> Path:
    return CACHE / f"n{size}"


def make_size(size: int, real: Real, base: Path, console: Console) -> Path:
    """The database for `size` lessons: the real ones plus variants (cached)."""
    target = size_dir(size)
    marker = target / "generated.json"
    wanted = {"generator": GENERATOR, "size": size, "real": len(real.reflections)}
    if marker.exists() and json.loads(marker.read_text()) == wanted:
        return target
    started = time.perf_counter()
    shutil.rmtree(target, ignore_errors=True)
    _copy_db(base / "leerlus.db", target / "leerlus.db")
    rt = build(Settings(data_dir=target, embedding_model=ENCODERS))
    rng = np.random.default_rng(size)
    pick = random.Random(size)
    sentences = [_sentences(r) for r in real.reflections]
    by_language: dict[str, list[int]] = {}
    for n, r in enumerate(real.reflections):
        by_language.setdefault(r.language, []).append(n)
    kinds = [v for v, _ in VISIBILITIES]
    weights = [w for _, w in VISIBILITIES]
    with rt.engine.connect() as conn:
        next_id = int(conn.exec_driver_sql("SELECT max(id) FROM reflections").scalar() or 0) + 1
    missing = size - len(real.reflections)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    chunk = 20_000
    for start in range(0, max(missing, 0), chunk):
        count = min(chunk, missing - start)
        first = rng.integers(0, len(real.reflections), count)
        rows, embeddings = [], []
        mixes: list[tuple[int, int, int]] = []
        for offset, i in enumerate(first.tolist()):
            same = by_language[real.reflections[i].language]
            j, k = pick.choice(same), pick.choice(same)
            source = real.reflections[i]
            fields = {
                "lesson": pick.choice(sentences[i]),
                "went_well": pick.choice(sentences[j]),
                "improve": pick.choice(sentences[k]),
            }
            rid = next_id + start + offset
            created = now - timedelta(minutes=int(rid))
            rows.append(
                {
                    "id": rid,
                    "org_id": pick.choice(real.orgs),
                    "member_id": None,
                    "incident_id": None,
                    "title": None,
                    "visibility": str(pick.choices(kinds, weights)[0]),
                    "loop_level": None,
                    "themes": [],
                    "language": source.language,
                    "draft": False,
                    "draft_step": None,
                    "thanks": None,
                    "external_id": None,
                    "source": "bench",
                    "hidden": False,
                    "created_at": created,
                    "updated_at": created,
                    **fields,
                }
            )
            mixes.append((i, j, k))
        index = np.asarray(mixes)
        for model, matrix in real.vectors.items():
            mixed = (
                0.6 * matrix[index[:, 0]] + 0.2 * matrix[index[:, 1]] + 0.2 * matrix[index[:, 2]]
            )
            mixed += rng.normal(0, 0.15 / np.sqrt(matrix.shape[1]), mixed.shape)
            mixed /= np.linalg.norm(mixed, axis=1, keepdims=True)
            mixed = mixed.astype(np.float32)
            for row, vector in zip(rows, mixed, strict=True):
                # The product's own text and key, so the index finds these vectors stored.
                text = Reflection.search_text(SimpleNamespace(**row))  # type: ignore[arg-type]
                embeddings.append(
                    {
                        "reflection_id": row["id"],
                        "model": model,
                        "content_hash": content_hash(model, text),
                        "dim": int(matrix.shape[1]),
                        "vector": vector.tobytes(),
                    }
                )
        with rt.engine.begin() as conn:
            conn.execute(ReflectionRow.__table__.insert(), rows)
            conn.execute(EmbeddingRow.__table__.insert(), embeddings)
        console.print(f"  n={size}: {start + count}/{missing} variants", end="\r")
    rt.engine.dispose()
    marker.write_text(json.dumps(wanted))
    console.print(f"generated {size} lessons in {time.perf_counter() - started:.0f} s")
    return target


# measuring one size (in its own process)


def questions(real: list[Reflection], count: int) -> list[str]:
    """The judged questions, then titles / first sentences of real records as questions."""
    data = json.loads((HERE / "questions.json").read_text(encoding="utf-8"))
    found = [q["question"] for q in data["questions"]]
    pick = random.Random(7)
    while len(found) < count:
        r = pick.choice(real)
        found.append((r.title or _sentences(r)[0])[:200])
    return found[:count]


class BruteForce:
    """The baseline: the product's own index object, but each encoder's dense search done
    by brute force in numpy (matmul + argpartition) over the same vectors, per language
    like the product. BM25, query encoding, translation and the core stay the same."""

    def __init__(self, index: LessonIndex, parts: dict[str, dict[int, tuple[Any, Any]]]) -> None:
        self._index = index
        self._parts = parts

    def __enter__(self) -> BruteForce:
        for name, dense in self._index._dense.items():

            def exact(query: Any, k: int, code: int, found: Any = self._parts[name]) -> Any:
                if code not in found:
                    return []
                ids, matrix = found[code]
                return exact_top(ids, matrix, query[0], k)

            dense.search_part = exact  # type: ignore[method-assign]
        return self

    def __exit__(self, *_: object) -> None:
        for dense in self._index._dense.values():
            del dense.search_part


class Memo:
    """An encoder that remembers query vectors: to time `ask` without encoding as well."""

    def __init__(self, encoder: Any) -> None:
        self.encoder = encoder
        self.replay = False
        self._vectors: dict[str, Any] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self.encoder, name)

    def encode_queries(self, texts: Sequence[str]) -> Any:
        if self.replay and all(t in self._vectors for t in texts):
            return np.vstack([self._vectors[t] for t in texts])
        vectors = self.encoder.encode_queries(texts)
        self._vectors.update(zip(texts, vectors, strict=True))
        return vectors

    def encode_passages(self, texts: Sequence[str]) -> Any:
        return self.encoder.encode_passages(texts)


def exact_top(ids: Any, matrix: FloatMatrix, vector: FloatMatrix, k: int) -> Ranking:
    scores = matrix @ vector
    k = min(k, len(scores))
    if k == 0:
        return []
    top = np.argpartition(-scores, k - 1)[:k]
    top = top[np.argsort(-scores[top], kind="stable")]
    return [(int(ids[i]), float(scores[i])) for i in top]


def percentiles(values: Sequence[float]) -> dict[str, float]:
    ms = np.asarray(values) * 1000
    return {f"p{p}": round(float(np.percentile(ms, p)), 1) for p in (50, 95, 99)}


def timed(fn: Any, *args: Any) -> float:
    started = time.perf_counter()
    fn(*args)
    return time.perf_counter() - started


def measure(size: int, count: int, encoders: str = ENCODERS) -> dict[str, Any]:
    """Every figure for one size; run in a fresh process. `encoders`: all or some of
    ENCODERS (the databases hold the vectors of each)."""
    target = size_dir(size)
    rt = build(Settings(data_dir=target, embedding_model=encoders))
    index: LessonIndex = rt.index
    for dense in index._dense.values():
        dense.encoder.encode_queries(["warm up"])  # load the models before measuring memory
    rss_start = rss_mb()
    shutil.rmtree(target / "index", ignore_errors=True)
    build_s = timed(index.rebuild)
    rss_index = rss_mb() - rss_start
    result: dict[str, Any] = {"size": index.stats()[BM25], "policy": {}}
    for name, dense in index._dense.items():
        for code, part in sorted(dense.parts.items()):
            about = {"count": part.count, "kind": part.kind, "trained_for": part.trained_for}
            if part.kind == "ivf":
                about |= {"nlist": part.index.nlist, "nprobe": part.index.nprobe}
            result["policy"][f"{name}.{_PART_NAMES[code]}"] = about

    # the baseline's "build": the vectors from the database into numpy matrices
    with rt.engine.connect() as conn:
        language = dict(conn.exec_driver_sql("SELECT id, language FROM reflections").all())
    rss_before = rss_mb()
    started = time.perf_counter()
    parts: dict[str, dict[int, tuple[Any, Any]]] = {}
    for name, dense in index._dense.items():
        pairs = list(rt.store.iter_embeddings(dense.model_id, batch=20_000))
        ids = np.fromiter((i for i, _ in pairs), dtype=np.int64, count=len(pairs))
        matrix = np.frombuffer(b"".join(v for _, v in pairs), dtype=np.float32)
        matrix = matrix.reshape(len(pairs), -1)
        del pairs
        # Grouped like the index's parts (one per language, see embeddings.index).
        codes = np.asarray([language_code(language[int(i)]) for i in ids])
        parts[name] = {
            c: (ids[codes == c], matrix[codes == c]) for c in sorted(set(codes.tolist()))
        }
    numpy_build_s = time.perf_counter() - started
    rss_numpy = rss_mb() - rss_before
    baseline = BruteForce(index, parts)
    # From here on numpy's BLAS runs on one thread, as faiss's searches do. With two, its
    # threads keep spinning after each product and take a core from the next question's
    # encoding (e5 alone after a 100k-row product: 38 -> 103 ms p50 on an AVX2 machine),
    # which made the baseline's asks and the encoding figure look slower than they are.
    threadpool_limits(limits=1, user_api="blas")

    asked = questions(index_reflections(rt, 4000), count)
    with rt.engine.connect() as conn:
        org = conn.exec_driver_sql(
            "SELECT org_id FROM reflections WHERE visibility = 'organisatie' "
            "GROUP BY org_id ORDER BY count(*) DESC LIMIT 1"
        ).scalar()
    viewer = Member(id=10**9, org_id=int(org or 1), name="bench")
    config = rt.bot.ranking

    def ask_all(idx: Any) -> list[float]:
        times = []
        for q in asked[:5]:  # warm caches
            search(q, viewer, store=rt.store, index=idx, config=config)
        # Every pass asks afresh: the index remembers recent questions' vectors ("more").
        idx._query_vectors.clear()
        for q in asked:
            started = time.perf_counter()
            with rt.store.transaction():
                search(q, viewer, store=rt.store, index=idx, config=config)
            times.append(time.perf_counter() - started)
        return times

    memos = []
    for dense in index._dense.values():
        dense.encoder = Memo(dense.encoder)
        memos.append(dense.encoder)
    ask_index = ask_all(index)
    with baseline:
        ask_numpy = ask_all(index)
    for memo in memos:
        memo.replay = True
    # The same questions again, their query vectors remembered: everything but encoding.
    core_index = ask_all(index)
    with baseline:
        core_numpy = ask_all(index)

    # where the time of one ask goes, and recall of the index against exact search
    encode_t, bm25_t, dense_t, numpy_t, recalls = [], [], [], [], []
    for n, q in enumerate(asked):
        dense_s = exact_s = 0.0
        if n < 30:  # encoding as `rankings` does it, timed on the first questions
            for memo in memos:
                memo.replay = False
            index._query_vectors.clear()
            encode_t.append(timed(index.encode_question, q))
            for memo in memos:
                memo.replay = True
        for name, dense in index._dense.items():
            vector = np.asarray(dense.encoder.encode_queries([q]), dtype=np.float32)  # memo
            for code, (ids, matrix) in parts[name].items():
                started = time.perf_counter()
                got = dense.search_part(vector, config.candidates, code)
                dense_s += time.perf_counter() - started
                started = time.perf_counter()
                exact = exact_top(ids, matrix, vector[0], config.candidates)
                exact_s += time.perf_counter() - started
                truth = {i for i, _ in exact[:K]}
                if truth:
                    recalls.append(len(truth & {i for i, _ in got[:K]}) / len(truth))
        bm25_t.append(timed(index._bm25.search, q, config.candidates, detect_language(q)))
        dense_t.append(dense_s)
        numpy_t.append(exact_s)

    for dense, memo in zip(index._dense.values(), memos, strict=True):
        dense.encoder = memo.encoder

    # incremental adds: real encoders, then removed again, then the files written
    sample = index_reflections(rt, 200)
    now = rt.bot.clock.now()

    def new_lessons(n: int, tag: str) -> list[Reflection]:
        made = []
        for i in range(n):
            r = sample[i % len(sample)]
            made.append(
                rt.store.add_reflection(
                    NewReflection(
                        org_id=r.org_id,
                        member_id=None,
                        lesson=f"{_sentences(r)[0]} ({tag} {i})",
                        went_well=r.went_well[:200],
                        language=r.language,
                        source="bench-add",
                    ),
                    now,
                )
            )
        return made

    one = new_lessons(1, "one")
    add_one_s = timed(index.add, one)
    batch = new_lessons(BATCH, "batch")
    add_batch_s = timed(index.add, batch)
    remove_s = timed(index.remove, [r.id for r in one + batch])
    # Adds are searchable at once; the files follow at most every persist_interval s.
    flush_s = timed(index.flush)
    for r in one + batch:
        rt.store.delete_reflection(r.id)
    # baseline add: encode, then append to the matrices
    texts = [r.search_text() for r in batch]

    def numpy_add(items: list[str]) -> None:
        for name, dense in index._dense.items():
            vectors = np.asarray(dense.encoder.encode_passages(items), dtype=np.float32)
            first = next(iter(parts[name]))
            ids, matrix = parts[name][first]
            parts[name][first] = (
                np.concatenate([ids, ids[: len(items)]]),
                np.vstack([matrix, vectors]),
            )

    numpy_add_one_s = timed(numpy_add, texts[:1])
    numpy_add_batch_s = timed(numpy_add, texts)

    return {
        **result,
        "questions": len(asked),
        "ask_ms": percentiles(ask_index),
        "ask_numpy_ms": percentiles(ask_numpy),
        "ask_no_encoding_ms": percentiles(core_index),
        "ask_no_encoding_numpy_ms": percentiles(core_numpy),
        "encode_ms": percentiles(encode_t),
        "bm25_ms": percentiles(bm25_t),
        "dense_ms": percentiles(dense_t),
        "dense_numpy_ms": percentiles(numpy_t),
        "recall@10": round(float(np.mean(recalls)), 4) if recalls else None,
        "build_s": round(build_s, 1),
        "build_numpy_s": round(numpy_build_s, 1),
        "add_one_s": round(add_one_s, 3),
        "add_batch_s": round(add_batch_s, 3),
        "remove_s": round(remove_s, 3),
        "flush_s": round(flush_s, 3),
        "add_one_numpy_s": round(numpy_add_one_s, 3),
        "add_batch_numpy_s": round(numpy_add_batch_s, 3),
        "rss_index_mb": round(rss_index),
        "rss_numpy_mb": round(rss_numpy),
        "rss_total_mb": round(rss_mb()),
    }


def index_reflections(rt: Runtime, limit: int) -> list[Reflection]:
    return rt.store.searchable_reflections(0, limit)


# the table


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b else "-"


def show(results: list[dict[str, Any]], console: Console) -> None:
    table = Table(title="Scale: the product's index vs brute-force numpy (same run)")
    for column in ("figure", *(f"{r['size']:,} lessons" for r in results)):
        table.add_column(column)

    def pair(key: str, base: str, unit: str, fmt: str = "{:.1f}") -> list[str]:
        cells = []
        for r in results:
            a, b = r[key], r[base]
            cells.append(f"{fmt.format(a)} / {fmt.format(b)} {unit} ({ratio(a, b)})")
        return cells

    rows: list[tuple[str, list[str]]] = [
        ("index type (per encoder)", [_policy(r) for r in results]),
        ("questions", [str(r["questions"]) for r in results]),
    ]
    for p in ("p50", "p95", "p99"):
        rows.append(
            (
                f"ask {p}: index / numpy",
                [
                    f"{r['ask_ms'][p]} / {r['ask_numpy_ms'][p]} ms "
                    f"({ratio(r['ask_ms'][p], r['ask_numpy_ms'][p])})"
                    for r in results
                ],
            )
        )
    for p in ("p50", "p95"):
        rows.append(
            (
                f"ask {p} without query encoding",
                [
                    f"{r['ask_no_encoding_ms'][p]} / {r['ask_no_encoding_numpy_ms'][p]} ms "
                    f"({ratio(r['ask_no_encoding_ms'][p], r['ask_no_encoding_numpy_ms'][p])})"
                    for r in results
                ],
            )
        )
    rows += [
        (
            "dense search p50 (all) / numpy",
            [
                f"{r['dense_ms']['p50']} / {r['dense_numpy_ms']['p50']} ms "
                f"({ratio(r['dense_ms']['p50'], r['dense_numpy_ms']['p50'])})"
                for r in results
            ],
        ),
        (
            "query encoding p50 (encoders side by side)",
            [f"{r['encode_ms']['p50']} ms" for r in results],
        ),
        ("BM25 p50 / p95", [f"{r['bm25_ms']['p50']} / {r['bm25_ms']['p95']} ms" for r in results]),
        ("recall@10 vs exact", [str(r["recall@10"]) for r in results]),
        ("build: index / numpy load", pair("build_s", "build_numpy_s", "s")),
        ("add 1 lesson: index / numpy", pair("add_one_s", "add_one_numpy_s", "s", "{:.3f}")),
        (f"add {BATCH}: index / numpy", pair("add_batch_s", "add_batch_numpy_s", "s", "{:.3f}")),
        ("remove 101", [f"{r['remove_s']:.3f} s" for r in results]),
        ("write the changed files (flush)", [f"{r['flush_s']:.3f} s" for r in results]),
        ("RSS: index / numpy", pair("rss_index_mb", "rss_numpy_mb", "MB", "{:.0f}")),
        ("RSS of the process", [f"{r['rss_total_mb']} MB" for r in results]),
    ]
    for label, cells in rows:
        table.add_row(label, *cells)
    console.print(table)


def _policy(r: dict[str, Any]) -> str:
    parts = []
    for name, p in r["policy"].items():
        extra = f" nlist={p['nlist']} nprobe={p['nprobe']}" if p["kind"] == "ivf" else ""
        parts.append(f"{name} {p['count']:,}: {p['kind']}{extra}")
    return "; ".join(parts)


def main() -> None:
    """Run the benchmark from the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(str(s) for s in SIZES))
    parser.add_argument("--questions", type=int, default=100)
    parser.add_argument(
        "--encoders", default=ENCODERS, help=f"measure with some of {ENCODERS} only"
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--output", type=Path, default=HERE / "results" / "run.json")
    parser.add_argument("--measure", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.questions, args.encoders)))
        return
    console = Console(width=200)
    if not args.data.is_dir():
        raise SystemExit(f"no data directory at {args.data}")
    started = time.perf_counter()
    rt = base_runtime(args.data, console)
    real = real_records(rt)
    rt.engine.dispose()
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    results = []
    for size in sizes:
        make_size(size, real, CACHE / "base", console)
        console.print(f"measuring {size:,} lessons ...")
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "bench.run",
                "--measure",
                str(size),
                "--questions",
                str(args.questions),
                "--encoders",
                args.encoders,
            ],
            capture_output=True,
            text=True,
        )
        if out.returncode:
            console.print(out.stderr[-3000:])
            raise SystemExit(f"measuring {size} failed")
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    show(results, console)
    minutes = (time.perf_counter() - started) / 60
    console.print(f"total {minutes:.1f} min")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({"minutes": round(minutes, 1), "sizes": results}, indent=2))
    console.print(f"written to {args.output}")


if __name__ == "__main__":
    main()
