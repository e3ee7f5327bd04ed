"""Search quality on the real records: recall@10, MRR and nDCG@10 per method, one run.

    python -m bench.eval [--data ../shared/data] [--questions bench/questions.json]

Imports every record of the data directory through the product's own import path into a
cached SQLite database (vectors are stored by content hash, so later runs encode nothing
new), then asks every judged question through: BM25 alone, each encoder alone, plain
reciprocal-rank fusion of all of them, and the product's ranking (`bot.handlers.ask.search`,
as a network member sees it). Prints a table and writes bench/results/eval.json.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from adapters.runtime import Runtime, build
from bot import bulk
from bot.config import Settings
from bot.handlers.ask import search
from bot.ranking import fuse

HERE = Path(__file__).resolve().parent
DEFAULT_DATA = HERE.parent.parent / "shared" / "data"
DATA_FILES = ("vr_grip_nl.jsonl", "safenet.jsonl", "nasa_llis.jsonl")
K = 10


@dataclass
class Question:
    id: str
    lang: str
    text: str
    relevant: dict[str, int]
    cross_language: bool | None = False
    off_topic: bool = False


@dataclass
class Scores:
    recall: list[float] = field(default_factory=list)
    mrr: list[float] = field(default_factory=list)
    ndcg: list[float] = field(default_factory=list)

    def add(self, ranked: Sequence[str], relevant: dict[str, int]) -> None:
        """Score one ranked list of external ids against graded judgements."""
        top = list(ranked[:K])
        found = [rid for rid in top if rid in relevant]
        self.recall.append(len(found) / len(relevant))
        first = next((n for n, rid in enumerate(ranked, 1) if rid in relevant), None)
        self.mrr.append(1 / first if first else 0.0)
        dcg = sum(relevant.get(rid, 0) / math.log2(n + 1) for n, rid in enumerate(top, 1))
        ideal = sorted(relevant.values(), reverse=True)[:K]
        idcg = sum(g / math.log2(n + 1) for n, g in enumerate(ideal, 1))
        self.ndcg.append(dcg / idcg if idcg else 0.0)

    def summary(self) -> dict[str, float]:
        n = max(len(self.recall), 1)
        return {
            "recall@10": round(sum(self.recall) / n, 3),
            "mrr": round(sum(self.mrr) / n, 3),
            "ndcg@10": round(sum(self.ndcg) / n, 3),
            "questions": len(self.recall),
        }


def load_questions(path: Path) -> list[Question]:
    """Read the judged question set."""
    data = json.loads(path.read_text(encoding="utf-8"))
    return [
        Question(
            q["id"],
            q["lang"],
            q["question"],
            dict(q["relevant"]),
            q.get("cross_language", False),
            q.get("off_topic", False),
        )
        for q in data["questions"]
    ]


def prepare(data_dir: Path, work: Path, encoders: str, console: Console) -> Runtime:
    """Import all records into the cached evaluation database (only what is missing)."""
    settings = Settings(data_dir=work, embedding_model=encoders)
    rt = build(settings)
    rt.index.load()
    lines: list[str] = []
    for name in DATA_FILES:
        lines += (data_dir / name).read_text(encoding="utf-8").splitlines()
    started = time.perf_counter()
    report = bulk.import_records(lines, store=rt.store, index=rt.index, now=rt.bot.clock.now())
    seconds = time.perf_counter() - started
    console.print(
        f"records: {len(lines)}; imported now {report.imported} in {seconds:.1f} s, "
        f"already cached {report.skipped}"
    )
    return rt


def rankers(rt: Runtime) -> dict[str, Callable[[str], list[int]]]:
    """Every method to compare, as question -> ranked reflection ids."""
    config = rt.bot.ranking
    methods: dict[str, Callable[[str], list[int]]] = {}
    for method in rt.index.methods:
        methods[method] = lambda q, m=method: [rid for rid, _ in rt.index.rankings(q, 100)[m]]
    if len(rt.index.methods) > 1:
        label = "rrf(" + "+".join(rt.index.methods) + ")"
        base = rt.index.methods  # without the rankings of translated questions

        def plain_fusion(q: str) -> list[int]:
            found = rt.index.rankings(q, 100)
            return [rid for rid, _ in fuse({m: found[m] for m in base}, config)]

        methods[label] = plain_fusion
    methods["product"] = lambda q: [
        h.lesson.reflection_id
        for h in search(q, bulk.OBSERVER, store=rt.store, index=rt.index, config=config)
    ]
    return methods


def evaluate(rt: Runtime, questions: list[Question]) -> dict[str, Any]:
    """Score every method on every question; split by language and cross-language."""
    with rt.store.transaction():
        external = {r.id: r.external_id or "" for r in _all_reflections(rt)}
    results: dict[str, Any] = {}
    for name, rank in rankers(rt).items():
        groups = {"all": Scores(), "nl": Scores(), "en": Scores(), "cross": Scores()}
        gate = Gate()
        latencies: list[float] = []
        for q in questions:
            started = time.perf_counter()
            with rt.store.transaction():
                ranked = [external.get(rid, "") for rid in rank(q.text)]
            latencies.append(time.perf_counter() - started)
            gate.add(q, ranked)
            if not q.relevant:
                continue
            for group in ("all", q.lang) + (("cross",) if q.cross_language else ()):
                groups[group].add(ranked, q.relevant)
        results[name] = {
            **{g: s.summary() for g, s in groups.items()},
            **gate.summary(),
            "p50_ms": round(sorted(latencies)[len(latencies) // 2] * 1000, 1),
        }
    return results


@dataclass
class Gate:
    """How well a method says "nothing relevant": per kind of question, answered or not."""

    answered: dict[str, int] = field(default_factory=lambda: {"answerable": 0, "none": 0, "off": 0})
    asked: dict[str, int] = field(default_factory=lambda: {"answerable": 0, "none": 0, "off": 0})
    first_page: list[float] = field(default_factory=list)

    def add(self, q: Question, ranked: Sequence[str]) -> None:
        kind = "answerable" if q.relevant else "off" if q.off_topic else "none"
        self.asked[kind] += 1
        self.answered[kind] += bool(ranked)
        if q.relevant and ranked:
            page = ranked[:3]  # the first page a member sees
            self.first_page.append(sum(rid in q.relevant for rid in page) / len(page))

    def summary(self) -> dict[str, Any]:
        answered = sum(self.answered.values())
        asked, got = self.asked, self.answered
        return {
            "answered": f"{got['answerable']}/{asked['answerable']}",
            "nothing_in_domain": f"{asked['none'] - got['none']}/{asked['none']}",
            "nothing_off_topic": f"{asked['off'] - got['off']}/{asked['off']}",
            # Of the questions answered at all, how many had something relevant to find.
            "answer_precision": round(self.answered["answerable"] / answered, 3) if answered else 0,
            "first_page_precision": round(sum(self.first_page) / len(self.first_page), 3)
            if self.first_page
            else 0,
        }


def _all_reflections(rt: Runtime) -> list[Any]:
    found: list[Any] = []
    after = 0
    while chunk := rt.store.searchable_reflections(after, 1000):
        found += chunk
        after = chunk[-1].id
    return found


def show(results: dict[str, Any], console: Console) -> None:
    """Print one row per method."""
    table = Table(
        title="Search quality (recall@10 / MRR / nDCG@10; 'nothing': questions answered with "
        "nothing found; answer precision: answered questions that had relevant lessons; "
        "P@3: judged relevant on the first page)"
    )
    for column in (
        "method",
        "all",
        "Dutch questions",
        "English questions",
        "cross-language",
        "answered",
        "'nothing' in domain / off topic",
        "answer precision",
        "P@3",
        "p50 ms",
    ):
        table.add_column(column)

    def cell(s: dict[str, float]) -> str:
        return f"{s['recall@10']:.2f} / {s['mrr']:.2f} / {s['ndcg@10']:.2f}"

    for name, r in results.items():
        table.add_row(
            name,
            cell(r["all"]),
            cell(r["nl"]),
            cell(r["en"]),
            cell(r["cross"]),
            r["answered"],
            f"{r['nothing_in_domain']} / {r['nothing_off_topic']}",
            f"{r['answer_precision']:.2f}",
            f"{r['first_page_precision']:.2f}",
            str(r["p50_ms"]),
        )
    console.print(table)


def main() -> None:
    """Run the evaluation from the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--questions", type=Path, default=HERE / "questions.json")
    parser.add_argument("--work", type=Path, default=HERE / ".cache" / "eval")
    parser.add_argument("--encoders", default="e5,minilm")
    parser.add_argument("--output", type=Path, default=HERE / "results" / "eval.json")
    args = parser.parse_args()
    console = Console(width=200)
    if not args.data.is_dir():
        raise SystemExit(f"no data directory at {args.data}")
    rt = prepare(args.data, args.work, args.encoders, console)
    questions = load_questions(args.questions)
    results = evaluate(rt, questions)
    show(results, console)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({"questions": len(questions), "methods": results}, indent=2))
    console.print(f"written to {args.output}")


if __name__ == "__main__":
    main()
