"""The `leerlus` command line: every command of the spec's table.

Each command builds the runtime from Settings, which creates or upgrades an empty
database by itself. User mistakes end with a clear message and exit code 2, never a
traceback.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from adapters.runtime import Runtime, build, configure_logging
from bot import bulk
from bot.commands import is_number
from bot.config import Settings
from bot.demo import load_demo
from bot.errors import UserError
from bot.handlers import incidents, membership
from bot.handlers.ask import search
from bot.handlers.privacy import member_data
from bot.models import Discipline, Identity, IncidentKind, Member, PromptState, Role
from bot.texts import Translator

log = logging.getLogger(__name__)

app = typer.Typer(
    help="Leerlus: learn together from incidents and exercises.", no_args_is_help=True
)
org_app = typer.Typer(help="Organisations.", no_args_is_help=True)
member_app = typer.Typer(help="Members and roles.", no_args_is_help=True)
incident_app = typer.Typer(help="Incidents and exercises.", no_args_is_help=True)
db_app = typer.Typer(help="The database.", no_args_is_help=True)
prompts_app = typer.Typer(help="Reflection prompts.", no_args_is_help=True)
app.add_typer(org_app, name="org")
app.add_typer(member_app, name="member")
app.add_typer(incident_app, name="incident")
app.add_typer(db_app, name="db")
app.add_typer(prompts_app, name="prompts")

out = Console()
err = Console(stderr=True)
CLI = "cli"  # the channel of every audit entry written here


def fail(message: str) -> typer.Exit:
    """Print a clear message and return the exit to raise (code 2: usage)."""
    err.print(f"[red]{message}[/red]")
    return typer.Exit(2)


@contextmanager
def runtime(*, log_to_stderr: bool = True) -> Iterator[Runtime]:
    """Build the runtime; turn user errors into a message instead of a traceback."""
    settings = Settings()
    configure_logging(settings, to_stderr=log_to_stderr)
    rt = build(settings)
    try:
        yield rt
    except UserError as error:
        raise fail(Translator(settings.locale)(error.key, **error.params)) from None
    finally:
        try:
            rt.index.flush()  # what it holds is in the database too: this saves a catch-up
        except Exception:
            log.warning("writing the index files on exit failed", exc_info=True)
        rt.index.close()
        rt.engine.dispose()


def _identity(text: str) -> Identity:
    try:
        return Identity.parse(text)
    except ValueError:
        raise fail(
            f"'{text}' is not a platform identity; write PLATFORM:USER_ID, e.g. console:anna"
        ) from None


# --- organisations -----------------------------------------------------------------------


@org_app.command("add")
def org_add(
    name: str,
    discipline: Annotated[Discipline, typer.Option(help="The organisation's discipline.")],
    slack_team: Annotated[str | None, typer.Option(help="Slack workspace id (T…).")] = None,
    slug: Annotated[
        str | None, typer.Option(help="Short name; derived from NAME if absent.")
    ] = None,
) -> None:
    """Add an organisation."""
    with runtime() as rt, rt.store.transaction():
        slug = slug or bulk.slugify(name)
        if rt.store.find_org(name) or rt.store.find_org(slug):
            raise fail(f"An organisation '{name}' ({slug}) already exists.")
        if slack_team and rt.store.org_by_slack_team(slack_team):
            raise fail(f"Slack workspace {slack_team} is already linked to an organisation.")
        org = rt.store.add_org(name, slug, discipline, slack_team)
    out.print(f"Added {org.name} ({org.slug}, {org.discipline.value}).")


@org_app.command("list")
def org_list() -> None:
    """List the organisations of the network."""
    with runtime() as rt, rt.store.transaction():
        orgs = rt.store.list_orgs()
        table = Table("slug", "name", "discipline", "slack team", "members")
        for org in orgs:
            members = len(rt.store.list_members(org.id))
            table.add_row(
                org.slug, org.name, org.discipline.value, org.slack_team or "", str(members)
            )
    out.print(
        table if orgs else "No organisations yet. Add one with: leerlus org add NAME --discipline D"
    )


@org_app.command("invite")
def org_invite(org: str) -> None:
    """Create an invite code (and the Telegram deep link) for an organisation."""
    with runtime() as rt, rt.store.transaction():
        found = membership.find_org(rt.store, org)
        invite = membership.new_invite(rt.store, found, rt.bot.clock.now(), None)
        rt.store.add_audit(None, "invite.add", f"org:{found.id}", rt.bot.clock.now(), via=CLI)
    out.print(f"Invite code for {found.name}: [bold]{invite.code}[/bold]")
    out.print(f"Valid until {invite.expires_at:%Y-%m-%d}, {invite.uses_left} uses.")
    out.print(
        f"Telegram: send /start {invite.code} to the bot, or open t.me/<bot>?start={invite.code}"
    )


# --- members -----------------------------------------------------------------------------


@member_app.command("role")
def member_role(identity: str, role: Role) -> None:
    """Make a member coordinator or plain member."""
    ident = _identity(identity)
    with runtime() as rt, rt.store.transaction():
        member = rt.store.member_by_identity(ident)
        if member is None:
            raise fail(f"No member with identity {ident}.")
        rt.store.update_member(member.id, role=role)
        rt.store.add_audit(
            None, f"member.role.{role.value}", f"member:{member.id}", rt.bot.clock.now(), via=CLI
        )
    out.print(f"{member.name} is now {role.value}.")


@member_app.command("add")
def member_add(
    identity: str,
    name: str,
    org: Annotated[str, typer.Option(help="Organisation name or slug.")],
    role: Role = Role.MEMBER,
) -> None:
    """Add a member with a platform identity (e.g. console:anna) to an organisation."""
    ident = _identity(identity)
    with runtime() as rt, rt.store.transaction():
        found = membership.find_org(rt.store, org)
        if rt.store.member_by_identity(ident) is not None:
            raise fail(f"{ident} is already a member.")
        added = rt.store.add_member(found.id, name, ident, role=role)
        rt.store.add_audit(None, "member.add", f"member:{added.id}", rt.bot.clock.now(), via=CLI)
    out.print(f"Added {name} ({ident}) to {found.name}.")


@member_app.command("export")
def member_export(
    identity: str,
    output: Annotated[
        Path | None, typer.Option(help="File to write; standard output if absent.")
    ] = None,
) -> None:
    """Export everything Leerlus holds about one member as JSON (their `mijn export`)."""
    ident = _identity(identity)
    with runtime(log_to_stderr=output is not None) as rt, rt.store.transaction():
        member = rt.store.member_by_identity(ident)
        if member is None:
            raise fail(f"No member with identity {ident}.")
        now = rt.bot.clock.now()
        data = member_data(member, store=rt.store, now=now)
        rt.store.add_audit(None, "member.export", f"member:{member.id}", now, via=CLI)
    text = json.dumps(data, ensure_ascii=False, indent=2) + "\n"
    if output is None:
        sys.stdout.write(text)
        return
    fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # personal data
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    out.print(f"Exported the data of {member.name} to {output}.")


@member_app.command("list")
def member_list(
    org: Annotated[str | None, typer.Option(help="Only this organisation.")] = None,
) -> None:
    """List members with their identities and roles."""
    with runtime() as rt, rt.store.transaction():
        org_id = membership.find_org(rt.store, org).id if org else None
        table = Table("name", "organisation", "role", "identities")
        for m in rt.store.list_members(org_id):
            found = rt.store.get_org(m.org_id)
            ids = ", ".join(str(i) for i in m.identities)
            table.add_row(m.name, found.name if found else "", m.role.value, ids)
    out.print(table)


# --- incidents ---------------------------------------------------------------------------


@incident_app.command("add")
def incident_add(
    org: str,
    title: str,
    participant: Annotated[list[str], typer.Option(help="PLATFORM:USER_ID; repeat for more.")],
    at: Annotated[
        str | None, typer.Option(help="Prompt time: 'nu', 'over 3 uur', ISO 8601…")
    ] = None,
    kind: IncidentKind = IncidentKind.INCIDENT,
) -> None:
    """Register an incident and schedule a reflection prompt for each participant."""
    idents = [_identity(p) for p in participant]
    with runtime() as rt, rt.store.transaction():
        now = rt.bot.clock.now()
        try:
            incident, members = incidents.register_from_outside(
                rt.store,
                org_ref=org,
                title=title,
                kind=kind,
                occurred_at=now,
                participants=idents,
                when=at,
                now=now,
                timezone=rt.settings.timezone,
                audit_action=f"{kind.value}.add",
                via=CLI,
            )
        except UserError as error:
            if error.key == "incident.unknown_people":
                who = ", ".join(error.params["unknown"])
                raise fail(f"No member with identity {who}; nothing was registered.") from None
            if error.key == "incident.bad_time":
                raise fail(
                    f"Could not understand the time '{at}'; nothing was registered."
                ) from None
            raise
    out.print(
        f"Registered {kind.value} {incident.id} '{title}' with {len(members)} participant(s)."
    )


@prompts_app.command("list")
def prompts_list(
    org: str,
    state: Annotated[
        list[PromptState] | None, typer.Option(help="Only this state; repeat for more.")
    ] = None,
) -> None:
    """Show the prompts about an organisation's incidents, newest first."""
    with runtime() as rt, rt.store.transaction():
        zone = ZoneInfo(rt.settings.timezone)

        def local(moment: datetime | None) -> str:
            return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M") if moment else ""

        found = membership.find_org(rt.store, org)
        prompts = rt.store.prompts_for_org(found.id, state or None)
        table = Table("id", "incident", "member", "state", "due", "sent", "reminded", "attempts")
        for p in prompts:
            incident = rt.store.get_incident(p.incident_id)
            member = rt.store.get_member(p.member_id)
            attempts = str(p.attempts) + (f" ({p.last_error})" if p.last_error else "")
            # `due` is when the next message is due; for a closed prompt there is none.
            open_ = p.state in (PromptState.SCHEDULED, PromptState.SENDING, PromptState.SENT)
            due = local(p.due_at) if open_ and not p.reminded_at else ""
            table.add_row(
                str(p.id),
                incident.title if incident else "?",
                member.name if member else "?",
                p.state.value,
                due,
                local(p.sent_at),
                local(p.reminded_at),
                attempts,
            )
    out.print(table if prompts else f"No prompts for {found.name}.")


# --- lessons in and out ------------------------------------------------------------------


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]} lessons/s"),
        TimeRemainingColumn(),
        console=err,
    )


@app.command("import")
def import_(
    file: Path,
    batch: Annotated[
        int, typer.Option(min=1, help="Records per transaction (and per encoder call).")
    ] = 256,
) -> None:
    """Import lessons-learned records (JSONL) as network lessons of their organisations."""
    if not file.is_file():
        raise fail(f"No such file: {file}")
    lines = file.read_text(encoding="utf-8").splitlines()
    with runtime() as rt, _progress() as progress:
        rt.index.load()  # before the first batch, so a stale index is rebuilt from committed data
        task = progress.add_task(f"Importing {file.name}", total=len(lines), rate="-")
        started = time.perf_counter()
        done = 0

        def advance(count: int) -> None:
            nonlocal done
            done += count
            rate = done / max(time.perf_counter() - started, 1e-9)
            progress.update(task, advance=count, rate=f"{rate:.1f}")

        report = bulk.import_records(
            lines,
            store=rt.store,
            index=rt.index,
            now=rt.bot.clock.now(),
            progress=advance,
            batch=batch,
        )
        with rt.store.transaction():
            target = f"file:{file.name}:{report.imported}"[:300]
            rt.store.add_audit(None, "lessons.import", target, rt.bot.clock.now(), via=CLI)
    seconds = time.perf_counter() - started
    rate = report.imported / seconds if seconds else 0.0
    out.print(
        f"Imported {report.imported} lessons in {seconds:.1f} s ({rate:.1f} lessons/s); "
        f"{report.skipped} already present, {report.invalid} invalid lines, "
        f"{report.organisations_created} organisations created."
    )


@app.command("export")
def export(
    format: Annotated[str, typer.Option("--format", help="jsonl or csv")] = "jsonl",
    output: Annotated[
        Path | None, typer.Option(help="File to write; standard output if absent.")
    ] = None,
    as_: Annotated[
        str | None, typer.Option("--as", help="Export as this member (PLATFORM:USER_ID).")
    ] = None,
) -> None:
    """Export the lessons the network may see (or a member may see, with --as)."""
    if format not in ("jsonl", "csv"):
        raise fail("--format must be jsonl or csv")
    with runtime(log_to_stderr=output is not None) as rt:
        viewer = _viewer(rt, as_)
        rows = bulk.export_lessons(rt.store, viewer)
        chunks = bulk.to_jsonl(rows) if format == "jsonl" else bulk.to_csv(rows)
        if output is None:
            for chunk in chunks:
                sys.stdout.write(chunk)
        else:
            with output.open("w", encoding="utf-8", newline="") as handle:
                handle.writelines(chunks)
            out.print(f"Exported to {output}.")


@app.command("audit")
def audit(
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="How many entries.")] = 50,
) -> None:
    """List the newest entries of the audit trail: who did what, when, and how."""
    with runtime() as rt, rt.store.transaction():
        zone = ZoneInfo(rt.settings.timezone)
        entries = rt.store.audit_entries(limit)
        table = Table("id", "when", "who", "action", "target", "via")
        for e in entries:
            actor = rt.store.get_member(e.actor_id) if e.actor_id is not None else None
            who = f"{actor.name} (member:{actor.id})" if actor else "-"
            when = e.created_at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")
            table.add_row(str(e.id), when, who, e.action, e.target, e.via or "")
    out.print(table if entries else "The audit trail is empty.")


@app.command("reindex")
def reindex() -> None:
    """Rebuild the search index from the database."""
    with runtime() as rt, _progress() as progress:
        task = progress.add_task("Indexing", total=None, rate="-")
        started = time.perf_counter()

        def report(done: int, total: int) -> None:
            rate = done / max(time.perf_counter() - started, 1e-9)
            progress.update(task, completed=done, total=total, rate=f"{rate:.1f}")

        count = rt.index.rebuild(report)
    seconds = time.perf_counter() - started
    out.print(
        f"Indexed {count} lessons in {seconds:.1f} s ({count / max(seconds, 1e-9):.1f} lessons/s)."
    )


def _viewer(rt: Runtime, as_: str | None) -> Member:
    if as_ is None:
        return bulk.OBSERVER
    member = rt.store.member_by_identity(_identity(as_))
    if member is None:
        raise fail(f"No member with identity {as_}.")
    return member


@app.command("ask")
def ask(
    question: str,
    as_: Annotated[
        str | None, typer.Option("--as", help="Ask as this member (PLATFORM:USER_ID).")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=100)] = 3,
    json_: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Search the lessons from the shell (as the network sees them, or as a member)."""
    if not question.strip():
        raise fail("Ask a question, e.g. leerlus ask 'radio problemen bij grote incidenten'")
    with runtime(log_to_stderr=not json_) as rt:
        viewer = _viewer(rt, as_)
        started = time.perf_counter()
        with rt.store.transaction():
            hits = search(question, viewer, store=rt.store, index=rt.index, config=rt.bot.ranking)[
                :limit
            ]
        seconds = time.perf_counter() - started
    if json_:
        rows = [
            {"rank": n, "score": round(h.score, 6), **bulk.lesson_row(h.lesson)}
            for n, h in enumerate(hits, 1)
        ]
        print(
            json.dumps(
                {"question": question, "seconds": round(seconds, 4), "results": rows},
                ensure_ascii=False,
                indent=2,
            )
        )
        return
    if not hits:
        out.print(Translator(rt.settings.locale)("ask.nothing", query=question))
        return
    for n, h in enumerate(hits, 1):
        lesson = h.lesson
        source = lesson.org_name or f"anoniem ({lesson.discipline.value})"
        out.print(
            f"[bold]{n}. {lesson.title or ''}[/bold] [dim]{source} · score {h.score:.4f}[/dim]"
        )
        out.print(f"   {lesson.lesson[:300]}")
    out.print(f"[dim]{len(hits)} results in {seconds * 1000:.0f} ms[/dim]")


# --- running -----------------------------------------------------------------------------


@app.command("demo")
def demo(
    if_empty: Annotated[bool, typer.Option(help="Do nothing when data exists.")] = False,
) -> None:
    """Load the demo network (organisations, members, incidents, reflections, kudos)."""
    with runtime() as rt:
        with rt.store.transaction():
            has_data = bool(rt.store.list_orgs())
        if has_data:
            if if_empty:
                return
            raise fail(
                "The database is not empty; the demo network goes into an empty database only."
            )
        with rt.store.transaction():
            counts = load_demo(rt.store, rt.index, rt.bot.clock.now())
    out.print("Demo network loaded: " + ", ".join(f"{v} {k}" for k, v in counts.items()) + ".")


@app.command("chat")
def chat(
    as_: Annotated[str | None, typer.Option("--as", help="Your name (console user).")] = None,
    org: Annotated[str | None, typer.Option(help="Your organisation (name or slug).")] = None,
) -> None:
    """Talk to the bot in the terminal."""
    from adapters.console import ConsoleChat

    with runtime(log_to_stderr=False) as rt:
        member = _console_member(rt, as_, org)
        rt.index.load()
        ConsoleChat(rt.bot, member, out, files_dir=rt.settings.data_dir / "exports").run()


def _console_member(rt: Runtime, as_: str | None, org: str | None) -> Member:
    with rt.store.transaction():
        if as_ is None:
            return _pick_member(rt)
        handle = as_.strip().lower().replace(" ", "_")
        ident = Identity("console", handle)
        member = rt.store.member_by_identity(ident)
        if member is not None:
            return member
        if org is None:
            raise fail(f"'{as_}' is not known yet; add --org ORG to join an organisation as {as_}.")
        found = membership.find_org(rt.store, org)
        return rt.store.add_member(found.id, as_.strip(), ident, locale=rt.settings.locale)


def _pick_member(rt: Runtime) -> Member:
    members = [
        m for m in rt.store.list_members() if any(i.platform == "console" for i in m.identities)
    ]
    if not members:
        raise fail(
            "Nobody to chat as yet. Use: leerlus chat --as NAME --org ORG (or leerlus demo)."
        )
    out.print("Who are you?")
    for n, m in enumerate(members, 1):
        found = rt.store.get_org(m.org_id)
        out.print(f"  [bold green]\\[{n}][/] {m.name} ({found.name if found else ''})")
    while True:
        try:
            answer = out.input("Number: ").strip()
        except (EOFError, KeyboardInterrupt):
            raise typer.Exit(0) from None
        if is_number(answer) and 1 <= int(answer) <= len(members):
            return members[int(answer) - 1]
        out.print(f"Type a number from 1 to {len(members)}.")


@app.command("run")
def run() -> None:
    """Start every configured adapter, the scheduler and the HTTP server."""
    from adapters.server import serve

    with runtime() as rt:
        serve(rt, out, drain_timeout=rt.settings.shutdown_timeout)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply database migrations (every command also does this by itself)."""
    with runtime():
        pass
    out.print("The database is up to date.")


def main() -> None:
    """Entry point of the `leerlus` command."""
    app()


if __name__ == "__main__":
    main()
