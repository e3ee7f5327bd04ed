"""The console adapter: talk to Leerlus in a terminal.

Plain text asks, `/commands` work as in the spec, and choices are shown as numbered
options: typing the number takes the choice. Colour appears where the terminal has it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from rich.console import Console
from rich.markup import escape
from rich.panel import Panel

from adapters.plain import card_lines
from bot.models import Member
from bot.replies import Choice, Form, LessonCard, Reply, Text
from bot.service import Bot
from bot.texts import Translator

log = logging.getLogger(__name__)

EXIT_WORDS = {"/exit", "/quit", "/exit()", "/bye"}


class ConsoleChat:
    """One member's chat session in the terminal."""

    def __init__(
        self,
        bot: Bot,
        member: Member,
        console: Console,
        read: Callable[[str], str] | None = None,
    ) -> None:
        self.bot = bot
        self.member = member
        self.console = console
        self.read = read or (lambda prompt: console.input(prompt))
        self.options: list[Choice] = []

    @property
    def tr(self) -> Translator:
        return Translator(self.member.locale)

    def run(self) -> None:
        """Greet, show what arrived while away, then answer lines until the user quits."""
        org = self.bot.store.get_org(self.member.org_id)
        welcome = self.tr("console.welcome", name=self.member.name, org=org.name if org else "")
        self.console.print(f"[bold]{escape(welcome)}[/bold]")
        self._show_waiting()
        while True:
            try:
                line = self.read(f"[bold cyan]{escape(self.tr('console.prompt'))}>[/] ")
            except (EOFError, KeyboardInterrupt):
                break
            if line.strip().lower() in EXIT_WORDS:
                break
            if not self.step(line):
                break
        self.console.print(self.tr("console.bye"))

    def step(self, line: str) -> bool:
        """Handle one line; False when the member no longer exists (after `vergeet`)."""
        text = self._choice_command(line)
        try:
            replies = self.bot.handle_text(self.member, text)
        except Exception:
            log.exception("console: handling a command failed (member %s)", self.member.id)
            replies = [Text(self.tr("error.internal"))]
        self.show(replies)
        fresh = self.bot.member_for(self.member.identities[0]) if self.member.identities else None
        if fresh is None:
            return False
        self.member = fresh
        self._show_waiting()
        return True

    def _choice_command(self, line: str) -> str:
        stripped = line.strip()
        if stripped.isdigit() and 1 <= int(stripped) <= len(self.options):
            return self.options[int(stripped) - 1].command
        return line

    def _show_waiting(self) -> None:
        notices = self.bot.notices(self.member)
        for body in notices:
            self.console.print(f"[magenta]{escape(self.tr('console.notice'))}[/] {escape(body)}")
        due = self.bot.due_prompts(self.member)
        if due:
            self.show(due)

    def show(self, replies: list[Reply]) -> None:
        """Print replies; their choices are numbered across the whole answer."""
        self.options = []
        for reply in replies:
            if isinstance(reply, LessonCard):
                self._card(reply)
            elif isinstance(reply, Text):
                self.console.print(escape(reply.body))
                self._choices(reply.choices)
            elif isinstance(reply, Form):
                self.console.print(escape(reply.title))

    def _card(self, card: LessonCard) -> None:
        title, lines = card_lines(card)
        body = "\n".join(escape(line) for line in lines)
        self.console.print(Panel(body, title=escape(title), title_align="left", expand=False))
        self._choices(card.choices)

    def _choices(self, choices: tuple[Choice, ...]) -> None:
        if not choices:
            return
        parts = []
        for choice in choices:
            self.options.append(choice)
            parts.append(f"[bold green]\\[{len(self.options)}][/] {escape(choice.label)}")
        self.console.print("  ".join(parts))
