"""Asking: find the lessons of others that help, visible to the asker only."""

from __future__ import annotations

from dataclasses import replace

from bot.errors import InvalidInput
from bot.handlers.context import Ctx
from bot.language import detect_language
from bot.models import Hit, Lesson, Member, ScoredCandidate, Visibility
from bot.ports import SearchIndex, Store
from bot.ranking import RankingConfig, arrange, fuse, relevant
from bot.replies import Choice, LessonCard, Reply, Text
from bot.texts import Translator

MAX_QUESTION = 1000


def search(
    query: str,
    viewer: Member,
    *,
    store: Store,
    index: SearchIndex,
    config: RankingConfig,
    own_org: int | None = None,
) -> list[Hit]:
    """Return every relevant lesson the viewer may see, in the order to show them.

    `own_org` (default: the viewer's) is the organisation whose lessons come last.
    """
    found = index.rankings(query, config.candidates)
    candidates = list(dict.fromkeys(rid for ranking in found.values() for rid, _ in ranking))
    # Ranking needs a few columns of each candidate (a thousand or more); the texts are
    # loaded for the lessons shown only.
    visible = store.visible_candidates(viewer, candidates)
    # Rank among what the viewer may see only: invisible lessons never take a place.
    rankings = {m: [(rid, s) for rid, s in r if rid in visible] for m, r in found.items()}
    languages = {rid: candidate.language for rid, candidate in visible.items()}
    language = detect_language(query)
    keep = relevant(rankings, config, languages, language)
    vouched = {languages[rid] for rid in keep}
    fused = fuse(rankings, config, languages, language, vouched)
    if keep:
        keep |= {rid for rid, _score in fused[: config.always_top]}
    scored = [ScoredCandidate(visible[rid], score) for rid, score in fused if rid in keep]
    ordered = arrange(scored, viewer.org_id if own_org is None else own_org, config)
    shown = ordered[: config.max_results]
    # Same transaction, same filter: a lesson deleted in between is simply left out.
    lessons = store.visible_lessons(viewer, [c.lesson.reflection_id for c in shown])
    return [
        Hit(lessons[c.lesson.reflection_id], c.score)
        for c in shown
        if c.lesson.reflection_id in lessons
    ]


def network_viewer(member: Member) -> Member:
    """The member as a stranger: sees only what the whole network may see."""
    return replace(member, id=0, org_id=0)


def ask(query: str, ctx: Ctx) -> list[Reply]:
    """Answer a question with the first page of lessons."""
    query = query.strip()
    if not query:
        raise InvalidInput("ask.usage")
    if len(query) > MAX_QUESTION:
        raise InvalidInput("error.too_long", limit=MAX_QUESTION)
    conversation = ctx.store.get_conversation(ctx.member.id)
    ctx.store.save_conversation(replace(conversation, last_query=query, shown=()))
    return _page(query, (), ctx)


def more(ctx: Ctx) -> list[Reply]:
    """Show the next page of lessons for the last question."""
    conversation = ctx.store.get_conversation(ctx.member.id)
    if not conversation.last_query:
        return [Text(ctx.tr("ask.no_previous"))]
    return _page(conversation.last_query, conversation.shown, ctx)


def _page(query: str, shown: tuple[int, ...], ctx: Ctx) -> list[Reply]:
    viewer = network_viewer(ctx.member) if ctx.shared else ctx.member
    hits = search(
        query,
        viewer,
        store=ctx.store,
        index=ctx.index,
        config=ctx.ranking,
        own_org=ctx.member.org_id,
    )
    fresh = [h for h in hits if h.lesson.reflection_id not in shown]
    page = fresh[: ctx.ranking.page_size]
    tr = ctx.tr
    if not page:
        key = "ask.no_more" if shown else "ask.nothing"
        return [Text(tr(key, query=query), choices=(Choice(tr("ask.share"), "/reflectie"),))]
    conversation = ctx.store.get_conversation(ctx.member.id)
    new_shown = shown + tuple(h.lesson.reflection_id for h in page)
    ctx.store.save_conversation(replace(conversation, shown=new_shown))
    key = "ask.header" if not shown else "ask.header_more"
    replies: list[Reply] = [Text(tr(key, query=query, count=len(page)))]
    replies += [lesson_card(h.lesson, ctx.member, tr) for h in page]
    if len(fresh) > len(page):
        replies.append(
            Text(
                tr("ask.more_available", count=len(fresh) - len(page)),
                choices=(Choice(tr("ask.more_button"), "/meer"),),
            )
        )
    return replies


def source_label(lesson: Lesson, tr: Translator) -> str:
    """Who the lesson is from, as the viewer may know it."""
    discipline = tr(f"discipline.{lesson.discipline}")
    if lesson.visibility is Visibility.ANONIEM or lesson.org_name is None:
        return tr("lesson.anonymous_source", discipline=discipline)
    if lesson.author_name:
        return tr("lesson.source", author=lesson.author_name, org=lesson.org_name)
    return lesson.org_name


def lesson_card(lesson: Lesson, viewer: Member, tr: Translator) -> LessonCard:
    """Render a lesson as a card with its actions."""
    choices = [Choice(tr("lesson.helpful"), f"/nuttig {lesson.reflection_id}")]
    if lesson.author_id != viewer.id:
        choices.append(Choice(tr("lesson.thank"), f"/bedank {lesson.reflection_id}", "primary"))
    return LessonCard(
        reflection_id=lesson.reflection_id,
        lesson=lesson.lesson,
        went_well=lesson.went_well,
        improve=lesson.improve,
        source=source_label(lesson, tr),
        labels={
            "lesson": tr("lesson.label_lesson"),
            "went_well": tr("lesson.label_went_well"),
            "improve": tr("lesson.label_improve"),
            "incident": tr("lesson.label_incident"),
        },
        incident_title=lesson.incident_title,
        date=lesson.incident_date or lesson.created_at,
        title=lesson.title,
        choices=tuple(choices),
    )
