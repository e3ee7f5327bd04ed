"""The prompt state machine on the fakes: deliver, remind, retry, take over, expire."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from bot.handlers.delivery import CLAIM_BATCH, DeliveryRun, backlog, deliver_due, expire_due
from bot.handlers.prompts import LEASE
from bot.models import Member, PromptState
from bot.replies import Reply, Text
from tests.core.conftest import Net
from tests.fakes import RecordingNotifier

HOUR = timedelta(hours=1)


def deliver(net: Net, worker: str = "w1", notifier: object | None = None) -> DeliveryRun:
    """Run the delivery job until nothing is due (as the scheduler does)."""
    total = DeliveryRun()
    while True:
        run = deliver_due(
            net.clock.now(),
            store=net.store,
            notifier=notifier or net.notifier,  # type: ignore[arg-type]
            worker=worker,
        )
        for name in ("claimed", "sent", "reminded", "failed", "lost"):
            setattr(total, name, getattr(total, name) + getattr(run, name))
        if run.claimed < CLAIM_BATCH:
            return total


def bodies(net: Net, member: Member) -> list[str]:
    return [r.body for r in net.notifier.to(member.id) if isinstance(r, Text)]


@dataclass
class FlakyNotifier:
    """Fails the first `failures` deliveries, then records like the recording notifier."""

    failures: int
    inner: RecordingNotifier = field(default_factory=RecordingNotifier)

    def notify(self, member: Member, replies: Sequence[Reply]) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise TimeoutError("the platform did not answer")
        self.inner.notify(member, replies)


def test_prompts_go_out_when_due_and_only_once(net: Net) -> None:
    net.say(net.anna, "/incident Brand in loods met @piet @bas")
    assert deliver(net).claimed == 0  # due in two hours
    net.clock.advance(2 * HOUR)
    run = deliver(net)
    assert (run.claimed, run.sent) == (2, 2)
    [message] = net.notifier.to(net.piet.id)
    assert isinstance(message, Text) and "Brand in loods" in message.body
    assert [c.command.split()[0] for c in message.choices] == [
        "/invullen",
        "/later",
        "/later",
        "/overslaan",
    ]
    assert deliver(net).claimed == 0
    net.clock.advance(HOUR)
    assert deliver(net, "w2").claimed == 0  # another process finds nothing either
    prompt = net.store.prompts_of(net.piet.id)[0]
    assert (prompt.state, prompt.sent_at, prompt.attempts) == (
        PromptState.SENT,
        net.clock.now() - HOUR,
        1,
    )


def test_one_reminder_after_a_day_unless_answered(net: Net) -> None:
    net.say(net.anna, "/incident Brand met @piet @bas om nu")
    deliver(net)
    prompt = net.store.prompts_of(net.bas.id)[0]
    net.say(net.bas, f"/invullen {prompt.id}")
    for answer in ("goed", "beter", "les", "netwerk", "overslaan", "overslaan", "overslaan"):
        net.say(net.bas, answer)
    net.clock.advance(24 * HOUR - timedelta(seconds=1))
    assert deliver(net).claimed == 0
    net.clock.advance(timedelta(seconds=1))
    run = deliver(net)
    assert (run.reminded, run.sent) == (1, 0)
    assert "herinnering" in bodies(net, net.piet)[-1]
    assert len(bodies(net, net.bas)) == 1  # answered: no reminder
    net.clock.advance(48 * HOUR)
    assert deliver(net).claimed == 0  # once
    assert net.store.prompts_of(net.piet.id)[0].reminded_at == net.clock.now() - 48 * HOUR


def test_prompts_expire_after_seven_days(net: Net) -> None:
    net.say(net.anna, "/incident Brand met @piet om nu")
    deliver(net)
    net.clock.advance(7 * 24 * HOUR - timedelta(seconds=1))
    assert expire_due(net.clock.now(), store=net.store) == 0
    net.clock.advance(timedelta(seconds=1))
    assert expire_due(net.clock.now(), store=net.store) == 1
    [prompt] = net.store.prompts_of(net.piet.id)
    assert prompt.state is PromptState.EXPIRED
    assert "verlopen" in net.text(net.piet, f"/invullen {prompt.id}")
    assert deliver(net).claimed == 0


def test_an_undelivered_prompt_expires_too_and_is_never_sent_late(net: Net) -> None:
    net.say(net.anna, "/incident Brand met @piet om nu")
    net.clock.advance(8 * 24 * HOUR)  # the scheduler was down all week
    assert deliver(net).claimed == 0
    assert expire_due(net.clock.now(), store=net.store) == 1


def test_a_failing_platform_is_retried_with_backoff_and_attempts_counted(net: Net) -> None:
    net.say(net.anna, "/incident Brand met @piet om nu")
    flaky = FlakyNotifier(failures=2)
    assert deliver(net, notifier=flaky).failed == 1
    [prompt] = net.store.prompts_of(net.piet.id)
    assert (prompt.state, prompt.attempts, prompt.last_error) == (
        PromptState.SCHEDULED,
        1,
        "TimeoutError",
    )
    assert prompt.due_at == net.clock.now() + timedelta(minutes=1)
    assert backlog(net.clock.now(), store=net.store) == {"overdue": 0, "failing": 1}
    net.clock.advance(timedelta(minutes=1))
    assert deliver(net, notifier=flaky).failed == 1
    assert net.store.prompts_of(net.piet.id)[0].due_at == net.clock.now() + timedelta(minutes=2)
    net.clock.advance(timedelta(minutes=2))
    assert deliver(net, notifier=flaky).sent == 1
    [prompt] = net.store.prompts_of(net.piet.id)
    assert (prompt.state, prompt.attempts, prompt.last_error) == (PromptState.SENT, 3, None)
    assert len(flaky.inner.to(net.piet.id)) == 1


def test_a_claim_of_a_process_that_died_is_taken_over_after_the_lease(net: Net) -> None:
    net.say(net.anna, "/incident Brand met @piet om nu")
    now = net.clock.now()
    # Process A claims the prompt and dies before settling it.
    [claim] = net.store.claim_due_prompts(now, "A", now - LEASE)
    assert deliver(net, "B").claimed == 0  # a fresh claim is respected
    assert backlog(now, store=net.store)["overdue"] == 0
    net.clock.advance(LEASE)
    assert backlog(net.clock.now(), store=net.store)["overdue"] == 1
    assert deliver(net, "B").sent == 1
    [prompt] = net.store.prompts_of(net.piet.id)
    assert (prompt.state, prompt.claimed_by, prompt.attempts) == (PromptState.SENT, "B", 2)
    # A comes back to life: its claim no longer counts.
    assert not net.store.finish_prompt_claim(claim, state=PromptState.SCHEDULED)
    assert net.store.get_prompt(claim.id).state is PromptState.SENT


def test_later_asks_again_as_a_prompt_and_skip_ends_it(net: Net) -> None:
    net.say(net.anna, "/incident Brand met @piet @bas om nu")
    deliver(net)
    piet = net.store.prompts_of(net.piet.id)[0]
    bas = net.store.prompts_of(net.bas.id)[0]
    assert "opnieuw" in net.text(net.piet, f"/later {piet.id}")
    net.say(net.bas, f"/overslaan {bas.id}")
    net.clock.advance(2 * HOUR)
    assert deliver(net).sent == 1
    assert len(bodies(net, net.piet)) == 2 and "Brand" in bodies(net, net.piet)[-1]
    assert len(bodies(net, net.bas)) == 1
    net.clock.advance(30 * 24 * HOUR)
    assert deliver(net).claimed == 0
    assert net.store.get_prompt(bas.id).state is PromptState.SKIPPED


def test_snooze_tomorrow_morning_is_nine_local(net: Net) -> None:
    net.say(net.anna, "/incident Brand met @piet om nu")
    deliver(net)
    [prompt] = net.store.prompts_of(net.piet.id)
    net.say(net.piet, f"/later {prompt.id} morgen")
    due = net.store.get_prompt(prompt.id).due_at
    assert due.isoformat() == "2026-12-01T08:00:00+00:00"  # 09:00 in Amsterdam (CET)


def test_acting_while_a_message_is_in_flight_wins_over_the_sender(net: Net) -> None:
    net.say(net.anna, "/incident Brand met @piet om nu")
    now = net.clock.now()
    [claim] = net.store.claim_due_prompts(now, "w1", now - LEASE)
    assert "Brand" in net.text(net.piet, "/mijn")  # still open while it is being sent
    net.say(net.piet, f"/overslaan {claim.id}")
    assert not net.store.finish_prompt_claim(claim, state=PromptState.SENT, sent_at=now)
    assert net.store.get_prompt(claim.id).state is PromptState.SKIPPED


def test_console_and_scheduler_never_both_deliver(net: Net) -> None:
    net.say(net.anna, "/incident Brand met @piet @bas om nu")
    [shown] = net.bot.due_prompts(net.piet)
    assert isinstance(shown, Text) and "Brand" in shown.body
    run = deliver(net)
    assert run.sent == 1 and net.notifier.to(net.piet.id) == []  # only Bas's
    assert net.bot.due_prompts(net.bas) == []
    net.clock.advance(24 * HOUR)
    [reminder] = net.bot.due_prompts(net.piet)  # the console shows reminders too
    assert isinstance(reminder, Text) and "herinnering" in reminder.body
    assert deliver(net).reminded == 1  # Bas's, by the scheduler
    assert net.bot.due_prompts(net.piet) == [] and deliver(net).claimed == 0


def test_members_who_blocked_the_bot_wait_until_reachable_again(net: Net) -> None:
    net.say(net.anna, "/incident Stroomstoring met @piet")
    net.store.update_member(net.piet.id, unreachable=True)
    net.clock.advance(3 * HOUR)
    assert deliver(net).claimed == 0
    assert net.notifier.to(net.piet.id) == []
    net.store.update_member(net.piet.id, unreachable=False)
    assert deliver(net).sent == 1
