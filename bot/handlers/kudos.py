"""Kudos: thanking colleagues, also across organisations and for (anonymous) lessons."""

from __future__ import annotations

from bot.errors import InvalidInput, LimitReached, NotAllowed, NotFound
from bot.handlers.context import Ctx
from bot.models import Identity, Kudos, Member, Visibility
from bot.ports import Store
from bot.replies import Reply, Text
from bot.texts import Translator, shorten
from bot.timing import start_of_day

DAILY_LIMIT = 10
MAX_REASON = 500


def resolve_person(who: str, ctx: Ctx) -> Member:
    """Find the member meant by a mention: `slack:U…`, a handle, or a full name."""
    store = ctx.store
    name = who.strip().lstrip("@").rstrip(",.:;!?")
    if not name:
        raise InvalidInput("kudos.usage")
    if ":" in name:
        try:
            identity = Identity.parse(name)
        except ValueError:
            identity = None
        found = store.member_by_identity(identity) if identity else None
        if found is not None:
            return found
        raise NotFound("error.unknown_person", name=name)
    platforms = dict.fromkeys([i.platform for i in ctx.member.identities] + ["console"])
    for platform in platforms:
        found = store.member_by_identity(Identity(platform, name))
        if found is not None:
            return found
    matches = store.members_by_name(name.replace("_", " "))
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise InvalidInput("error.ambiguous_person", name=name)
    raise NotFound("error.unknown_person", name=name)


def give(
    who: str,
    reason: str,
    ctx: Ctx,
    *,
    incident_id: int | None = None,
) -> list[Reply]:
    """Give kudos to a person by mention."""
    receiver = resolve_person(who, ctx)
    _record(receiver, reason, ctx, incident_id=incident_id)
    return [Text(ctx.tr("kudos.sent", name=receiver.name))]


def _record(
    receiver: Member,
    reason: str,
    ctx: Ctx,
    *,
    reflection_id: int | None = None,
    incident_id: int | None = None,
    lesson_excerpt: str = "",
) -> Kudos:
    giver = ctx.member
    reason = reason.strip()
    if receiver.id == giver.id:
        raise NotAllowed("kudos.self")
    if not reason:
        raise InvalidInput("kudos.reason_required")
    if len(reason) > MAX_REASON:
        raise InvalidInput("error.too_long", limit=MAX_REASON)
    since = start_of_day(ctx.now(), giver.timezone)
    if ctx.store.count_kudos_given(giver.id, since) >= DAILY_LIMIT:
        raise LimitReached("kudos.limit", limit=DAILY_LIMIT)
    kudos = ctx.store.add_kudos(
        giver.id,
        receiver.id,
        reason,
        ctx.now(),
        reflection_id=reflection_id,
        incident_id=incident_id,
    )
    org = ctx.org()
    rtr = Translator(receiver.locale)  # the receiver reads in their own language
    if reflection_id is not None:
        body = rtr(
            "kudos.received_for_lesson",
            giver=giver.name,
            org=org.name,
            lesson=lesson_excerpt,
            reason=reason,
        )
    else:
        body = rtr("kudos.received", giver=giver.name, org=org.name, reason=reason)
    ctx.notify(receiver, [Text(body)])
    return kudos


def thank(reflection_id: int, reason: str, ctx: Ctx) -> list[Reply]:
    """Thank the author of a lesson the member may see (Bedank)."""
    store = ctx.store
    lesson = store.visible_lessons(ctx.member, [reflection_id]).get(reflection_id)
    reflection = store.get_reflection(reflection_id)
    if lesson is None or reflection is None:
        raise NotFound("lesson.not_found")
    if reflection.member_id is None:
        return [Text(ctx.tr("kudos.no_author"))]
    author = store.get_member(reflection.member_id)
    if author is None:
        return [Text(ctx.tr("kudos.no_author"))]
    excerpt = shorten(reflection.lesson, 80)
    reason = reason.strip() or ctx.tr("kudos.thank_reason")
    _record(author, reason, ctx, reflection_id=reflection_id, lesson_excerpt=excerpt)
    if lesson.visibility is Visibility.ANONIEM:
        return [Text(ctx.tr("kudos.thanked_anonymous"))]
    return [Text(ctx.tr("kudos.thanked", name=author.name))]


def helpful(reflection_id: int, ctx: Ctx) -> list[Reply]:
    """Record that a lesson helped (Nuttig)."""
    lesson = ctx.store.visible_lessons(ctx.member, [reflection_id]).get(reflection_id)
    if lesson is None:
        raise NotFound("lesson.not_found")
    ctx.store.add_feedback(ctx.member.id, reflection_id, True, ctx.now())
    return [Text(ctx.tr("lesson.feedback_thanks"), ephemeral=True)]


def overview(ctx: Ctx) -> list[Reply]:
    """List the kudos the member received and gave."""
    lines = kudos_lines(ctx)
    if not lines:
        return [Text(ctx.tr("kudos.none"))]
    return [Text("\n".join(lines))]


def kudos_lines(ctx: Ctx, limit: int = 10) -> list[str]:
    """Lines about received and given kudos; anonymous authors stay anonymous."""
    store, tr = ctx.store, ctx.tr
    received = store.kudos_received(ctx.member.id)[:limit]
    given = store.kudos_given(ctx.member.id)[:limit]
    lines: list[str] = []
    if received:
        lines.append(tr("kudos.received_header", count=len(received)))
        for k in received:
            giver = store.get_member(k.giver_id)
            lines.append(
                tr("kudos.line_received", name=giver.name if giver else "?", reason=k.reason)
            )
    if given:
        lines.append(tr("kudos.given_header", count=len(given)))
        for k in given:
            lines.append(tr("kudos.line_given", name=_receiver_name(k, ctx), reason=k.reason))
    return lines


def _receiver_name(kudos: Kudos, ctx: Ctx) -> str:
    """The receiver as the giver may know them: anonymous authors stay anonymous."""
    receiver = known_receiver(kudos, ctx.member, ctx.store)
    if receiver is None and kudos.reflection_id is not None:
        return ctx.tr("kudos.anonymous_author")
    return receiver.name if receiver else "?"


def known_receiver(kudos: Kudos, giver: Member, store: Store) -> Member | None:
    """The receiver of kudos as the giver may know them; None for an anonymous author.

    Kudos for a lesson name its author only while the giver can see that lesson with its
    author: a lesson that was or became anonymous (or private, or is gone) names nobody.
    """
    if kudos.reflection_id is not None:
        lesson = store.visible_lessons(giver, [kudos.reflection_id]).get(kudos.reflection_id)
        if lesson is None or lesson.author_id != kudos.receiver_id:
            return None
    return store.get_member(kudos.receiver_id)
