"""Reflections, the lessons a viewer may see, and their embeddings."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import fields
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    bindparam,
    delete,
    false,
    func,
    or_,
    select,
    true,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.errors import NotFound
from bot.models import (
    Candidate,
    Discipline,
    Lesson,
    LoopLevel,
    Member,
    NewReflection,
    Reflection,
    Visibility,
)
from storage import convert
from storage.people import PeopleStore
from storage.tables import (
    EmbeddingRow,
    IncidentRow,
    IndexChangeRow,
    MemberRow,
    OrganisationRow,
    ReflectionRow,
    utcnow,
)

# `thanks` is not part of NewReflection but is filled in by the last step of a draft.
UPDATABLE = frozenset(f.name for f in fields(NewReflection)) | {"hidden", "thanks"}
# Keeps IN (...) lists well below the bind-parameter limits of both databases.
CHUNK = 500


def _chunks(values: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), CHUNK):
        yield values[start : start + CHUNK]


def _column_value(name: str, value: Any) -> Any:
    """Convert a core value to what the column stores, rejecting unknown enum values."""
    if name == "visibility":
        return str(Visibility(value))
    if name == "loop_level":
        return None if value is None else str(LoopLevel(value))
    if name == "themes":
        return list(value)
    return value


def _log_changes(s: Session, reflection_ids: Sequence[int], now: datetime) -> None:
    """Note, in the caller's transaction, that these reflections' searchable state changed."""
    s.add_all(IndexChangeRow(reflection_id=i, changed_at=now) for i in reflection_ids)


def searchable() -> ColumnElement[bool]:
    """Return the condition for a finished reflection that is not hidden."""
    return and_(ReflectionRow.draft == false(), ReflectionRow.hidden == false())


def visible_to(viewer: Member, *, by_id: bool = False) -> ColumnElement[bool]:
    """Return the condition for the reflections `viewer` may see.

    `by_id`: for a query that also names the ids. The same condition, written so that
    SQLite cannot serve it from ix_reflections_visible: without statistics its planner
    took that index (draft = 0 AND hidden = 0 match almost every row) over the primary
    key, and 1,400 search candidates cost 80 ms among 100,000 lessons instead of 10.
    """
    finished = (
        and_(ReflectionRow.draft.is_not(true()), ReflectionRow.hidden.is_not(true()))
        if by_id
        else searchable()
    )
    return and_(
        finished,
        or_(
            ReflectionRow.visibility.in_([str(Visibility.NETWERK), str(Visibility.ANONIEM)]),
            and_(
                ReflectionRow.visibility == str(Visibility.ORGANISATIE),
                ReflectionRow.org_id == viewer.org_id,
            ),
            and_(
                ReflectionRow.visibility == str(Visibility.PRIVE),
                ReflectionRow.member_id == viewer.id,
            ),
        ),
    )


def _among_ids() -> ColumnElement[bool]:
    """`id IN :ids` as one expanding parameter: SQLAlchemy then neither builds nor coerces
    a thousand literals per search. Pair it with `visible_to(viewer, by_id=True)`."""
    return ReflectionRow.id.in_(bindparam("ids", expanding=True))


def _lesson_query(
    viewer: Member, *, by_id: bool = False
) -> Select[ReflectionRow, OrganisationRow, int, str, str, datetime]:
    # Author and incident as plain columns: loading them as entities would drag in
    # their relationships for nothing.
    return (
        select(
            ReflectionRow,
            OrganisationRow,
            MemberRow.id,
            MemberRow.name,
            IncidentRow.title,
            IncidentRow.occurred_at,
        )
        .join(OrganisationRow, OrganisationRow.id == ReflectionRow.org_id)
        .outerjoin(MemberRow, MemberRow.id == ReflectionRow.member_id)
        .outerjoin(IncidentRow, IncidentRow.id == ReflectionRow.incident_id)
        .where(visible_to(viewer, by_id=by_id))
    )


class LessonStore(PeopleStore):
    """The part of SqlStore about reflections and lessons."""

    def add_reflection(self, new: NewReflection, now: datetime) -> Reflection:
        """Store a reflection (a draft, a finished one, or an import)."""
        values = {
            name: _column_value(name, getattr(new, name))
            for name in UPDATABLE - {"hidden", "thanks"}
        }
        values["created_at"] = new.created_at or now
        with self._session() as s:
            row = ReflectionRow(**values, hidden=False, thanks=None, updated_at=now)
            s.add(row)
            s.flush()
            if not row.draft:
                _log_changes(s, [row.id], now)
            return convert.reflection(row)

    def update_reflection(self, reflection_id: int, now: datetime, **changes: Any) -> Reflection:
        """Change fields of a reflection (any field of `NewReflection`, plus `hidden`)."""
        unknown = set(changes) - UPDATABLE
        if unknown:
            raise TypeError(f"cannot update reflection fields: {sorted(unknown)}")
        with self._session() as s:
            row = s.get(ReflectionRow, reflection_id)
            if row is None:
                raise NotFound("lesson.not_found", id=reflection_id)
            was_searchable = not row.draft and not row.hidden
            for name, value in changes.items():
                if name == "created_at" and value is None:
                    continue  # None means "when it was stored", which it already has
                setattr(row, name, _column_value(name, value))
            row.updated_at = now
            s.flush()
            # A draft that stays a draft is in no index: other processes need not look.
            if was_searchable or (not row.draft and not row.hidden):
                _log_changes(s, [row.id], now)
            return convert.reflection(row)

    def get_reflection(self, reflection_id: int) -> Reflection | None:
        """Return the reflection with this id, whatever its state."""
        with self._session() as s:
            row = s.get(ReflectionRow, reflection_id)
            return convert.reflection(row) if row else None

    def reflection_by_external_id(self, external_id: str) -> Reflection | None:
        """Return the imported reflection with this external id."""
        with self._session() as s:
            row = s.scalar(select(ReflectionRow).where(ReflectionRow.external_id == external_id))
            return convert.reflection(row) if row else None

    def current_draft(self, member_id: int) -> Reflection | None:
        """The member's most recent draft reflection, if any."""
        with self._session() as s:
            row = s.scalar(
                select(ReflectionRow)
                .where(ReflectionRow.member_id == member_id, ReflectionRow.draft == true())
                .order_by(ReflectionRow.updated_at.desc(), ReflectionRow.id.desc())
                .limit(1)
            )
            return convert.reflection(row) if row else None

    def reflections_of(self, member_id: int, drafts: bool = False) -> list[Reflection]:
        """Return the member's reflections, newest first; drafts only when asked."""
        query = select(ReflectionRow).where(ReflectionRow.member_id == member_id)
        if not drafts:
            query = query.where(ReflectionRow.draft == false())
        query = query.order_by(ReflectionRow.created_at.desc(), ReflectionRow.id.desc())
        with self._session() as s:
            return [convert.reflection(r) for r in s.scalars(query)]

    @staticmethod
    def _delete_reflection_rows(s: Session, ids: Sequence[int]) -> None:
        """Delete reflections (see PeopleStore) and log it, for `delete_member` too."""
        PeopleStore._delete_reflection_rows(s, ids)
        _log_changes(s, ids, utcnow())

    def delete_reflection(self, reflection_id: int) -> None:
        """Delete a reflection with its embeddings and feedback."""
        with self._session() as s:
            self._delete_reflection_rows(s, [reflection_id])
            s.expire_all()

    def visible_lessons(self, viewer: Member, reflection_ids: Sequence[int]) -> dict[int, Lesson]:
        """The lessons among `reflection_ids` that `viewer` may see, anonymised as needed."""
        ids = sorted(set(reflection_ids))
        found: dict[int, Lesson] = {}
        query = _lesson_query(viewer, by_id=True).where(_among_ids())
        with self._session() as s:
            for chunk in _chunks(ids):
                rows = s.execute(query, {"ids": list(chunk)})
                for row, org_row, a_id, a_name, i_title, i_date in rows:
                    found[row.id] = convert.lesson(row, org_row, (a_id, a_name), (i_title, i_date))
        return found

    def visible_candidates(
        self, viewer: Member, reflection_ids: Sequence[int]
    ) -> dict[int, Candidate]:
        """What ranking needs of the visible lessons among `reflection_ids`: four columns."""
        ids = sorted(set(reflection_ids))
        found: dict[int, Candidate] = {}
        query = (
            select(
                ReflectionRow.id,
                ReflectionRow.language,
                ReflectionRow.visibility,
                OrganisationRow.id,
                OrganisationRow.discipline,
            )
            .join(OrganisationRow, OrganisationRow.id == ReflectionRow.org_id)
            .where(
                visible_to(viewer, by_id=True),
                _among_ids(),
            )
        )
        with self._session() as s:
            for chunk in _chunks(ids):
                rows = s.execute(query, {"ids": list(chunk)})
                for rid, language, visibility, org_id, discipline in rows:
                    anonymous = visibility == Visibility.ANONIEM
                    found[rid] = Candidate(
                        rid, language, None if anonymous else org_id, Discipline(discipline)
                    )
        return found

    def lessons_since(self, viewer: Member, since: datetime, limit: int = 50) -> list[Lesson]:
        """Finished lessons created since `since` that `viewer` may see, newest first."""
        query = (
            _lesson_query(viewer)
            .where(ReflectionRow.created_at >= since)
            .order_by(ReflectionRow.created_at.desc(), ReflectionRow.id.desc())
            .limit(limit)
        )
        with self._session() as s:
            return [
                convert.lesson(row, org_row, (a_id, a_name), (i_title, i_date))
                for row, org_row, a_id, a_name, i_title, i_date in s.execute(query)
            ]

    def searchable_reflections(self, after_id: int = 0, limit: int = 500) -> list[Reflection]:
        """Finished, non-hidden reflections with id > after_id, by id (for indexing)."""
        query = (
            select(ReflectionRow)
            .where(searchable(), ReflectionRow.id > after_id)
            .order_by(ReflectionRow.id)
            .limit(limit)
        )
        with self._session() as s:
            return [convert.reflection(r) for r in s.scalars(query)]

    def count_searchable(self) -> int:
        """Count finished, non-hidden reflections."""
        with self._session() as s:
            return (
                s.scalar(select(func.count()).select_from(ReflectionRow).where(searchable())) or 0
            )

    # embeddings

    def embeddings_by_hash(self, model: str, content_hashes: Sequence[str]) -> dict[str, bytes]:
        """Return stored vectors of `model` for these content hashes, by hash."""
        found: dict[str, bytes] = {}
        with self._session() as s:
            for chunk in _chunks(sorted(set(content_hashes))):
                rows = s.execute(
                    select(EmbeddingRow.content_hash, EmbeddingRow.vector).where(
                        EmbeddingRow.model == model, EmbeddingRow.content_hash.in_(chunk)
                    )
                )
                found.update((h, bytes(v)) for h, v in rows)
        return found

    def save_embedding(
        self, reflection_id: int, model: str, content_hash: str, vector: bytes
    ) -> None:
        """Store or replace the vector of a reflection for `model`."""
        with self._session() as s:
            row = s.scalar(
                select(EmbeddingRow).where(
                    EmbeddingRow.reflection_id == reflection_id, EmbeddingRow.model == model
                )
            )
            if row is None:
                # A SAVEPOINT: another process may store the same vector at the same time
                # (it indexes a lesson it saw in the change log); then overwrite theirs.
                try:
                    with s.begin_nested():
                        row = EmbeddingRow(reflection_id=reflection_id, model=model)
                        row.content_hash = content_hash
                        row.vector = bytes(vector)
                        row.dim = len(vector) // 4  # float32
                        s.add(row)
                        s.flush()
                    return
                except IntegrityError:
                    row = s.scalar(
                        select(EmbeddingRow).where(
                            EmbeddingRow.reflection_id == reflection_id,
                            EmbeddingRow.model == model,
                        )
                    )
                    if row is None:  # the reflection itself is gone
                        return
            row.content_hash = content_hash
            row.vector = bytes(vector)
            row.dim = len(vector) // 4  # float32
            s.flush()

    def iter_embeddings(self, model: str, batch: int = 1000) -> Iterator[tuple[int, bytes]]:
        """Yield (reflection id, vector) of searchable reflections for `model`."""
        after = 0
        while True:
            # Each batch is read in its own session scope and the scope is left before
            # yielding, so a slow consumer never holds a transaction open.
            with self._session() as s:
                rows = s.execute(
                    select(EmbeddingRow.reflection_id, EmbeddingRow.vector)
                    .join(ReflectionRow, ReflectionRow.id == EmbeddingRow.reflection_id)
                    .where(
                        EmbeddingRow.model == model,
                        EmbeddingRow.reflection_id > after,
                        searchable(),
                    )
                    .order_by(EmbeddingRow.reflection_id)
                    .limit(batch)
                ).all()
            for reflection_id, vector in rows:
                yield reflection_id, bytes(vector)
            if len(rows) < batch:
                return
            after = rows[-1][0]

    # the change log other processes read to keep their index in step

    def last_index_change(self) -> int:
        """The id of the newest change-log entry (0 when there is none)."""
        with self._session() as s:
            return s.scalar(select(func.max(IndexChangeRow.id))) or 0

    def index_changes(
        self, after: int, also: Sequence[int] = (), limit: int = 1000
    ) -> list[tuple[int, int]]:
        """(change id, reflection id) of entries with id > `after` or in `also`, by id.

        `limit` caps the entries after `after`; those in `also` all come back.
        """
        with self._session() as s:
            rows = s.execute(
                select(IndexChangeRow.id, IndexChangeRow.reflection_id)
                .where(IndexChangeRow.id > after)
                .order_by(IndexChangeRow.id)
                .limit(limit)
            )
            found = {(change_id, reflection_id) for change_id, reflection_id in rows}
            for chunk in _chunks(sorted(set(also))):
                rows = s.execute(
                    select(IndexChangeRow.id, IndexChangeRow.reflection_id).where(
                        IndexChangeRow.id.in_(chunk)
                    )
                )
                found.update((change_id, reflection_id) for change_id, reflection_id in rows)
        return sorted(found)

    def prune_index_changes(self, before: datetime) -> int:
        """Delete change-log entries older than `before`, always keeping the newest one."""
        with self._session() as s:
            newest = s.scalar(select(func.max(IndexChangeRow.id))) or 0
            result = s.execute(
                delete(IndexChangeRow).where(
                    IndexChangeRow.changed_at < before, IndexChangeRow.id < newest
                )
            )
            return int(getattr(result, "rowcount", 0) or 0)

    def reflections_by_id(self, reflection_ids: Sequence[int]) -> dict[int, Reflection]:
        """The reflections with these ids that exist, whatever their state."""
        found: dict[int, Reflection] = {}
        with self._session() as s:
            for chunk in _chunks(sorted(set(reflection_ids))):
                rows = s.scalars(select(ReflectionRow).where(ReflectionRow.id.in_(chunk)))
                found.update((r.id, convert.reflection(r)) for r in rows)
        return found
