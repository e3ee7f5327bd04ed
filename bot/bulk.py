"""Bulk lessons in and out: import lessons-learned records, export what may be shared."""

from __future__ import annotations

import csv
import io
import json
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.models import (
    Discipline,
    Lesson,
    Member,
    NewReflection,
    Organisation,
    Reflection,
    Visibility,
)
from bot.ports import SearchIndex, Store

# Lessons are exported as the network sees them: no private or organisation-only ones.
OBSERVER = Member(id=0, org_id=0, name="export")
EXPORT_FIELDS = (
    "id",
    "external_id",
    "title",
    "lesson",
    "went_well",
    "improve",
    "organisation",
    "discipline",
    "visibility",
    "incident",
    "date",
    "themes",
    "language",
)


@dataclass
class ImportReport:
    imported: int = 0
    skipped: int = 0
    invalid: int = 0
    organisations_created: int = 0


def slugify(name: str) -> str:
    """A short lowercase ascii slug for an organisation name."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")
    return slug[:60] or "org"


def _record_org(store: Store, record: dict[str, Any], report: ImportReport) -> Organisation:
    name = str(record.get("organisation") or record.get("source") or "Onbekend")[:200]
    org = store.find_org(name) or store.find_org(slugify(name))
    if org is None:
        discipline = record.get("discipline", "overig")
        if discipline not in Discipline.__members__.values():
            discipline = "overig"
        org = store.add_org(name, slugify(name), Discipline(discipline))
        report.organisations_created += 1
    return org


def _record_date(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def record_to_reflection(record: dict[str, Any], org: Organisation) -> NewReflection:
    """Map one lessons-learned record (id, title, text, lang, date…) to a network lesson."""
    return NewReflection(
        org_id=org.id,
        member_id=None,
        lesson=str(record.get("lesson") or record["text"]).strip(),
        went_well=str(record.get("went_well") or ""),
        improve=str(record.get("improve") or ""),
        title=str(record.get("title") or "")[:300] or None,
        visibility=Visibility.NETWERK,
        language=str(record.get("lang") or record.get("language") or "en")[:5],
        external_id=str(record["id"]),
        source=str(record.get("source") or "import")[:60],
        created_at=_record_date(record.get("date")),
    )


def import_records(
    lines: Iterable[str],
    *,
    store: Store,
    index: SearchIndex,
    now: datetime,
    batch: int = 256,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Import JSONL records as network lessons, idempotent by external id, in batches.

    Each batch is one transaction, so an interrupted import (even `kill -9`) leaves whole
    batches, and running it again completes it: records already present are skipped. A
    batch is indexed after its commit, so the index never holds a lesson that the database
    does not; one that is committed but not yet indexed when the process dies is found by
    the index's check against the database at the next load, which rebuilds it.
    """
    report = ImportReport()
    pending: list[dict[str, Any]] = []
    for line in lines:
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            if not isinstance(record, dict) or not record.get("id") or not record.get("text"):
                raise ValueError("record needs id and text")
        except ValueError:
            report.invalid += 1
            continue
        pending.append(record)
        if len(pending) >= batch:
            _import_batch(pending, store, index, now, report)
            if progress:
                progress(len(pending))
            pending = []
    if pending:
        _import_batch(pending, store, index, now, report)
        if progress:
            progress(len(pending))
    return report


def _import_batch(
    records: list[dict[str, Any]],
    store: Store,
    index: SearchIndex,
    now: datetime,
    report: ImportReport,
) -> None:
    added: list[Reflection] = []
    with store.transaction():
        for record in records:
            if store.reflection_by_external_id(str(record["id"])) is not None:
                report.skipped += 1
                continue
            org = _record_org(store, record, report)
            added.append(store.add_reflection(record_to_reflection(record, org), now))
    # After the commit: a batch rolled back (or killed before its commit) is in no index.
    index.add(added)
    report.imported += len(added)


def export_lessons(
    store: Store, viewer: Member = OBSERVER, batch: int = 500
) -> Iterator[dict[str, Any]]:
    """Yield every lesson the viewer may see as a flat dict (anonymised where needed)."""
    after = 0
    while True:
        with store.transaction():
            chunk = store.searchable_reflections(after, batch)
            visible = store.visible_lessons(viewer, [r.id for r in chunk])
        if not chunk:
            return
        after = chunk[-1].id
        for r in chunk:
            lesson = visible.get(r.id)
            if lesson is not None:
                yield lesson_row(lesson)


def lesson_row(lesson: Lesson) -> dict[str, Any]:
    """One exported lesson; anonymous lessons carry only their discipline."""
    date = lesson.incident_date or lesson.created_at
    return {
        "id": lesson.reflection_id,
        "external_id": lesson.external_id or "",
        "title": lesson.title or "",
        "lesson": lesson.lesson,
        "went_well": lesson.went_well,
        "improve": lesson.improve,
        "organisation": lesson.org_name or "",
        "discipline": lesson.discipline.value,
        "visibility": lesson.visibility.value,
        "incident": lesson.incident_title or "",
        "date": date.isoformat() if date else "",
        "themes": list(lesson.themes),
        "language": lesson.language,
    }


def to_jsonl(rows: Iterable[dict[str, Any]]) -> Iterator[str]:
    """Render rows as JSON lines."""
    for row in rows:
        yield json.dumps(row, ensure_ascii=False) + "\n"


def to_csv(rows: Iterable[dict[str, Any]]) -> Iterator[str]:
    """Render rows as CSV with a header line."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=EXPORT_FIELDS)
    writer.writeheader()
    for row in rows:
        writer.writerow({**row, "themes": ";".join(row["themes"])})
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    if buffer.getvalue():
        yield buffer.getvalue()
