"""The core's flows through Bot.handle, on hand-written fakes."""

from __future__ import annotations

from datetime import timedelta

from bot.models import PromptState, Visibility
from bot.replies import Form, Text
from tests.core.conftest import Net, cards


def test_reflection_asks_three_questions_one_at_a_time(net: Net) -> None:
    first = net.text(net.piet, "/reflectie")
    assert "Wat ging er goed" in first
    assert "Waar zit ruimte" in net.text(net.piet, "De samenwerking met de politie")
    assert "Welke les" in net.text(net.piet, "De radioverbinding viel weg")
    visibility = net.say(net.piet, "Spreek vooraf een uitwijkkanaal af")
    assert isinstance(visibility[0], Text)
    assert [c.command for c in visibility[0].choices] == [v.value for v in Visibility]
    net.say(net.piet, "netwerk")
    net.say(net.piet, "organisatie")  # loop level
    net.say(net.piet, "communicatie, techniek")
    done = net.text(net.piet, "overslaan")
    assert "bewaard" in done
    [saved] = net.store.reflections_of(net.piet.id)
    assert saved.went_well == "De samenwerking met de politie"
    assert saved.lesson == "Spreek vooraf een uitwijkkanaal af"
    assert saved.themes == ("communicatie", "techniek")
    assert not saved.draft
    assert saved.id in net.index.docs


def test_interrupted_reflection_is_kept_as_draft_and_resumes(net: Net) -> None:
    net.say(net.piet, "/reflectie")
    net.say(net.piet, "Snelle opschaling")
    assert "concept" in net.text(net.piet, "/annuleer")
    draft = net.store.current_draft(net.piet.id)
    assert draft is not None and draft.went_well == "Snelle opschaling"
    # plain text is a question again, not an answer
    net.say(net.piet, "wat weten we over evacuaties?")
    assert net.store.current_draft(net.piet.id).improve == ""
    resumed = net.text(net.piet, "/reflectie")
    assert "verder" in resumed and "2/3" in resumed


def test_too_long_answer_is_refused_and_draft_untouched(net: Net) -> None:
    net.say(net.piet, "/reflectie")
    reply = net.text(net.piet, "x" * 1500)
    assert "1500" in reply and "1000" in reply
    assert net.store.current_draft(net.piet.id).went_well == ""
    assert "Waar zit ruimte" in net.text(net.piet, "kort antwoord")


def test_bad_visibility_is_explained(net: Net) -> None:
    net.say(net.piet, "/reflectie")
    for answer in ("a", "b", "c"):
        net.say(net.piet, answer)
    assert "prive, organisatie, netwerk of anoniem" in net.text(net.piet, "iedereen")
    assert "niveau" in net.text(net.piet, "anonymous")


def test_form_submission_validates_and_saves(net: Net) -> None:
    from bot.commands import StartReflection, SubmitReflection

    [form] = net.bot.handle(net.kim, StartReflection(None, as_form=True))
    assert isinstance(form, Form)
    assert [f.name for f in form.fields][:3] == ["went_well", "improve", "lesson"]
    bad = net.bot.handle(net.kim, SubmitReflection("a", "b", "", "netwerk"))
    assert "leeg" in bad[0].body  # type: ignore[union-attr]
    assert net.store.reflections_of(net.kim.id) == []
    net.bot.handle(net.kim, SubmitReflection("a", "b", "c", "anonymous", themes="nazorg"))
    [saved] = net.store.reflections_of(net.kim.id)
    assert saved.visibility is Visibility.ANONIEM and saved.themes == ("nazorg",)


def test_ask_prefers_other_organisations_and_respects_visibility(net: Net) -> None:
    own = net.reflect(net.bas, "x", "y", "evacuatie van bewoners vraagt vroege communicatie")
    other = net.reflect(net.piet, "x", "y", "evacuatie bewoners: communicatie via wijkagent")
    secret = net.reflect(net.kim, "x", "y", "evacuatie bewoners geheim", visibility="prive")
    org_only = net.reflect(net.kim, "x", "y", "evacuatie bewoners intern", "organisatie")
    found = [c.reflection_id for c in cards(net.say(net.anna, "evacuatie bewoners communicatie"))]
    assert found[0] == other
    assert own in found
    assert secret not in found and org_only not in found
    # a brandweer colleague sees the organisation-only lesson, never the private one
    seen_by_piet = net.say(net.piet, "/vraag evacuatie bewoners intern geheim")
    ids = [c.reflection_id for c in cards(seen_by_piet)]
    assert org_only in ids and secret not in ids


def test_anonymous_lesson_hides_author_and_organisation(net: Net) -> None:
    rid = net.reflect(net.kim, "x", "y", "nazorg na reanimatie regelen", visibility="anoniem")
    [card] = cards(net.say(net.anna, "nazorg reanimatie"))
    assert card.reflection_id == rid
    assert card.source == "anoniem (brandweer)"
    assert "Kim" not in repr(card) and "Brandweer Midden" not in repr(card)


def test_nothing_found_is_said_honestly(net: Net) -> None:
    net.reflect(net.piet, "x", "y", "radioverbinding in tunnels")
    reply = net.say(net.anna, "beste recept voor appeltaart")
    assert cards(reply) == []
    assert "geen lessen" in reply[0].body  # type: ignore[union-attr]
    assert reply[0].choices[0].command == "/reflectie"  # type: ignore[union-attr]


def test_more_shows_the_next_page(net: Net) -> None:
    ids = [
        net.reflect(m, "x", "y", f"briefing structuur les {i}")
        for i, m in enumerate([net.piet, net.kim, net.sara, net.piet, net.kim])
    ]
    first = [c.reflection_id for c in cards(net.say(net.anna, "briefing structuur"))]
    second = [c.reflection_id for c in cards(net.say(net.anna, "/meer"))]
    assert len(first) == 3 and len(second) == 2
    assert sorted(first + second) == sorted(ids)
    assert "Meer relevante" in net.text(net.anna, "/meer")


def test_kudos_rules(net: Net) -> None:
    assert "verstuurd" in net.text(net.anna, "/kudos @piet voor de snelle inzet")
    [(receiver, note)] = net.notifier.sent
    assert receiver == net.piet.id and "snelle inzet" in note.body  # type: ignore[union-attr]
    assert "Jezelf" in net.text(net.anna, "/kudos @anna omdat ik goed ben")
    assert "niemand" in net.text(net.anna, "/kudos @onbekend goed gedaan")
    for i in range(9):
        net.say(net.anna, f"/kudos @sara nummer {i}")
    assert len(net.store.kudos) == 10
    assert "maximum" in net.text(net.anna, "/kudos @sara nog een")
    assert len(net.store.kudos) == 10
    net.clock.advance(timedelta(days=1))
    assert "verstuurd" in net.text(net.anna, "/kudos @sara nieuwe dag")


def test_thanking_an_anonymous_author_keeps_them_anonymous(net: Net) -> None:
    rid = net.reflect(net.kim, "x", "y", "nazorg regelen", visibility="anoniem")
    reply = net.text(net.anna, f"/bedank {rid}")
    assert "anoniem" in reply and "Kim" not in reply
    assert any("bedankt je" in r.body for r in net.notifier.to(net.kim.id))  # type: ignore[union-attr]
    overview = net.text(net.anna, "/kudos")
    assert "anonieme auteur" in overview and "Kim" not in overview


def test_cannot_thank_for_a_lesson_you_may_not_see(net: Net) -> None:
    rid = net.reflect(net.kim, "x", "y", "intern", visibility="organisatie")
    assert "mag hem niet zien" in net.text(net.anna, f"/bedank {rid}")
    assert net.store.kudos == {}


def test_incident_creates_prompts_and_answering_closes_them(net: Net) -> None:
    reply = net.text(net.anna, "/incident Brand in loods met @piet @bas")
    assert "Brand in loods" in reply
    prompts = [p for p in net.store.prompts.values()]
    assert {p.member_id for p in prompts} == {net.piet.id, net.bas.id}
    assert all(p.due_at == net.clock.now() + timedelta(hours=2) for p in prompts)
    net.clock.advance(timedelta(hours=3))
    [message] = net.bot.due_prompts(net.piet)
    assert [c.label for c in message.choices][:2] == ["Nu invullen", "Later"]  # type: ignore[union-attr]
    prompt = next(p for p in prompts if p.member_id == net.piet.id)
    assert "Brand in loods" in net.text(net.piet, f"/invullen {prompt.id}")
    for answer in ("goed", "beter", "les", "netwerk", "overslaan", "overslaan", "overslaan"):
        net.say(net.piet, answer)
    assert net.store.get_prompt(prompt.id).state is PromptState.ANSWERED


def test_incident_with_unknown_participant_stores_nothing(net: Net) -> None:
    reply = net.text(net.anna, "/incident Brand met @piet @niemand")
    assert "@niemand" in reply
    assert net.store.incidents == {} and net.store.prompts == {}


def test_prompt_later_and_skip(net: Net) -> None:
    net.say(net.anna, "/oefening Ontruiming met @bas om nu")
    [prompt] = net.store.prompts.values()
    assert prompt.due_at == net.clock.now()
    assert "opnieuw" in net.text(net.bas, f"/later {prompt.id}")
    assert net.store.get_prompt(prompt.id).due_at == net.clock.now() + timedelta(hours=2)
    net.say(net.bas, f"/overslaan {prompt.id}")
    assert net.store.get_prompt(prompt.id).state is PromptState.SKIPPED
    assert "niet (meer)" in net.text(net.piet, f"/overslaan {prompt.id}")


def test_forget_asks_then_deletes_everything(net: Net) -> None:
    rid = net.reflect(net.piet, "x", "y", "een les")
    net.say(net.anna, "/kudos @piet bedankt")
    assert "zeker" in net.text(net.piet, "/vergeet")
    assert net.store.get_member(net.piet.id) is not None
    assert "verwijderd" in net.text(net.piet, "ja")
    assert net.store.get_member(net.piet.id) is None
    assert rid not in net.store.reflections and rid not in net.index.docs
    assert net.store.kudos == {}


def test_forget_can_be_called_off(net: Net) -> None:
    net.say(net.piet, "/vergeet")
    assert "Niets verwijderd" in net.text(net.piet, "/nee")
    assert net.store.get_member(net.piet.id) is not None


def test_language_switch_changes_texts(net: Net) -> None:
    assert "English" in net.text(net.bas, "/taal en")
    assert "What would you like" in net.text(net.bas, "/ask")
    assert "Goodbye" not in net.text(net.sara, "/help")
    assert "I am Leerlus" in net.text(net.sara, "/help")


def test_digest_switch(net: Net) -> None:
    net.say(net.bas, "/digest uit")
    assert net.store.get_member(net.bas.id).digest is False


def test_invites_are_for_coordinators(net: Net) -> None:
    assert "coördinator" in net.text(net.bas, "/uitnodiging")
    reply = net.text(net.anna, "/uitnodiging")
    [code] = net.store.invites
    assert code in reply
    from bot.models import Identity

    joined = net.bot.join(Identity("telegram", "42"), "Tom", code)
    assert "Welkom" in joined[0].body  # type: ignore[union-attr]
    assert net.store.member_by_identity(Identity("telegram", "42")).org_id == net.anna.org_id
    bad = net.bot.join(Identity("telegram", "43"), "Tim", "NOPE")
    assert "ken ik niet" in bad[0].body  # type: ignore[union-attr]


def test_coordinator_hides_abusive_lesson(net: Net) -> None:
    rid = net.reflect(net.bas, "x", "y", "ongepaste les")
    assert "coördinator" in net.text(net.piet, f"/verberg {rid}")
    net.say(net.anna, f"/verberg {rid}")
    assert rid not in net.index.docs
    assert net.store.visible_lessons(net.piet, [rid]) == {}
    assert net.store.audit[-1][1] == "reflection.hide"


def test_every_bad_input_gets_a_reply(net: Net) -> None:
    for text in (
        "",
        "/onbekend",
        "x" * 5000,
        "x" * 6000,
        "/kudos",
        "/nuttig 999",
        "/bedank abc",
        "/invullen 999",
        "/ja",
        "/meer",
        "/reflectie 999",
    ):
        replies = net.say(net.bas, text)
        assert replies and all(isinstance(r, Text) for r in replies[:1]), text


def test_mine_lists_reflections_kudos_and_prompts(net: Net) -> None:
    net.reflect(net.bas, "x", "y", "mijn les over briefings")
    net.say(net.anna, "/kudos @bas sterk werk")
    net.say(net.anna, "/incident Stroomstoring met @bas")
    overview = net.text(net.bas, "/mijn")
    assert "briefings" in overview and "sterk werk" in overview and "Stroomstoring" in overview


def test_a_failed_delivery_does_not_undo_the_kudos(net: Net) -> None:
    class BrokenNotifier:
        def notify(self, member: object, replies: object) -> None:
            raise ConnectionError("chat platform down")

    net.bot.notifier = BrokenNotifier()
    assert "verstuurd" in net.text(net.anna, "/kudos @piet voor de hulp")
    assert len(net.store.kudos) == 1


def test_messages_to_others_wait_for_the_commit(net: Net) -> None:
    net.say(net.anna, "/kudos @piet voor de hulp")
    assert len(net.notifier.sent) == 1
    net.store.fail_next_commit = True  # type: ignore[attr-defined]
    assert "niet bereiken" in net.text(net.anna, "/kudos @piet nog eens")
    assert len(net.notifier.sent) == 1 and len(net.store.kudos) == 1
    net.say(net.anna, "/kudos @piet derde keer")
    assert len(net.notifier.sent) == 2 and len(net.store.kudos) == 2


def test_answers_others_read_show_only_what_the_whole_network_may_see(net: Net) -> None:
    public = net.reflect(net.piet, "x", "y", "evacuatie bewoners openbaar")
    internal = net.reflect(net.kim, "x", "y", "evacuatie bewoners intern", "organisatie")
    own = net.reflect(net.piet, "x", "y", "evacuatie bewoners privé", visibility="prive")
    in_dm = [c.reflection_id for c in cards(net.bot.handle_text(net.piet, "evacuatie bewoners"))]
    assert {public, internal, own} <= set(in_dm)
    in_group = net.bot.handle_text(net.piet, "evacuatie bewoners", shared=True)
    assert [c.reflection_id for c in cards(in_group)] == [public]


def test_personal_overviews_are_not_given_where_others_read(net: Net) -> None:
    net.say(net.anna, "/kudos @piet voor de hulp")
    for text in ("/mijn", "/kudos", "/uitnodiging", "/vergeet", "/reflectie"):
        [reply] = net.bot.handle_text(net.anna, text, shared=True)
        assert "onder vier ogen" in reply.body  # type: ignore[union-attr]
    assert net.store.get_conversation(net.anna.id).pending is None
    assert net.store.invites == {}


def test_hiding_tells_a_prober_nothing(net: Net) -> None:
    anonymous_own = net.reflect(net.bas, "x", "y", "anoniem", visibility="anoniem")
    other_private = net.reflect(net.piet, "x", "y", "privé", visibility="prive")
    answers = {net.text(net.anna, f"/verberg {rid}") for rid in (anonymous_own, other_private, 999)}
    assert len(answers) == 1 and "niet (meer)" in answers.pop()
    assert not any(r.hidden for r in net.store.reflections.values())
