"""Reflecting: three appreciative questions, one at a time, kept as a draft until done.

A reflection runs through STEPS. The draft row in the store is the state: its
`draft_step` says which question comes next, so an interrupted flow resumes where it
stopped, also after a restart. Platforms with forms get all fields at once (`Form`) and
send back a `SubmitReflection`.
"""

from __future__ import annotations

from dataclasses import replace

from bot.commands import StartReflection, SubmitReflection, is_number
from bot.errors import InvalidInput, LeerlusError, NotFound
from bot.handlers import kudos as kudos_handler
from bot.handlers.context import Ctx
from bot.models import (
    OPEN_PROMPT_STATES,
    SUGGESTED_THEMES,
    Incident,
    LoopLevel,
    NewReflection,
    PromptState,
    Reflection,
    Visibility,
)
from bot.replies import Choice, Field, Form, Reply, Text

MAX_ANSWER = 1000
MAX_THEMES = 8
TEXT_STEPS = ("went_well", "improve", "lesson")
STEPS = (*TEXT_STEPS, "visibility", "loop_level", "themes", "thanks")
PENDING = "reflect"

VISIBILITY_WORDS = {
    "prive": Visibility.PRIVE,
    "privé": Visibility.PRIVE,
    "private": Visibility.PRIVE,
    "organisatie": Visibility.ORGANISATIE,
    "organisation": Visibility.ORGANISATIE,
    "organization": Visibility.ORGANISATIE,
    "netwerk": Visibility.NETWERK,
    "network": Visibility.NETWERK,
    "anoniem": Visibility.ANONIEM,
    "anonymous": Visibility.ANONIEM,
}
LOOP_WORDS = {
    "individu": LoopLevel.INDIVIDU,
    "individual": LoopLevel.INDIVIDU,
    "organisatie": LoopLevel.ORGANISATIE,
    "organisation": LoopLevel.ORGANISATIE,
    "netwerk": LoopLevel.NETWERK,
    "network": LoopLevel.NETWERK,
    "samenleving": LoopLevel.SAMENLEVING,
    "society": LoopLevel.SAMENLEVING,
}
SKIP_WORDS = {"overslaan", "skip", "-", "geen", "none", "nee", "no"}


def parse_visibility(text: str) -> Visibility:
    """Accept a visibility in Dutch or English; raise InvalidInput otherwise."""
    value = VISIBILITY_WORDS.get(text.strip().lower())
    if value is None:
        raise InvalidInput("reflect.bad_visibility")
    return value


def parse_loop_level(text: str) -> LoopLevel | None:
    """Accept a loop level in Dutch or English, or a skip word."""
    word = text.strip().lower()
    if not word or word in SKIP_WORDS:
        return None
    value = LOOP_WORDS.get(word)
    if value is None:
        raise InvalidInput("reflect.bad_loop_level")
    return value


def parse_themes(text: str) -> tuple[str, ...]:
    """Split free tags on commas or spaces; a skip word means none."""
    word = text.strip().lower()
    if not word or word in SKIP_WORDS:
        return ()
    tags = [t.strip(" #.").lower() for t in word.replace(",", " ").split()]
    tags = [t[:40] for t in tags if t]
    return tuple(dict.fromkeys(tags))[:MAX_THEMES]


def check_answer(text: str) -> str:
    """An answer must be non-empty and at most MAX_ANSWER characters."""
    answer = text.strip()
    if not answer:
        raise InvalidInput("reflect.empty_answer")
    if len(answer) > MAX_ANSWER:
        raise InvalidInput("reflect.too_long", limit=MAX_ANSWER, length=len(answer))
    return answer


def start(cmd: StartReflection, ctx: Ctx, prompt_id: int | None = None) -> list[Reply]:
    """Start (or resume) a reflection, optionally about an incident or for a prompt."""
    store, member = ctx.store, ctx.member
    draft = store.current_draft(member.id)
    wants_new = (cmd.incident or "").strip().lower() in ("nieuw", "new")
    if draft is not None and wants_new:
        store.delete_reflection(draft.id)
        draft = None
    incident = None if wants_new else _find_incident(cmd.incident, ctx)
    if prompt_id is not None:
        prompt = store.get_prompt(prompt_id)
        incident = store.get_incident(prompt.incident_id) if prompt else incident
    resumed = draft is not None and (incident is None or draft.incident_id == incident.id)
    if draft is None or not resumed:
        # A draft about another incident stays; the new one becomes the current draft.
        draft = store.add_reflection(
            NewReflection(
                org_id=member.org_id,
                member_id=member.id,
                incident_id=incident.id if incident else None,
                language=member.locale,
                draft=True,
                draft_step=STEPS[0],
            ),
            ctx.now(),
        )
    conversation = store.get_conversation(member.id)
    data = dict(conversation.data)
    if prompt_id is not None:
        data["prompt_id"] = str(prompt_id)
    if cmd.as_form:
        store.save_conversation(replace(conversation, pending=None, data=data))
        return [reflection_form(draft, incident, ctx)]
    store.save_conversation(replace(conversation, pending=PENDING, data=data))
    intro: list[Reply] = []
    if resumed:
        intro.append(Text(ctx.tr("reflect.resume")))
    else:
        title = incident.title if incident else None
        key = "reflect.intro_incident" if title else "reflect.intro"
        intro.append(Text(ctx.tr(key, title=title or "")))
    return [*intro, _question(draft.draft_step or STEPS[0], ctx)]


def _find_incident(text: str | None, ctx: Ctx) -> Incident | None:
    if not text:
        return None
    store = ctx.store
    if is_number(text.strip()):
        incident = store.get_incident(int(text.strip()))
        if incident is not None and incident.org_id == ctx.member.org_id:
            return incident
        if incident is not None and ctx.member.id in incident.participant_ids:
            return incident
    else:
        found = store.find_incidents(ctx.member.org_id, text.strip())
        if found:
            return found[0]
        mine = [i for i in store.incidents_of(ctx.member.id) if text.lower() in i.title.lower()]
        if mine:
            return mine[0]
    raise NotFound("reflect.incident_not_found", text=text)


def answer(text: str, ctx: Ctx) -> list[Reply]:
    """Take the answer to the current question of the running reflection."""
    store = ctx.store
    draft = store.current_draft(ctx.member.id)
    if draft is None:
        conversation = store.get_conversation(ctx.member.id)
        store.save_conversation(replace(conversation, pending=None))
        return [Text(ctx.tr("reflect.no_draft"))]
    step = draft.draft_step or STEPS[0]
    changes = _apply(step, text, draft, ctx)
    following = STEPS[STEPS.index(step) + 1] if step != STEPS[-1] else None
    if following is None:
        return finish(draft, changes, ctx)
    store.update_reflection(draft.id, ctx.now(), draft_step=following, **changes)
    return [_question(following, ctx)]


def _apply(step: str, text: str, draft: Reflection, ctx: Ctx) -> dict[str, object]:
    if step in TEXT_STEPS:
        return {step: check_answer(text)}
    if step == "visibility":
        return {"visibility": parse_visibility(text)}
    if step == "loop_level":
        return {"loop_level": parse_loop_level(text)}
    if step == "themes":
        return {"themes": parse_themes(text)}
    word = text.strip()
    if word.lower() in SKIP_WORDS:
        return {}
    who = word.split()[0].lstrip("@")
    kudos_handler.resolve_person(who, ctx)  # fail early on an unknown name
    return {"thanks": word}


def _question(step: str, ctx: Ctx) -> Text:
    tr = ctx.tr
    skip = Choice(tr("reflect.skip"), tr("reflect.skip_word"))
    if step in TEXT_STEPS:
        return Text(tr(f"reflect.q_{step}", limit=MAX_ANSWER), choices=())
    if step == "visibility":
        return Text(
            tr("reflect.q_visibility"),
            choices=tuple(Choice(tr(f"visibility.{v}"), v.value) for v in Visibility),
        )
    if step == "loop_level":
        return Text(
            tr("reflect.q_loop_level"),
            choices=(*(Choice(tr(f"loop.{v}"), v.value) for v in LoopLevel), skip),
        )
    if step == "themes":
        return Text(tr("reflect.q_themes", themes=", ".join(SUGGESTED_THEMES)), choices=(skip,))
    return Text(tr("reflect.q_thanks"), choices=(skip,))


def finish(draft: Reflection, changes: dict[str, object], ctx: Ctx) -> list[Reply]:
    """Turn the draft into a lesson: save, index, mark the prompt, send thanks."""
    store = ctx.store
    saved = store.update_reflection(draft.id, ctx.now(), draft=False, draft_step=None, **changes)
    ctx.index.add([saved])
    conversation = store.get_conversation(ctx.member.id)
    data = dict(conversation.data)
    prompt_id = data.pop("prompt_id", None)
    store.save_conversation(replace(conversation, pending=None, data=data))
    _answer_prompts(saved, prompt_id, ctx)
    tr = ctx.tr
    replies: list[Reply] = [
        Text(tr("reflect.saved", visibility=tr(f"visibility.{saved.visibility}"), id=saved.id))
    ]
    if saved.thanks:
        replies += _send_thanks(saved, ctx)
    return replies


def _answer_prompts(saved: Reflection, prompt_id: str | None, ctx: Ctx) -> None:
    for prompt in ctx.store.prompts_of(ctx.member.id, OPEN_PROMPT_STATES):
        if str(prompt.id) == prompt_id or (
            saved.incident_id is not None and prompt.incident_id == saved.incident_id
        ):
            ctx.store.update_prompt(
                prompt.id,
                ctx.now(),
                state=PromptState.ANSWERED,
                answered_at=ctx.now(),
                reflection_id=saved.id,
            )


def _send_thanks(saved: Reflection, ctx: Ctx) -> list[Reply]:
    text = saved.thanks or ""
    who, _, reason = text.lstrip("@").partition(" ")
    incident = ctx.store.get_incident(saved.incident_id) if saved.incident_id else None
    if not reason.strip():
        reason = ctx.tr("reflect.thanks_reason", title=incident.title if incident else "")
    try:
        return kudos_handler.give(who, reason.strip(), ctx, incident_id=saved.incident_id)
    except LeerlusError as error:  # the lesson is saved; only the thanks could not be sent
        return [Text(ctx.tr(error.key, **error.params))]


def submit(cmd: SubmitReflection, ctx: Ctx) -> list[Reply]:
    """Save a reflection filled in as a form, all fields validated at once."""
    changes: dict[str, object] = {
        "went_well": check_answer(cmd.went_well),
        "improve": check_answer(cmd.improve),
        "lesson": check_answer(cmd.lesson),
        "visibility": parse_visibility(cmd.visibility),
        "loop_level": parse_loop_level(cmd.loop_level),
        "themes": parse_themes(cmd.themes),
    }
    if cmd.thanks.strip():
        kudos_handler.resolve_person(cmd.thanks.strip().lstrip("@").split()[0], ctx)
        changes["thanks"] = cmd.thanks.strip()
    if cmd.incident_id is not None:  # the form names it: it must be one the member may use
        _find_incident(str(cmd.incident_id), ctx)
    draft = ctx.store.current_draft(ctx.member.id)
    if draft is None or (cmd.incident_id is not None and draft.incident_id != cmd.incident_id):
        draft = ctx.store.add_reflection(
            NewReflection(
                org_id=ctx.member.org_id,
                member_id=ctx.member.id,
                incident_id=cmd.incident_id,
                language=ctx.member.locale,
                draft=True,
            ),
            ctx.now(),
        )
    if cmd.prompt_id is not None:
        conversation = ctx.store.get_conversation(ctx.member.id)
        data = {**conversation.data, "prompt_id": str(cmd.prompt_id)}
        ctx.store.save_conversation(replace(conversation, data=data))
    return finish(draft, changes, ctx)


def cancel(ctx: Ctx) -> list[Reply]:
    """Stop the running flow; a reflection draft is kept."""
    store = ctx.store
    conversation = store.get_conversation(ctx.member.id)
    store.save_conversation(replace(conversation, pending=None))
    if store.current_draft(ctx.member.id) is not None:
        return [Text(ctx.tr("reflect.cancelled_kept"))]
    return [Text(ctx.tr("flow.cancelled"))]


def reflection_form(draft: Reflection, incident: Incident | None, ctx: Ctx) -> Form:
    """The whole reflection as one form, prefilled from the draft."""
    tr = ctx.tr
    visibility_options = tuple(Choice(tr(f"visibility.{v}"), v.value) for v in Visibility)
    loop_options = tuple(Choice(tr(f"loop.{v}"), v.value) for v in LoopLevel)
    theme_options = tuple(Choice(t, t) for t in SUGGESTED_THEMES)
    fields = (
        Field("went_well", tr("reflect.f_went_well"), value=draft.went_well, multiline=True),
        Field("improve", tr("reflect.f_improve"), value=draft.improve, multiline=True),
        Field("lesson", tr("reflect.f_lesson"), value=draft.lesson, multiline=True),
        Field(
            "visibility",
            tr("reflect.f_visibility"),
            value=draft.visibility.value,
            options=visibility_options,
        ),
        Field(
            "loop_level",
            tr("reflect.f_loop_level"),
            value=draft.loop_level.value if draft.loop_level else "",
            options=loop_options,
            required=False,
        ),
        Field(
            "themes",
            tr("reflect.f_themes"),
            value=",".join(draft.themes),
            options=theme_options,
            multi=True,
            required=False,
        ),
        Field("thanks", tr("reflect.f_thanks"), required=False, person=True),
    )
    context = {"incident_id": str(incident.id) if incident else ""}
    return Form(
        title=tr("reflect.form_title"),
        fields=fields,
        submit="reflection",
        submit_label=tr("reflect.form_submit"),
        context=context,
    )
