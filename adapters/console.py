"""The console adapter: talk to Leerlus in a terminal.

Plain text asks, `/commands` work as in the spec, and choices are shown as numbered
options: typing the number takes the choice. Colour appears where the terminal has it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.panel import Panel

from adapters.plain import card_lines
from bot.commands import is_number
from bot.errors import ServiceUnavailable
from bot.models import Member
from bot.replies import Choice, File, Form, LessonCard, Reply, Text
from bot.service import Bot, unavailable_text
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
        files_dir: Path | None = None,
    ) -> None:
        self.bot = bot
        self.files_dir = files_dir  # where files for the member (their export) are written
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
        except ServiceUnavailable as error:  # the core answers its own; this came from around it
            log.error("console: command of member %s not handled: %s", self.member.id, error)
            replies = [unavailable_text(self.member.locale)]
        except Exception:
            log.exception("console: handling a command failed (member %s)", self.member.id)
            replies = [Text(self.tr("error.internal"))]
        self.show(replies)
        try:
            identities = self.member.identities
            fresh = self.bot.member_for(identities[0]) if identities else None
            if fresh is not None:
                self.member = fresh
                self._show_waiting()
        except ServiceUnavailable as error:
            # The database went away after the answer: keep the chat open with what we know;
            # the next line is answered "try again shortly" until it is back.
            log.error("console: refreshing member %s failed: %s", self.member.id, error)
            return True
        return fresh is not None

    def _choice_command(self, line: str) -> str:
        stripped = line.strip()
        if is_number(stripped) and 1 <= int(stripped) <= len(self.options):
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
            elif isinstance(reply, File):
                self._file(reply)

    def _file(self, file: File) -> None:
        """Write a file into the files directory (readable by its owner only) and say where."""
        if self.files_dir is None:
            self.console.print(escape(file.caption))
            self.console.print(escape(file.content.decode("utf-8", "replace")))
            return
        self.files_dir.mkdir(parents=True, exist_ok=True)
        path = self.files_dir / Path(file.name).name  # never a path the core did not mean
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)  # also when an older export of the same name was there
        with os.fdopen(fd, "wb") as handle:
            handle.write(file.content)
        self.console.print(escape(file.caption))
        self.console.print(escape(self.tr("export.saved", path=str(path.resolve()))))

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
