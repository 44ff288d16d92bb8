"""The CLI's front door: usage with no arguments, a user-facing --help, help on every option."""

from __future__ import annotations

import argparse

import pytest

from galaxybench.cli import PURPOSE, build_parser, main


def _parsers(parser: argparse.ArgumentParser, prefix: str = "galaxybench"):
    yield prefix, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _parsers(sub, f"{prefix} {name}")


@pytest.mark.parametrize("argv", [[], ["--help"]])
def test_no_arguments_and_help_print_purpose_commands_and_examples(argv, capsys):
    if argv:
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 0
    else:
        assert main(argv) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].startswith("usage: galaxybench")
    assert PURPOSE in out and len(PURPOSE) <= 80
    for command in ("sweep", "report", "publish", "leaderboard", "run", "data"):
        assert f"\n    {command}" in out
    assert "examples:" in out and "galaxybench sweep" in out
    assert "developer" not in out.lower()


def test_every_option_has_help_text():
    missing = [
        f"{prog} {'/'.join(a.option_strings) or a.dest}"
        for prog, parser in _parsers(build_parser())
        for a in parser._actions
        if not isinstance(a, argparse._SubParsersAction) and not a.help
    ]
    assert not missing, missing
