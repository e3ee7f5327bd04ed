"""The load test (bench/load.py), count-bounded: real processes, nothing lost or duplicated.

The smoke run starts the fake Slack and Telegram APIs and `leerlus run` as processes on a
fresh PostgreSQL database, drives 30 actions of 6 concurrent users (a fifth of the requests
delivered twice at once) and checks the outcome, not the timings. Needs
LEERLUS_TEST_POSTGRES_URL (the load database is created next to it and dropped again).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from rich.console import Console

from bench.load import Options, database_checks, fake_checks, run
from bench.load_users import Person, Stats
from bot.models import Discipline, Identity, NewReflection
from storage import SqlStore, make_engine, upgrade


def test_the_checker_finds_lost_duplicated_and_half_reflections_and_kudos(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'check.db'}"
    engine = make_engine(url)
    upgrade(engine)
    store = SqlStore(engine)
    now = datetime.now(UTC)
    with store.transaction():
        org = store.add_org("Brandweer", "bw", Discipline.BRANDWEER)
        eva = store.add_member(org.id, "Eva", Identity("slack", "U1"))
        bram = store.add_member(org.id, "Bram", Identity("telegram", "2"))
        for lesson, draft in (
            ("Once LOADabN1", False),
            ("Twice LOADabN2", False),
            ("Twice LOADabN2", False),
            ("Half LOADabN4", True),
            ("Not acked LOADabN5", False),
            ("Another run LOADcdN1", False),
        ):
            store.add_reflection(
                NewReflection(org_id=org.id, member_id=eva.id, lesson=lesson, draft=draft), now
            )
        store.add_kudos(eva.id, bram.id, "dank LOADabN6", now)
        store.add_kudos(eva.id, bram.id, "dank LOADabN7", now)
        store.add_kudos(eva.id, bram.id, "dank LOADabN7", now)
    engine.dispose()
    stats = Stats()
    stats.reflections += ["LOADabN1", "LOADabN2", "LOADabN3", "LOADabN4"]
    receiver = Person("telegram", "2", "Bram")
    stats.kudos += [("LOADabN6", receiver), ("LOADabN7", receiver), ("LOADabN8", receiver)]

    found = database_checks(url, "ab", stats)

    assert found["reflections_accepted"] == 4
    assert found["reflections_lost"] == ["LOADabN3", "LOADabN4"]
    assert found["reflections_duplicated"] == ["LOADabN2"]
    assert found["reflections_half"] == ["LOADabN4"]
    assert found["reflections_saved_unacknowledged"] == ["LOADabN5"]
    assert found["kudos_lost"] == ["LOADabN8"]
    assert found["kudos_duplicated"] == ["LOADabN7"]


def test_the_checker_finds_missing_and_doubled_answers_and_notices() -> None:
    stats = Stats()
    stats.expected_slack.update({"dm:DU1": 2, "hook:U2": 1, "trigger:t3": 1})
    stats.callbacks += ["cb1", "cb2", "cb3"]
    slack_receiver, telegram_receiver = Person("slack", "U9", "Ida"), Person("telegram", "9", "Tim")
    stats.kudos += [("LOADabN1", slack_receiver), ("LOADabN2", telegram_receiver)]
    stats.kudos += [("LOADabN3", telegram_receiver)]
    slack = [
        {"at": 1.0, "method": "chat.postMessage", "channel": "DU1", "text": "antwoord"},
        {"at": 1.1, "method": "chat.postMessage", "channel": "DU1", "text": "antwoord"},
        {"at": 1.2, "method": "chat.postMessage", "channel": "DU1", "text": "nog eens"},
        {"at": 1.3, "method": "views.open", "trigger_id": "t3", "view": {}},
        {"at": 1.4, "method": "chat.postMessage", "channel": "DU9", "text": "Kudos LOADabN1"},
    ]
    telegram = [
        {"at": 2.0, "method": "answerCallbackQuery", "callback_query_id": "cb1", "ok": True},
        {"at": 2.1, "method": "answerCallbackQuery", "callback_query_id": "cb2", "ok": True},
        {"at": 2.2, "method": "answerCallbackQuery", "callback_query_id": "cb2", "ok": True},
        {"at": 2.3, "method": "sendMessage", "chat_id": 9, "text": "Kudos LOADabN2", "ok": True},
        {"at": 2.4, "method": "sendMessage", "chat_id": 9, "text": "Kudos LOADabN2", "ok": True},
        {"at": 2.5, "method": "sendMessage", "chat_id": 8, "text": "Kudos LOADabN3", "ok": True},
    ]

    found = fake_checks(stats, slack, telegram)

    assert found["slack_replies_expected"] == 4
    assert found["slack_replies_too_many"] == 1  # a third message in DU1
    assert found["slack_replies_too_few"] == 1  # nothing at U2's response_url
    assert found["telegram_presses_unanswered"] == 1  # cb3
    assert found["telegram_presses_answered_twice"] == 1  # cb2
    assert found["kudos_notices_missing"] == 1  # LOADabN3 went to another chat
    assert found["kudos_notices_twice"] == 1  # LOADabN2


def test_a_short_load_run_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    admin_url = os.environ.get("LEERLUS_TEST_POSTGRES_URL")
    if not admin_url:
        pytest.skip("LEERLUS_TEST_POSTGRES_URL not set: the load test runs on PostgreSQL")
    opts = Options(
        users=6,
        duration=90.0,  # a bound only: the run ends after 30 actions
        actions=30,
        think=0.0,
        redeliver=0.2,
        encoders="",
        baseline=3,
        admin_url=admin_url,
        out=tmp_path / "load.json",
        seed=11,
    )

    result = run(opts, Console(quiet=True))

    assert result["problems"] == [] and result["passed"]
    load, db, fakes = result["load"], result["database"], result["fakes"]
    assert sum(load["actions"].values()) == 30
    assert load["errors"] == {} and result["baseline"]["errors"] == {}
    assert load["redelivered"] > 0  # the exactly-once path was exercised
    assert db["reflections_accepted"] > 0 and db["kudos_accepted"] > 0
    assert not db["reflections_lost"] and not db["reflections_duplicated"]
    assert not db["reflections_half"] and not db["kudos_lost"] and not db["kudos_duplicated"]
    assert db["index"]["agrees"] and db["index"]["lessons"] >= db["reflections_accepted"]
    assert fakes["slack_replies_expected"] > 0 and fakes["telegram_button_presses"] > 0
    assert fakes["slack_replies_too_few"] == 0 and fakes["slack_replies_too_many"] == 0
    assert fakes["kudos_notices_missing"] == 0 and fakes["kudos_notices_twice"] == 0
    # every action of the load was measured until its answer reached the fake chat API
    overall = load["latency"]["overall"]
    assert overall["count"] >= 30 and overall["reply_p50_ms"] is not None
    assert result["server_log"]["levels"].get("ERROR", 0) == 0
    assert result["server_exit_code"] == 0
