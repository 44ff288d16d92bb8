"""The thin command line: each command parses, loads a config, calls one library function, prints.

Usage: ``galaxybench`` (usage and commands); ``galaxybench run --profile smoke --json``.

Errors: a ``GalaxybenchError`` becomes one line on stderr and its exit status (2 for bad input,
3 for a diverged GAN; 1 for an OSError such as a full disk, or a MemoryError; 4 when a sweep's
search kept no usable configuration); ``--debug`` shows the traceback instead.

Signals: SIGTERM (Slurm, Kubernetes, ``timeout``, preemption) takes the Ctrl-C path
(``galaxybench.signals``): temp files are removed, workers stop, exit status 143 (130 for
Ctrl-C); a second signal exits at once.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from galaxybench import __version__, signals
from galaxybench.errors import GalaxybenchError

# One module per command family; each defines ``register(subparsers)`` which adds its parsers
# with ``set_defaults(func=handler)``; a handler takes the parsed args and returns an exit code.
_COMMAND_MODULES = (
    "galaxybench.cli.data_cmd",
    "galaxybench.cli.run_cmd",
    "galaxybench.cli.sweep_cmd",
    "galaxybench.cli.validate_cmd",
    "galaxybench.cli.report_cmd",
    "galaxybench.cli.tabulate_cmd",
    "galaxybench.cli.cluster_cmd",
)


PURPOSE = "galaxybench: benchmark GAN augmentation against simple baselines on Galaxy10."
EXAMPLES = """examples:
  galaxybench sweep --space smoke            a short sweep to try things out, then a report
  galaxybench sweep                          default search on the embedded data, then a report
  galaxybench leaderboard                    the published reports, best first
  galaxybench run --profile smoke            one trial, its scores printed one per line
  galaxybench data download galaxy10-decals  fetch Galaxy10 DECaLS (2.54 GB)
  galaxybench report EXPERIMENT_DIR --out reports/NAME
  galaxybench COMMAND --help                 the options of one command
"""


class _Parser(argparse.ArgumentParser):
    """argparse that exits with status 2 and one line (its default, kept explicit)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="galaxybench",
        description=PURPOSE,
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"galaxybench {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(
        dest="command", metavar="COMMAND", parser_class=_Parser, title="commands"
    )
    for name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # that command family is not built yet
                continue
            raise
        module.register(sub)
    return parser


# Exit status of an OSError (disk full, permission denied, ...) or a MemoryError.
EXIT_ENVIRONMENT = 1


def _os_error_line(exc: OSError) -> str:
    """One line for an OSError: what the system said, its errno name and the file."""
    import errno

    what = exc.strerror or str(exc) or type(exc).__name__
    if exc.errno in errno.errorcode:
        what += f" ({errno.errorcode[exc.errno]})"
    if exc.filename is not None:
        what += f": {exc.filename}"
    return what.replace("\n", " ")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``galaxybench`` console script; returns the exit status."""
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    if not [a for a in argv if a != "--debug"]:  # no command: usage, purpose, commands, examples
        parser.print_help()
        return 0
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        with signals.handle_termination():
            return int(args.func(args) or 0)
    except GalaxybenchError as exc:
        if args.debug:
            raise
        print(f"galaxybench: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except MemoryError:
        if args.debug:
            raise
        print(
            "galaxybench: error: out of memory (MemoryError); --debug shows where", file=sys.stderr
        )
        return EXIT_ENVIRONMENT
    except OSError as exc:  # a full disk, a permission, a lost mount: the system's, not a bug
        if args.debug:
            raise
        print(f"galaxybench: error: {_os_error_line(exc)}", file=sys.stderr)
        return EXIT_ENVIRONMENT
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM (signals.Terminated)
        what = "terminated" if isinstance(exc, signals.Terminated) else "interrupted"
        print(f"galaxybench: {what}", file=sys.stderr)
        return signals.exit_status(exc)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
