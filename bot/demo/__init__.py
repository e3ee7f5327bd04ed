"""The demo network: five fictional Dutch organisations that learn together.

`network.toml` holds organisations, members, incidents, reflections and kudos written
for the demo; `load_demo` puts them into an empty database through the Store port.
"""

from __future__ import annotations

import tomllib
from datetime import datetime
from importlib import resources
from typing import Any

from bot.models import (
    Discipline,
    Identity,
    IncidentKind,
    LoopLevel,
    Member,
    NewReflection,
    Role,
    Visibility,
)
from bot.ports import SearchIndex, Store


def demo_data() -> dict[str, Any]:
    """The demo network as parsed TOML."""
    text = resources.files(__package__).joinpath("network.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


def _when(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def load_demo(store: Store, index: SearchIndex, now: datetime) -> dict[str, int]:
    """Load the demo network into the store and index; return counts per kind."""
    data = demo_data()
    orgs = {
        o["slug"]: store.add_org(o["name"], o["slug"], Discipline(o["discipline"]))
        for o in data["organisations"]
    }
    members: dict[str, Member] = {}
    for m in data["members"]:
        members[m["handle"]] = store.add_member(
            orgs[m["org"]].id,
            m["name"],
            Identity("console", m["handle"]),
            role=Role(m.get("role", "member")),
            locale=m.get("locale", "nl"),
        )
    incidents = {}
    for i in data["incidents"]:
        occurred = _when(i["occurred_at"])
        incidents[i["key"]] = store.add_incident(
            orgs[i["org"]].id,
            i["title"],
            IncidentKind(i["kind"]),
            occurred,
            occurred,
            participant_ids=[members[h].id for h in i.get("participants", [])],
        )
    saved = []
    for r in data["reflections"]:
        author = members[r["author"]]
        incident = incidents.get(r.get("incident", ""))
        level = r.get("loop_level")
        new = NewReflection(
            org_id=author.org_id,
            member_id=author.id,
            went_well=r["went_well"],
            improve=r["improve"],
            lesson=r["lesson"],
            visibility=Visibility(r["visibility"]),
            incident_id=incident.id if incident else None,
            loop_level=LoopLevel(level) if level else None,
            themes=tuple(r.get("themes", ())),
            language=r.get("language", "nl"),
            created_at=_when(r["created_at"]),
        )
        saved.append(store.add_reflection(new, new.created_at or now))
    for k in data.get("kudos", []):
        store.add_kudos(
            members[k["giver"]].id, members[k["receiver"]].id, k["reason"], _when(k["created_at"])
        )
    index.add(saved)
    return {
        "organisations": len(orgs),
        "members": len(members),
        "incidents": len(incidents),
        "reflections": len(saved),
        "kudos": len(data.get("kudos", [])),
    }
