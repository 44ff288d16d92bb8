"""Errors that reach the user as one line: bad input (exit 2) and a diverged GAN (exit 3).

Usage: ``raise InputError("labels out of range 0..9 in 'ans' of data.h5")``;
``f"unknown key {key!r}" + did_you_mean(key, known)``.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable


def close_matches(word: str, known: Iterable[str], n: int = 1) -> list[str]:
    """The ``known`` names closest to a mistyped ``word`` (difflib), best first; [] if none is."""
    return difflib.get_close_matches(word, list(known), n=n, cutoff=0.6)


def did_you_mean(matches: Iterable[str], show: Callable[[str], str] = str) -> str:
    """``"; did you mean 'cgan.lr'?"`` (or ``'a', 'b' or 'c'``) for the matches, ``""`` for none."""
    quoted = [repr(show(m)) for m in matches]
    if not quoted:
        return ""
    alternatives = quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} or {quoted[-1]}"
    return f"; did you mean {alternatives}?"


class GalaxybenchError(Exception):
    """Base class of every error galaxybench reports to the user as one line."""

    exit_code = 2


class InputError(GalaxybenchError):
    """Bad input: a file, a config, a flag or a search space. The CLI exits with status 2."""

    exit_code = 2


class ConfigError(InputError):
    """An unknown config key, a wrong type or an out-of-range value."""


class DataError(InputError):
    """A data file that is not a valid Galaxy10-format HDF5 file."""


class DownloadError(GalaxybenchError):
    """A download that failed (network, checksum); the partial file is kept only for resuming."""

    exit_code = 2


class TrialDiverged(GalaxybenchError):
    """A GAN whose losses went non-finite or collapsed; the trial ends with status ``diverged``."""

    exit_code = 3

    def __init__(self, stage: str, reason: str) -> None:
        super().__init__(f"{stage} diverged: {reason}")
        self.stage = stage
        self.reason = reason
