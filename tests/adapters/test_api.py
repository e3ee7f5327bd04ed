"""POST /api/incidents through a real aiohttp server, on a real (SQLite) database."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from adapters.runtime import Runtime, build
from adapters.server import load_adapters, make_app
from bot.config import Settings
from bot.models import Discipline, Identity, PromptState
from tests.fakes import FixedClock

TOKEN = "s3cret-token-for-tests"
NOW = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)


def runtime(tmp_path: Path, token: str | None) -> Runtime:
    settings = Settings(data_dir=tmp_path / "data", embedding_model="", api_token=token)
    rt = build(settings)
    rt.bot.clock = FixedClock(NOW)
    with rt.store.transaction():
        fire = rt.store.add_org("Brandweer Midden", "brandweer", Discipline.BRANDWEER)
        police = rt.store.add_org("Politie Midden", "politie", Discipline.POLITIE)
        rt.store.add_member(fire.id, "Piet", Identity("slack", "U01PIET"))
        rt.store.add_member(police.id, "Anna", Identity("telegram", "4242"))
        rt.store.add_member(police.id, "Bas", Identity("console", "bas"))
    return rt


@pytest.fixture
def rt(tmp_path: Path) -> Iterator[Runtime]:
    rt = runtime(tmp_path, TOKEN)
    yield rt
    rt.engine.dispose()


async def serve(rt: Runtime) -> TestClient[Any, Any]:
    adapters, status = load_adapters(rt)
    app = make_app(rt, status)
    for adapter in adapters:
        adapter.add_routes(app)
    client: TestClient[Any, Any] = TestClient(TestServer(app))
    await client.start_server()
    return client


@pytest_asyncio.fixture
async def client(rt: Runtime) -> AsyncIterator[TestClient[Any, Any]]:
    client = await serve(rt)
    yield client
    await client.close()


def body(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "organisation": "brandweer",
        "title": "Uitslaande brand Lage Weide",
        "kind": "incident",
        "occurred_at": "2026-11-30T08:15:00+01:00",
        "participants": ["slack:U01PIET", "telegram:4242", "console:bas"],
    }
    return {**base, **changes}


def auth(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.asyncio
async def test_registers_an_incident_with_a_prompt_per_participant(
    client: TestClient[Any, Any], rt: Runtime
) -> None:
    response = await client.post("/api/incidents", json=body(), headers=auth())
    assert response.status == 201
    answer = await response.json()
    assert answer["prompts"] == 3
    with rt.store.transaction():
        incident = rt.store.get_incident(answer["incident_id"])
        assert incident is not None and incident.title == "Uitslaande brand Lage Weide"
        assert incident.occurred_at == datetime(2026, 11, 30, 7, 15, tzinfo=UTC)
        prompts = rt.store.prompts_for_org(incident.org_id)
    assert len(prompts) == 3
    assert all(p.state is PromptState.SCHEDULED for p in prompts)
    assert {p.due_at for p in prompts} == {NOW + timedelta(hours=2)}


@pytest.mark.asyncio
async def test_an_explicit_prompt_time_is_used(client: TestClient[Any, Any], rt: Runtime) -> None:
    response = await client.post(
        "/api/incidents",
        json=body(
            kind="oefening", prompt_at="2026-11-30T23:00:00+01:00", participants=["console:bas"]
        ),
        headers=auth(),
    )
    assert response.status == 201
    with rt.store.transaction():
        [prompt] = rt.store.prompts_of(rt.store.member_by_identity(Identity("console", "bas")).id)  # type: ignore[union-attr]
    assert prompt.due_at == datetime(2026, 11, 30, 22, 0, tzinfo=UTC)  # at night: as given


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "headers",
    [{}, auth("wrong"), {"Authorization": TOKEN}, {"Authorization": f"Basic {TOKEN}"}],
)
async def test_a_missing_or_wrong_token_is_401(
    client: TestClient[Any, Any], rt: Runtime, headers: dict[str, str]
) -> None:
    response = await client.post("/api/incidents", json=body(), headers=headers)
    assert response.status == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert "error" in await response.json()
    with rt.store.transaction():
        assert rt.store.find_incidents(1, "brand") == []


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("payload", "error", "detail"),
    [
        ("not json", "the body is not valid JSON", None),
        ([1, 2], "the body must be a JSON object", None),
        ({"title": "x"}, "missing fields", "fields"),
        (body(organisation="brandwear"), "unknown organisation", "organisation"),
        (
            body(participants=["slack:U01PIET", "slack:UNOBODY"]),
            "unknown participants",
            "participants",
        ),
        (body(participants=["piet"]), "participants are written PLATFORM:USER_ID", "participant"),
        (body(participants=[]), "participants must be a list of 1 to 200 identities", None),
        (body(kind="brand"), "kind must be 'incident' or 'oefening'", None),
        (body(occurred_at="gisteren"), "occurred_at must be an ISO 8601 time", "value"),
        (body(title=" "), "title must be text of 1 to 200 characters", None),
        (body(title="x" * 201), "title must be text of 1 to 200 characters", None),
        (body(prompt_at="ooit eens"), "prompt_at is not a time I understand", "prompt_at"),
    ],
)
async def test_an_invalid_body_is_422_and_stores_nothing(
    client: TestClient[Any, Any], rt: Runtime, payload: object, error: str, detail: str | None
) -> None:
    data = payload if isinstance(payload, str) else None
    kwargs: dict[str, Any] = {"data": data} if data is not None else {"json": payload}
    response = await client.post("/api/incidents", headers=auth(), **kwargs)
    assert response.status == 422
    answer = await response.json()
    assert answer["error"] == error
    if detail:
        assert detail in answer
    with rt.store.transaction():
        assert all(rt.store.prompts_for_org(org.id) == [] for org in rt.store.list_orgs())
        assert rt.store.find_incidents(1, "") == []


@pytest.mark.asyncio
async def test_the_api_is_off_without_a_token(tmp_path: Path) -> None:
    rt = runtime(tmp_path, None)
    client = await serve(rt)
    try:
        response = await client.post("/api/incidents", json=body(), headers=auth())
        assert response.status == 404
        health = await (await client.get("/healthz")).json()
        assert health["adapters"]["api"] == "off (LEERLUS_API_TOKEN not set)"
    finally:
        await client.close()
        rt.engine.dispose()
