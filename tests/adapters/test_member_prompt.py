"""`leerlus chat` without a name: the member prompt takes only a plain number."""

from __future__ import annotations

from tests.adapters.conftest import Cli


def test_the_member_prompt_refuses_digits_that_are_not_a_number(cli: Cli) -> None:
    cli.ok("demo")
    # "²" and "٣" count as digits for str.isdigit, but int() refuses them.
    result = cli("chat", input="²\n٣\n1\n/exit\n")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert result.stdout.count("Type a number from 1") == 2
    assert "Welkom bij Leerlus, Anna" in result.stdout
