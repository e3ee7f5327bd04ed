"""Delivering messages to members who did not ask: by platform, or as a stored notice."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from adapters.plain import render_plain
from bot.models import Identity, Member
from bot.ports import Store
from bot.replies import Reply

log = logging.getLogger(__name__)

Sender = Callable[[Identity, Sequence[Reply]], None]


class RoutingNotifier:
    """Sends through the first platform of the member that has a sender.

    Members who are only on the console (or whose platform is not running in this process)
    get a stored notice, shown the next time they open the console chat.
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self.senders: dict[str, Sender] = {}

    def register(self, platform: str, sender: Sender) -> None:
        """Route messages for `platform` identities to `sender`."""
        self.senders[platform] = sender

    def notify(self, member: Member, replies: Sequence[Reply]) -> None:
        """Deliver replies to a member, or keep them as a notice."""
        for identity in member.identities:
            sender = self.senders.get(identity.platform)
            if sender is not None:
                sender(identity, replies)
                return
        now = datetime.now(UTC)
        for reply in replies:
            self.store.add_notice(member.id, render_plain(reply), now)
