"""The catalogue: both languages complete, every key the code uses exists."""

from __future__ import annotations

import ast
import string
from pathlib import Path

import pytest

from bot.models import Discipline, IncidentKind, LoopLevel, PromptState, Visibility
from bot.texts import LOCALES, catalogue, t

ROOT = Path(__file__).resolve().parents[2]
SCANNED = [*(ROOT / "bot").rglob("*.py"), *(ROOT / "adapters").rglob("*.py")]
KEY_TAKERS = {
    "tr",
    "rtr",
    "t",
    "_invalid",
    "Invalid",
    "NotFound",
    "InvalidInput",
    "NotAllowed",
    "LimitReached",
    "UserError",
    "ServiceUnavailable",
    "LeerlusError",
}


def _constants(node: ast.expr) -> list[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.IfExp):
        return _constants(node.body) + _constants(node.orelse)
    return []


def literal_keys() -> set[str]:
    """Keys passed literally to tr()/errors, or assigned to a variable named `key`."""
    keys: set[str] = set()
    for path in SCANNED:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Assign) and any(
                isinstance(target, ast.Name) and target.id == "key" for target in node.targets
            ):
                keys.update(_constants(node.value))
            if not isinstance(node, ast.Call) or not node.args:
                continue
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
            arg = node.args[-1] if name == "t" else node.args[0]
            if name in KEY_TAKERS:
                keys.update(_constants(arg))
    return keys


def test_both_languages_have_the_same_keys() -> None:
    assert set(catalogue("nl")) == set(catalogue("en"))


def test_both_languages_use_the_same_placeholders() -> None:
    def fields(text: str) -> set[str]:
        return {f for _, f, _, _ in string.Formatter().parse(text) if f}

    nl, en = catalogue("nl"), catalogue("en")
    assert {k: fields(v) for k, v in nl.items()} == {k: fields(v) for k, v in en.items()}


def test_the_scan_finds_the_keys_of_the_code() -> None:
    keys = literal_keys()
    assert {"ask.nothing", "ask.header_more", "kudos.limit", "console.bye"} <= keys


@pytest.mark.parametrize("key", sorted(literal_keys()))
def test_every_key_used_in_the_code_exists(key: str) -> None:
    for locale in LOCALES:
        assert key in catalogue(locale), f"{key} missing in {locale}"


@pytest.mark.parametrize(
    "key",
    [f"visibility.{v}" for v in Visibility]
    + [f"loop.{v}" for v in LoopLevel]
    + [f"discipline.{v}" for v in Discipline]
    + [f"prompt.ask_{k}" for k in IncidentKind]
    + [f"incident.registered_{k}" for k in IncidentKind]
    + [f"prompt.already_{s}" for s in PromptState]
    + [f"reflect.q_{s}" for s in ("went_well", "improve", "lesson")],
)
def test_every_key_built_from_a_value_exists(key: str) -> None:
    for locale in LOCALES:
        assert key in catalogue(locale), f"{key} missing in {locale}"


def test_unknown_locale_falls_back_to_dutch() -> None:
    assert t("fr", "kudos.sent", name="Piet") == t("nl", "kudos.sent", name="Piet")
