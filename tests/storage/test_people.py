"""Organisations, members, identities and incidents."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.exc import IntegrityError

from bot.errors import NotFound
from bot.models import Discipline, Identity, IncidentKind, Member, Role
from storage import SqlStore

from .conftest import NOW, World


def test_organisations(store: SqlStore, world: World) -> None:
    assert store.get_org(world.fire.id) == world.fire
    assert store.get_org(9999) is None
    assert world.fire.discipline is Discipline.BRANDWEER
    assert store.find_org("bw-utrecht") == world.fire
    assert store.find_org("brandweer UTRECHT") == world.fire
    assert store.find_org("BW-UTRECHT") is None  # slugs match exactly
    assert store.find_org("Brandweer") is None  # names match whole
    assert store.org_by_slack_team("T001") == world.fire
    assert store.org_by_slack_team("T999") is None
    assert store.list_orgs() == [world.fire, world.police]


def test_find_org_prefers_the_slug(store: SqlStore, world: World) -> None:
    tricky = store.add_org("pol-midden", "other", Discipline.OVERIG)
    assert store.find_org("pol-midden") == world.police
    assert store.find_org("POL-MIDDEN") == tricky


def test_organisation_names_and_slugs_are_unique(store: SqlStore, world: World) -> None:
    with pytest.raises(IntegrityError):
        store.add_org("Brandweer Utrecht", "other", Discipline.BRANDWEER)
    with pytest.raises(IntegrityError):
        store.add_org("Other", "bw-utrecht", Discipline.BRANDWEER)


def test_members(store: SqlStore, world: World) -> None:
    anna = world.author
    assert anna == Member(
        id=anna.id,
        org_id=world.fire.id,
        name="Anna de Vries",
        role=Role.MEMBER,
        locale="nl",
        timezone="Europe/Amsterdam",
        digest=True,
        identities=(Identity("slack", "UANNA"),),
    )
    assert world.colleague.is_coordinator
    assert world.outsider.locale == "en"
    assert store.get_member(anna.id) == anna
    assert store.get_member(9999) is None
    assert store.member_by_identity(Identity("telegram", "42")) == world.colleague
    assert store.member_by_identity(Identity("telegram", "43")) is None
    assert store.members_by_name("anna DE vries") == [anna]
    assert store.members_by_name("Anna") == []
    assert store.list_members() == [anna, world.colleague, world.outsider]
    assert store.list_members(world.police.id) == [world.outsider]


def test_member_without_identity_and_with_a_second_one(store: SqlStore, world: World) -> None:
    dirk = store.add_member(world.police.id, "Dirk", timezone="UTC")
    assert dirk.identities == ()
    store.add_identity(dirk.id, Identity("slack", "UDIRK"))
    store.add_identity(dirk.id, Identity("console", "dirk"))
    found = store.member_by_identity(Identity("console", "dirk"))
    assert found is not None
    assert found.identities == (Identity("slack", "UDIRK"), Identity("console", "dirk"))
    assert found.timezone == "UTC"


def test_an_identity_belongs_to_one_member(store: SqlStore, world: World) -> None:
    with pytest.raises(IntegrityError):
        store.add_identity(world.outsider.id, Identity("slack", "UANNA"))


def test_update_member(store: SqlStore, world: World) -> None:
    changed = store.update_member(world.author.id, locale="en", digest=False, role=Role.COORDINATOR)
    assert (changed.locale, changed.digest, changed.role) == ("en", False, Role.COORDINATOR)
    assert changed.name == "Anna de Vries"  # untouched
    assert store.get_member(world.author.id) == changed
    renamed = store.update_member(world.author.id, name="Anna", timezone="UTC", unreachable=True)
    assert (renamed.name, renamed.timezone) == ("Anna", "UTC")
    with pytest.raises(NotFound):
        store.update_member(9999, name="x")


def test_incidents(store: SqlStore, world: World) -> None:
    a, b = world.author, world.colleague
    old = store.add_incident(
        world.fire.id,
        "Brand Oudegracht",
        IncidentKind.INCIDENT,
        NOW - timedelta(days=2),
        NOW,
        participant_ids=[b.id, a.id, a.id],
        created_by=b.id,
    )
    new = store.add_incident(
        world.fire.id,
        "Oefening 100% OUDE haven",
        IncidentKind.OEFENING,
        NOW,
        NOW,
        participant_ids=[a.id],
    )
    store.add_incident(world.police.id, "Oude zaak", IncidentKind.INCIDENT, NOW, NOW)
    assert old.participant_ids == tuple(sorted({a.id, b.id}))
    assert store.get_incident(old.id) == old
    assert store.get_incident(9999) is None
    assert new.kind is IncidentKind.OEFENING
    assert store.incidents_of(a.id) == [new, old]
    assert store.incidents_of(a.id, limit=1) == [new]
    assert store.incidents_of(b.id) == [old]
    assert store.find_incidents(world.fire.id, "oude") == [new, old]
    assert store.find_incidents(world.fire.id, "100%") == [new]
    assert store.find_incidents(world.fire.id, "1_0") == []  # wildcards are literal
    assert store.find_incidents(world.fire.id, "oude", limit=1) == [new]
    assert store.find_incidents(world.police.id, "brand") == []
