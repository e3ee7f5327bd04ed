"""The cross-process proofs reuse the storage tests' fresh-database fixture."""

from __future__ import annotations

from tests.storage.conftest import db_url

__all__ = ["db_url"]
