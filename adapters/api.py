"""The incident API: `POST /api/incidents`, so a dispatch or incident system starts the loop.

Off (no routes, so 404) unless `LEERLUS_API_TOKEN` is set. Every request carries
`Authorization: Bearer <token>`; the body is validated completely before anything is
stored, and the incident with its prompts is stored in one transaction. When the database
cannot be reached the answer is 503 (with Retry-After) and nothing was stored.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from adapters.runtime import Runtime
from bot.commands import clean
from bot.errors import ServiceUnavailable, UserError
from bot.handlers.incidents import MAX_TITLE, register_from_outside
from bot.models import Identity, IncidentKind
from bot.ports import Clock, Store

log = logging.getLogger(__name__)

NAME = "api"
MAX_PARTICIPANTS = 200
MAX_WHEN = 100  # characters of a time (occurred_at, prompt_at)
RETRY_AFTER = 60  # seconds a caller is asked to wait when the database is unavailable


class Unprocessable(Exception):
    """A request the API refuses with 422; `detail` goes into the JSON answer."""

    def __init__(self, message: str, **detail: Any) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail


@dataclass(frozen=True)
class NewIncident:
    """A validated request body."""

    organisation: str
    title: str
    kind: IncidentKind
    occurred_at: datetime
    participants: tuple[Identity, ...]
    prompt_at: str | None


def parse_body(body: object, timezone: str) -> NewIncident:
    """Check the JSON body's shape and values; raise Unprocessable with what is wrong."""
    if not isinstance(body, dict):
        raise Unprocessable("the body must be a JSON object")
    missing = [
        f for f in ("organisation", "title", "kind", "occurred_at", "participants") if f not in body
    ]
    if missing:
        raise Unprocessable("missing fields", fields=missing)
    org, title, kind = body["organisation"], body["title"], body["kind"]
    if not isinstance(org, str) or not clean(org).strip():
        raise Unprocessable("organisation must be a name or slug")
    # Control characters (NUL, RTL marks, ...) are dropped, as from chat input.
    title = clean(title).strip() if isinstance(title, str) else ""
    if not title or len(title) > MAX_TITLE:
        raise Unprocessable(f"title must be text of 1 to {MAX_TITLE} characters")
    if not isinstance(kind, str) or kind not in {k.value for k in IncidentKind}:
        raise Unprocessable("kind must be 'incident' or 'oefening'")
    occurred_at = _iso(body["occurred_at"], "occurred_at", timezone)
    participants = body["participants"]
    if (
        not isinstance(participants, list)
        or not participants
        or len(participants) > MAX_PARTICIPANTS
        or not all(isinstance(p, str) for p in participants)
    ):
        raise Unprocessable(f"participants must be a list of 1 to {MAX_PARTICIPANTS} identities")
    identities: list[Identity] = []
    for text in participants:
        try:
            identities.append(Identity.parse(text))
        except ValueError:
            raise Unprocessable(
                "participants are written PLATFORM:USER_ID", participant=text
            ) from None
    prompt_at = body.get("prompt_at")
    if prompt_at is not None and (
        not isinstance(prompt_at, str) or not prompt_at.strip() or len(prompt_at) > MAX_WHEN
    ):
        raise Unprocessable("prompt_at must be an ISO 8601 time (or a time such as 'over 3 uur')")
    return NewIncident(
        clean(org).strip(), title, IncidentKind(kind), occurred_at, tuple(identities), prompt_at
    )


def _iso(value: object, name: str, timezone: str) -> datetime:
    if not isinstance(value, str) or len(value) > MAX_WHEN:
        raise Unprocessable(f"{name} must be an ISO 8601 time")
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise Unprocessable(f"{name} must be an ISO 8601 time", value=value) from None
    # A time without offset is local time of the network, as people write it.
    return moment if moment.tzinfo else moment.replace(tzinfo=ZoneInfo(timezone))


def register(new: NewIncident, *, store: Store, clock: Clock, timezone: str) -> dict[str, int]:
    """Store the incident and its prompts; raise Unprocessable (nothing stored) if it cannot be."""
    now = clock.now()
    try:
        with store.transaction():
            incident, members = register_from_outside(
                store,
                org_ref=new.organisation,
                title=new.title,
                kind=new.kind,
                occurred_at=new.occurred_at,
                participants=new.participants,
                when=new.prompt_at,
                now=now,
                timezone=timezone,
                audit_action=f"{new.kind.value}.add.api",
                via="api",
            )
    except UserError as error:
        raise _unprocessable(error, new) from None
    return {"incident_id": incident.id, "prompts": len({m.id for m in members})}


def _unprocessable(error: UserError, new: NewIncident) -> Unprocessable:
    """The core's refusal as this API words it."""
    if error.key == "org.unknown":
        return Unprocessable("unknown organisation", organisation=new.organisation)
    if error.key == "incident.unknown_people":
        return Unprocessable("unknown participants", participants=error.params["unknown"])
    if error.key == "incident.bad_time":
        return Unprocessable("prompt_at is not a time I understand", prompt_at=new.prompt_at)
    return Unprocessable(error.key, **{k: str(v) for k, v in error.params.items()})


def authorised(header: str | None, token: str) -> bool:
    """Check `Authorization: Bearer <token>` in constant time."""
    scheme, _, given = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not given:
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())


def error(status: int, message: str, **detail: Any) -> web.Response:
    """A JSON error answer."""
    return web.json_response({"error": message, **detail}, status=status)


class IncidentApi:
    """The `/api/*` routes of the HTTP server."""

    name = NAME

    def __init__(self, *, store: Store, clock: Clock, token: str, timezone: str) -> None:
        self.store = store
        self.clock = clock
        self.token = token
        self.timezone = timezone

    def describe(self) -> str:
        """How it runs."""
        return "on (POST /api/incidents)"

    def add_routes(self, app: web.Application) -> None:
        """Add POST /api/incidents."""
        app.router.add_post("/api/incidents", self.post_incident)

    async def start(self) -> None:
        """Nothing to start: the HTTP server serves the routes."""

    async def stop(self) -> None:
        """Nothing to stop."""

    async def post_incident(self, request: web.Request) -> web.Response:
        """Register an incident from another system: 201, or 401/422/503 with a JSON error."""
        if not authorised(request.headers.get("Authorization"), self.token):
            response = error(401, "missing or wrong bearer token")
            response.headers["WWW-Authenticate"] = "Bearer"
            return response
        try:
            body = json.loads(await request.text())
        except (ValueError, RecursionError):  # not JSON, not UTF-8, or nested too deep
            return error(422, "the body is not valid JSON")
        try:
            new = parse_body(body, self.timezone)
            result = await asyncio.to_thread(
                register, new, store=self.store, clock=self.clock, timezone=self.timezone
            )
        except Unprocessable as invalid:
            return error(422, invalid.message, **invalid.detail)
        except ServiceUnavailable as outage:  # nothing was stored: the caller may send it again
            log.error("api: incident not registered: %s", outage)
            response = error(503, "the database is unavailable; try again shortly")
            response.headers["Retry-After"] = str(RETRY_AFTER)
            return response
        log.info(
            "api: registered incident %s with %s prompts", result["incident_id"], result["prompts"]
        )
        return web.json_response(result, status=201)


def configure(rt: Runtime) -> IncidentApi | None:
    """The API when a token is configured."""
    if not rt.settings.api_token:
        return None
    return IncidentApi(
        store=rt.store,
        clock=rt.bot.clock,
        token=rt.settings.api_token,
        timezone=rt.settings.timezone,
    )


def not_configured(rt: Runtime) -> str:
    """Why the API is off."""
    return "LEERLUS_API_TOKEN not set"
