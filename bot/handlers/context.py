"""What every handler receives: the acting member, the ports, and their texts."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from bot.errors import NotFound
from bot.models import Member, Organisation
from bot.ports import Clock, SearchIndex, Store
from bot.ranking import RankingConfig
from bot.replies import Reply
from bot.texts import Translator

CHAT = "chat"  # the channel of every action that comes through a chat, for the audit trail


@dataclass
class Ctx:
    member: Member
    store: Store
    index: SearchIndex
    clock: Clock
    ranking: RankingConfig = field(default_factory=RankingConfig)
    # True in a channel or group: others read the answer, so only what the whole network
    # may see is shown, and personal overviews are not given there.
    shared: bool = False
    # Messages for other members, delivered only after the transaction has committed.
    outbox: list[tuple[Member, list[Reply]]] = field(default_factory=list)

    def notify(self, member: Member, replies: list[Reply]) -> None:
        """Queue a direct message to another member, sent once this command succeeded."""
        self.outbox.append((member, replies))

    @property
    def tr(self) -> Translator:
        return Translator(self.member.locale)

    def now(self) -> datetime:
        return self.clock.now()

    def org(self, org_id: int | None = None) -> Organisation:
        """The member's organisation, or another one by id."""
        org = self.store.get_org(self.member.org_id if org_id is None else org_id)
        if org is None:
            raise NotFound("error.not_found")
        return org
