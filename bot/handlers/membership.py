"""Membership and settings: joining, invites, language, digest, help."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from bot.errors import InvalidInput, NotAllowed, NotFound
from bot.handlers.context import CHAT, Ctx
from bot.models import Identity, Invite, Member, Organisation
from bot.ports import Store
from bot.replies import Reply, Text

INVITE_DAYS = 14
INVITE_USES = 50
_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no look-alikes (0/O, 1/I)


def set_language(locale: str, ctx: Ctx) -> list[Reply]:
    """Switch the language of the bot's texts for this member."""
    member = ctx.store.update_member(ctx.member.id, locale=locale)
    ctx.member = member
    return [Text(ctx.tr("language.set"))]


def set_digest(on: bool, ctx: Ctx) -> list[Reply]:
    """Switch the weekly digest on or off."""
    ctx.store.update_member(ctx.member.id, digest=on)
    return [Text(ctx.tr("digest.on" if on else "digest.off"))]


def help_text(ctx: Ctx) -> list[Reply]:
    """What the bot can do."""
    key = "help.coordinator" if ctx.member.is_coordinator else "help.member"
    return [Text(ctx.tr("help.text") + "\n" + ctx.tr(key))]


def new_invite(store: Store, org: Organisation, now: datetime, created_by: int | None) -> Invite:
    """Create an invite code for an organisation (chat `/uitnodiging` and the CLI)."""
    code = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(8))
    invite = Invite(code, org.id, created_by, now + timedelta(days=INVITE_DAYS), INVITE_USES)
    store.add_invite(invite)
    return invite


def create_invite(ctx: Ctx) -> list[Reply]:
    """Let a coordinator create an invite code."""
    if not ctx.member.is_coordinator:
        raise NotAllowed("invite.not_coordinator")
    org = ctx.org()
    invite = new_invite(ctx.store, org, ctx.now(), ctx.member.id)
    ctx.store.add_audit(ctx.member.id, "invite.add", f"org:{org.id}", ctx.now(), via=CHAT)
    return [Text(ctx.tr("invite.created", code=invite.code, org=org.name, days=INVITE_DAYS))]


def join(
    store: Store, identity: Identity, name: str, code: str, now: datetime, locale: str = "nl"
) -> Member:
    """Join the organisation of a valid invite code; raise a UserError otherwise."""
    invite = store.get_invite(code.strip().upper())
    if invite is None:
        raise NotFound("join.unknown_code")
    if invite.expires_at <= now:
        raise InvalidInput("join.expired")
    if invite.uses_left <= 0:
        raise InvalidInput("join.used_up")
    existing = store.member_by_identity(identity)
    if existing is not None:
        return existing
    store.use_invite(invite.code)
    member = store.add_member(invite.org_id, name, identity, locale=locale)
    store.add_audit(member.id, "member.join", f"org:{invite.org_id}", now, via=CHAT)
    return member


def ensure_member(store: Store, identity: Identity, org: Organisation, name: str) -> Member:
    """The member behind an identity, created in `org` on first sight."""
    member = store.member_by_identity(identity)
    if member is not None:
        return member
    return store.add_member(org.id, name, identity)


def find_org(store: Store, name_or_slug: str) -> Organisation:
    """An organisation by name or slug, or NotFound."""
    org = store.find_org(name_or_slug)
    if org is None:
        raise NotFound("org.unknown", name=name_or_slug)
    return org
