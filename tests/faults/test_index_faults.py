"""The faiss files damaged while the bot runs, and between runs: answers stay the same.

Real parts: SQLite, the SqlStore, the configured encoders (e5 and MiniLM, bundled, offline)
and faiss. tests/embeddings/test_index.py covers each damage at load time with doubles;
here every kind of damage is done to a real index, and the rankings of a set of questions
are compared with those taken before: in the process that keeps running (its index lives
in memory; the next change writes whole files again) and in a new process (it rebuilds
from the database).
"""

from __future__ import annotations

import json
import logging
import os
import random
import shutil
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.models import Discipline, Identity, NewReflection, Visibility
from bot.ports import Encoder, Ranking
from embeddings.encoders import build_encoders
from embeddings.index import LessonIndex
from storage import SqlStore, make_engine, upgrade

NOW = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
QUESTIONS = [
    "evacuatie van een zorginstelling",
    "radioverbinding in een parkeergarage",
    "samenwerking met de politie bij een afzetting",
    "water rescue with divers",
]
TOPICS = [
    ("De evacuatie van het verpleeghuis liep vertraging op", "Maak vooraf lijsten van bewoners"),
    ("De portofoons vielen uit in de parkeergarage", "Neem een repeater mee naar kelders"),
    ("De afzetting met de politie was te krap", "Spreek de afzetting samen af bij aankomst"),
    ("Divers were alerted too late at the canal", "Alert the dive team with the first call"),
    ("In het CoPI kwam de informatie laat binnen", "Deel het beeld elk half uur"),
    ("De bluswatervoorziening op het industrieterrein was onbekend", "Oefen op het terrein"),
    ("The shelter for evacuees opened late", "Agree on the shelter with the municipality"),
    ("Het verkeer rond de brand liep vast", "Zet verkeersregelaars eerder in"),
]
ENGLISH = {3, 6}
Damage = Callable[[Path, Path], None]


def lessons() -> list[NewReflection]:
    out = []
    for n in range(4):
        for i, (improve, lesson) in enumerate(TOPICS):
            out.append(
                NewReflection(
                    org_id=1,
                    member_id=1,
                    went_well=f"Inzet {n}: de opkomst was snel",
                    improve=improve,
                    lesson=f"{lesson} (variant {n}.{i})",
                    visibility=Visibility.NETWERK,
                    language="en" if i in ENGLISH else "nl",
                )
            )
    return out


@pytest.fixture(scope="module")
def encoders() -> list[Encoder]:
    return build_encoders(["e5", "minilm"])


@pytest.fixture(scope="module")
def seeded(
    tmp_path_factory: pytest.TempPathFactory, encoders: list[Encoder]
) -> tuple[Path, dict[str, dict[str, Ranking]]]:
    """A database with 32 lessons and their vectors, its index files, and the answers."""
    root = tmp_path_factory.mktemp("seeded")
    engine = make_engine(f"sqlite:///{root / 'leerlus.db'}")
    upgrade(engine)
    store = SqlStore(engine)
    with store.transaction():
        org = store.add_org("Brandweer Oost", "bw-oost", Discipline.BRANDWEER)
        member = store.add_member(org.id, "Anna", Identity("console", "anna"))
        assert (org.id, member.id) == (1, 1)
        for new in lessons():
            store.add_reflection(new, NOW)
    index = LessonIndex(store, encoders, root)
    index.load()
    baseline = answers(index)
    # BM25 and every encoder find something for every question: the comparisons below are
    # not between empty lists.
    main = ["bm25", *(e.name for e in encoders)]
    assert all(methods[name] for methods in baseline.values() for name in main)
    engine.dispose()
    return root, baseline


@pytest.fixture
def store(seeded: tuple[Path, dict[str, dict[str, Ranking]]], tmp_path: Path) -> Iterator[SqlStore]:
    """A copy of the seeded database and index files in this test's directory."""
    shutil.copy(seeded[0] / "leerlus.db", tmp_path / "leerlus.db")
    shutil.copytree(seeded[0] / "index", tmp_path / "index")
    engine = make_engine(f"sqlite:///{tmp_path / 'leerlus.db'}")
    yield SqlStore(engine)
    engine.dispose()


def answers(index: LessonIndex) -> dict[str, dict[str, Ranking]]:
    return {q: index.rankings(q, 10) for q in QUESTIONS}


def assert_same(got: dict[str, dict[str, Ranking]], want: dict[str, dict[str, Ranking]]) -> None:
    assert got.keys() == want.keys()
    for question, methods in want.items():
        for method, ranking in methods.items():
            other = got[question][method]
            assert [i for i, _ in other] == [i for i, _ in ranking], (question, method)
            for (_, a), (_, b) in zip(other, ranking, strict=True):
                assert a == pytest.approx(b, abs=1e-5)


def delete(faiss_file: Path, sidecar: Path) -> None:
    faiss_file.unlink()


def truncate(faiss_file: Path, sidecar: Path) -> None:
    data = faiss_file.read_bytes()
    faiss_file.write_bytes(data[: len(data) // 3])


def random_bytes(faiss_file: Path, sidecar: Path) -> None:
    size = faiss_file.stat().st_size
    faiss_file.write_bytes(random.Random(7).randbytes(size))


def sidecar_count(faiss_file: Path, sidecar: Path) -> None:
    meta = json.loads(sidecar.read_text())
    meta["parts"]["nl"]["count"] -= 1
    sidecar.write_text(json.dumps(meta))


def sidecar_marker(faiss_file: Path, sidecar: Path) -> None:
    """The sidecar of an older write (or of another database): the change log decides."""
    meta = json.loads(sidecar.read_text())
    sidecar.write_text(json.dumps({**meta, "synced_to": 10_000}))


def sidecar_model(faiss_file: Path, sidecar: Path) -> None:
    meta = json.loads(sidecar.read_text())
    sidecar.write_text(json.dumps({**meta, "model_id": "someone/else"}))


def sidecar_garbage(faiss_file: Path, sidecar: Path) -> None:
    sidecar.write_bytes(os.urandom(40))


def both_deleted(faiss_file: Path, sidecar: Path) -> None:
    faiss_file.unlink()
    sidecar.unlink()


DAMAGES: list[Damage] = [
    delete,
    truncate,
    random_bytes,
    sidecar_model,
    sidecar_garbage,
    sidecar_marker,
    both_deleted,
]
# Harmless: the lessons in the files are compared with the database's on load anyway.
HARMLESS: list[Damage] = [sidecar_count]


def damage_all(index_dir: Path, damage: Damage, names: list[str]) -> None:
    for name in names:  # the Dutch file (most lessons) and the sidecar
        damage(index_dir / f"{name}.nl.faiss", index_dir / f"{name}.json")


@pytest.mark.parametrize("damage", DAMAGES, ids=lambda d: d.__name__)
def test_damaged_underneath_a_running_index(
    damage: Damage,
    seeded: tuple[Path, dict[str, dict[str, Ranking]]],
    store: SqlStore,
    encoders: list[Encoder],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    running = LessonIndex(store, encoders, tmp_path)
    running.load()
    names = [e.name for e in encoders]
    damage_all(tmp_path / "index", damage, names)
    # The running process searches its memory: the same answers as before the damage.
    assert_same(answers(running), seeded[1])
    # The next change (a new lesson), once written, leaves whole, valid files again.
    with store.transaction():
        new = store.add_reflection(
            NewReflection(
                org_id=1,
                member_id=1,
                went_well="Snelle opkomst",
                improve="De repeater in de kelder ontbrak",
                lesson="Leg een repeater klaar voor kelders en garages",
                visibility=Visibility.NETWERK,
            ),
            NOW,
        )
    running.add([new])
    running.flush()  # on exit, or at most persist_interval after a change
    after = answers(running)
    assert any(new.id in {i for i, _ in r} for m in after.values() for r in m.values())
    # A restart loads those files as they are: no rebuild, the same answers.
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="embeddings.index"):
        restarted = LessonIndex(store, encoders, tmp_path)
        restarted.load()
    assert not [r for r in caplog.records if "rebuilding" in r.getMessage()]
    assert restarted.stats() == running.stats() == {"bm25": 33, **dict.fromkeys(names, 33)}
    assert_same(answers(restarted), after)


@pytest.mark.parametrize("damage", DAMAGES, ids=lambda d: d.__name__)
def test_damaged_between_runs(
    damage: Damage,
    seeded: tuple[Path, dict[str, dict[str, Ranking]]],
    store: SqlStore,
    encoders: list[Encoder],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    before = seeded[1]
    names = [e.name for e in encoders]
    damage_all(tmp_path / "index", damage, names)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="embeddings.index"):
        second = LessonIndex(store, encoders, tmp_path)
        second.load()
    rebuilt = [r.getMessage() for r in caplog.records if "rebuilding" in r.getMessage()]
    assert len(rebuilt) == len(names), rebuilt
    assert second.stats() == {"bm25": 32, **dict.fromkeys(names, 32)}
    assert_same(answers(second), before)
    # The rebuilt files are whole again: a third start loads them without a rebuild.
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="embeddings.index"):
        third = LessonIndex(store, encoders, tmp_path)
        third.load()
    assert not [r for r in caplog.records if "rebuilding" in r.getMessage()]
    assert_same(answers(third), before)


@pytest.mark.parametrize("damage", HARMLESS, ids=lambda d: d.__name__)
def test_a_wrong_count_in_the_sidecar_needs_no_rebuild(
    damage: Damage,
    seeded: tuple[Path, dict[str, dict[str, Ranking]]],
    store: SqlStore,
    encoders: list[Encoder],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    damage_all(tmp_path / "index", damage, [e.name for e in encoders])
    with caplog.at_level(logging.INFO, logger="embeddings.index"):
        again = LessonIndex(store, encoders, tmp_path)
        again.load()
    assert not [r for r in caplog.records if "rebuilding" in r.getMessage()]
    assert_same(answers(again), seeded[1])
