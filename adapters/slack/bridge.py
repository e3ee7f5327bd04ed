"""From a Slack interaction to the core and back: member, command once, replies delivered.

The one place where the Slack adapter turns failures into answers: an unmapped workspace
gets the explanation, a database outage the catalogue's `error.unavailable` text ("try
again shortly"), an unexpected error its `error.internal` text, and a reply that cannot be
delivered a log line (delivery already fell back to a DM).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator, Sequence

from adapters.runtime import Runtime
from adapters.slack import outbound
from adapters.slack.delivery import Delivery, DeliveryFailed
from adapters.slack.inbound import Origin
from adapters.slack.people import People
from adapters.slack.worker import CoreRunner
from bot.commands import Command, Mine
from bot.errors import ServiceUnavailable
from bot.replies import Reply, Text
from bot.texts import Translator

log = logging.getLogger(__name__)


class Bridge:
    """Runs Slack interactions through the core's `Bot.handle`."""

    def __init__(self, rt: Runtime, delivery: Delivery, people: People, run: CoreRunner) -> None:
        self.rt = rt
        self.run = run
        self.delivery = delivery
        self.people = people
        # Interactions being worked on: Slack was told "received" (ack), so a shutdown waits
        # for them (`drain`) instead of cancelling them; Slack would not send them again.
        self._busy = 0
        self._idle = asyncio.Event()
        self._idle.set()

    async def drain(self, timeout: float) -> int:
        """Wait up to `timeout` seconds until no interaction is being worked on; return how
        many still are."""
        # Listeners Bolt started with the ack run from the loop's next turn on: let them begin.
        await asyncio.sleep(0)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), timeout)
        return self._busy

    @contextlib.contextmanager
    def _working(self) -> Iterator[None]:
        self._busy += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._busy -= 1
            if self._busy == 0:
                self._idle.set()

    async def handle(
        self,
        origin: Origin,
        command: Command,
        *,
        key: str | None,
        mentions: Sequence[str] = (),
    ) -> None:
        """Handle one interaction once (by `key`) and deliver the replies where they belong."""
        with self._working():
            await self._handle(origin, command, key=key, mentions=mentions)

    async def _handle(
        self, origin: Origin, command: Command, *, key: str | None, mentions: Sequence[str]
    ) -> None:
        locale = self.rt.settings.locale
        try:
            if not await self.run(self._first, key):
                log.info("slack: %s delivered again; handled once already", key)
                return
            member = await self.people.member(origin.team, origin.user)
            if member is None:
                await self._deliver(origin, [self._unmapped(origin.team, locale)])
                return
            locale = member.locale
            await self.people.ensure(mentions, origin.team)
            replies = await self.run(self.rt.bot.handle, member, command, shared=origin.shared)
        except ServiceUnavailable as error:
            # The core answers an outage inside `Bot.handle`; this one came before it (the
            # handled-once mark, the member): nothing was carried out, the user may retry.
            log.error("slack: %s not handled: %s", type(command).__name__, error)
            await self._deliver(
                origin, [Text(Translator(locale)(ServiceUnavailable.key), ephemeral=True)]
            )
            return
        except Exception:
            log.exception("slack: handling %s failed", type(command).__name__)
            await self._deliver(
                origin, [Text(Translator(locale)("error.internal"), ephemeral=True)]
            )
            return
        await self._deliver(origin, replies)

    async def home(self, team: str, user: str) -> None:
        """Publish a member's home tab: their overview from the core (`mijn`)."""
        with self._working():
            await self._home(team, user)

    async def _home(self, team: str, user: str) -> None:
        try:
            member = await self.people.member(team, user)
            if member is None:
                replies: list[Reply] = [self._unmapped(team, self.rt.settings.locale)]
            else:
                replies = await self.run(self.rt.bot.handle, member, Mine())
            await self.delivery.publish_home(user, outbound.home_view(replies))
        except ServiceUnavailable as error:  # the tab keeps what it showed; nothing to answer
            log.error("slack: home tab not published: %s", error)
        except Exception:
            log.exception("slack: publishing the home tab failed")

    def _first(self, key: str | None) -> bool:
        # The key is committed on its own, before the work: every interaction is acked
        # before it is worked on, so Slack redelivers only while (or after) we work on it,
        # never because the work failed. Committing first lets a redelivery see the key at
        # once, and keeps the database free while the core's messages go out.
        if key is None:
            return True
        with self.rt.store.transaction():
            return self.rt.store.mark_processed(key, self.rt.bot.clock.now())

    def _unmapped(self, team: str, locale: str) -> Text:
        return Text(Translator(locale)("org.unmapped_slack", team=team), ephemeral=True)

    async def _deliver(self, origin: Origin, replies: Sequence[Reply]) -> None:
        try:
            await self.delivery.send(origin, replies)
        except DeliveryFailed:
            pass  # logged where it failed, with Slack's error code
        except Exception:
            log.exception("slack: delivering a reply to %s failed", origin.user)
