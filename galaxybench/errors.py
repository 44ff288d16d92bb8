"""Errors that reach the user as one line: bad input (exit 2) and a diverged GAN (exit 3).

Usage: ``raise InputError("labels out of range 0..9 in 'ans' of data.h5")``.
"""

from __future__ import annotations


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
