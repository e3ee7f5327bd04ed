"""The bot: one entry point, `Bot.handle`, and one routing table.

Every user action of every platform arrives here as (member, Command) and leaves as a
list of replies. Each command runs in one store transaction; user errors become a
friendly text in the member's language, so no action ever goes unanswered.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime

from bot import commands as c
from bot.errors import LeerlusError, ServiceUnavailable, UserError
from bot.handlers import ask, incidents, kudos, membership, privacy, prompts, reflect
from bot.handlers.context import Ctx
from bot.models import Identity, Member, Organisation
from bot.ports import Clock, Notifier, SearchIndex, Store
from bot.ranking import RankingConfig
from bot.replies import Reply, Text
from bot.texts import Translator

log = logging.getLogger(__name__)

# Commands whose answer is about the member alone: not answered where others read along.
PERSONAL = (
    c.Mine,
    c.ExportMine,
    c.ListKudos,
    c.CreateInvite,
    c.Forget,
    c.Confirm,
    c.StartReflection,
)

_YES = {"ja", "yes", "j", "y"}
_NO = {"nee", "no", "n"}


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass
class Bot:
    store: Store
    index: SearchIndex
    clock: Clock
    notifier: Notifier
    ranking: RankingConfig = field(default_factory=RankingConfig)

    def handle(self, member: Member, command: c.Command, *, shared: bool = False) -> list[Reply]:
        """Carry out one command for a member and return the replies to show them.

        `shared` says the answer is read by others too (a channel, a group chat).
        """
        ctx = Ctx(member, self.store, self.index, self.clock, self.ranking, shared=shared)
        try:
            with self.store.transaction():
                if shared and isinstance(command, PERSONAL):
                    return [Text(ctx.tr("shared.personal"))]
                replies = self._route(command, ctx)
        except UserError as error:
            return [Text(Translator(member.locale)(error.key, **error.params))]
        except ServiceUnavailable as error:
            # Rolled back as a whole: nothing of this command was stored. `error` names the
            # dependency and its reason, never the member's text.
            log.error(
                "command %s of member %s not carried out: %s",
                type(command).__name__,
                member.id,
                error,
            )
            return [unavailable_text(member.locale)]
        except LeerlusError as error:
            log.warning("command %s failed: %s", type(command).__name__, error.key)
            return [Text(Translator(member.locale)(error.key, **error.params))]
        for recipient, messages in ctx.outbox:
            try:
                self.notifier.notify(recipient, messages)
            except Exception:  # the command succeeded; a failed delivery must not undo it
                log.exception("delivering a message to member %s failed", recipient.id)
        return replies

    def handle_text(self, member: Member, text: str, *, shared: bool = False) -> list[Reply]:
        """Parse a line of user input and handle it."""
        return self.handle(member, c.parse_command(text), shared=shared)

    def _route(self, command: c.Command, ctx: Ctx) -> list[Reply]:
        """The routing table: one case per command."""
        tr = ctx.tr
        match command:
            case c.PlainText(text):
                return self._plain(text, ctx)
            case c.Ask(text):
                return ask.ask(text, ctx)
            case c.More():
                return ask.more(ctx)
            case c.StartReflection():
                return reflect.start(command, ctx)
            case c.SubmitReflection():
                return reflect.submit(command, ctx)
            case c.Cancel():
                return reflect.cancel(ctx)
            case c.GiveKudos(who, reason):
                return kudos.give(who, reason, ctx)
            case c.ListKudos():
                return kudos.overview(ctx)
            case c.Thank(reflection_id, reason):
                return kudos.thank(reflection_id, reason, ctx)
            case c.Helpful(reflection_id):
                return kudos.helpful(reflection_id, ctx)
            case c.RegisterIncident():
                return incidents.register(command, ctx)
            case c.PromptAction():
                return prompts.act(command, ctx)
            case c.Mine():
                return privacy.mine(ctx)
            case c.Forget():
                return privacy.forget(ctx)
            case c.Confirm(yes):
                return privacy.confirm(yes, ctx)
            case c.Hide(reflection_id):
                return privacy.hide(reflection_id, ctx)
            case c.Unhide(reflection_id):
                return privacy.unhide(reflection_id, ctx)
            case c.ExportMine():
                return privacy.export_mine(ctx)
            case c.SetDigest(on):
                return membership.set_digest(on, ctx)
            case c.SetLanguage(locale):
                return membership.set_language(locale, ctx)
            case c.Help():
                return membership.help_text(ctx)
            case c.CreateInvite():
                return membership.create_invite(ctx)
            case c.Join():
                return [Text(tr("join.already", org=ctx.org().name))]
            case c.Unknown(name):
                return [Text(tr("error.unknown_command", name=name))]
            case c.Invalid(key, params):
                return [Text(tr(key, **dict(params)))]
        raise AssertionError(f"no route for {command!r}")  # pragma: no cover

    def _plain(self, text: str, ctx: Ctx) -> list[Reply]:
        """Plain text answers the running flow, or else it is a question."""
        conversation = self.store.get_conversation(ctx.member.id)
        if conversation.pending == reflect.PENDING:
            return reflect.answer(text, ctx)
        if conversation.pending == privacy.PENDING_FORGET:
            word = text.strip().lower()
            if word in _YES or word in _NO:
                return privacy.confirm(word in _YES, ctx)
        return ask.ask(text, ctx)

    # entry points for members who are not members yet, or for the platforms

    def member_for(self, identity: Identity) -> Member | None:
        """The member behind a platform identity, if known."""
        with self.store.transaction():
            return self.store.member_by_identity(identity)

    def ensure_member(self, identity: Identity, org: Organisation, name: str) -> Member:
        """The member behind an identity, created in `org` on first contact."""
        with self.store.transaction():
            return membership.ensure_member(self.store, identity, org, name)

    def join(self, identity: Identity, name: str, code: str, locale: str = "nl") -> list[Reply]:
        """Join an organisation with an invite code (Telegram `/start CODE`)."""
        tr = Translator(locale)
        try:
            with self.store.transaction():
                member = membership.join(self.store, identity, name, code, self.clock.now(), locale)
                org = self.store.get_org(member.org_id)
        except UserError as error:
            return [Text(tr(error.key, **error.params))]
        return [Text(tr("join.welcome", name=member.name, org=org.name if org else ""))]

    def due_prompts(self, member: Member) -> list[Reply]:
        """Prompts that are due for a member who just came online (console)."""
        with self.store.transaction():
            return prompts.take_due(member, self.clock.now(), store=self.store)

    def notices(self, member: Member) -> list[str]:
        """Messages that arrived for a member while they were away (console)."""
        with self.store.transaction():
            return self.store.take_notices(member.id)


def unavailable_text(locale: str) -> Text:
    """The answer when a dependency failed: try again shortly."""
    return Text(Translator(locale)(ServiceUnavailable.key))
