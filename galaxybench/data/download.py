"""Verified, resumable downloads of the Galaxy10 files.

Bytes go to ``<dest>/<file>.part``; an interrupted download resumes with an HTTP Range request;
the file is renamed into place only after its SHA256 (or, lacking one, its size) matches.

Usage::

    path = download("galaxy10-decals")                    # ~/.cache/galaxybench/data/...
    path = download("galaxy10-sdss", url="http://127.0.0.1:8000/Galaxy10.h5")   # a mirror
"""

from __future__ import annotations

import http.client
import logging
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from galaxybench import paths
from galaxybench.data._progress import progress_bar
from galaxybench.errors import DownloadError, InputError
from galaxybench.io import sha256_file

log = logging.getLogger(__name__)

_BLOCK = 1 << 20  # bytes per read
_TIMEOUT_S = 30


@dataclass(frozen=True)
class Remote:
    """A downloadable file: its name on disk, URL, SHA256 (hex) and size in bytes when known."""

    filename: str
    url: str
    sha256: str | None
    size: int | None


# Hashes: the Galaxy10 project's README (astroNN docs, galaxy10.rst and galaxy10sdss.rst).
DATASETS: dict[str, Remote] = {
    "galaxy10-decals": Remote(
        "Galaxy10_DECals.h5",
        "https://zenodo.org/records/10845026/files/Galaxy10_DECals.h5",
        "19aefc477c41bb7f77ff07599a6b82a038dc042f889a111b0d4d98bb755c1571",
        None,
    ),
    "galaxy10-sdss": Remote(
        "Galaxy10.h5",
        "https://zenodo.org/records/10844811/files/Galaxy10.h5",
        "969a6b1cefcc36e09fffa86febd2f699a4aa19b837ba0427f01b0bc6ded458af",
        210_234_548,
    ),
}


def _open(url: str, offset: int) -> http.client.HTTPResponse | None:
    """The response for bytes ``offset..``; None when the server says nothing is left (416)."""
    request = urllib.request.Request(url, headers={"User-Agent": "galaxybench"})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    try:
        return urllib.request.urlopen(request, timeout=_TIMEOUT_S)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:
            return None
        raise DownloadError(f"download of {url} failed: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DownloadError(
            f"cannot reach {url} ({reason}); check the network or use --url with a mirror"
        ) from None


def _fetch(url: str, part: Path, progress: bool) -> None:
    """Append the missing bytes of ``url`` to ``part`` (restarting if Range is not honoured)."""
    offset = part.stat().st_size if part.exists() else 0
    response = _open(url, offset)
    if response is None:  # 416: the part file already holds every byte
        return
    with response:
        resumed = offset > 0 and response.status == 206
        if offset and not resumed:
            log.info("%s ignored the Range request; downloading from the start", url)
            offset = 0
        length = response.headers.get("Content-Length")
        total = offset + int(length) if length is not None else None
        with (
            part.open("ab" if resumed else "wb") as out,
            progress_bar(
                total, part.name.removesuffix(".part"), enabled=progress, unit="bytes"
            ) as adv,
        ):
            adv(offset)
            try:
                while block := response.read(_BLOCK):
                    out.write(block)
                    adv(len(block))
            except (OSError, http.client.HTTPException) as exc:
                raise DownloadError(
                    f"download of {url} interrupted after "
                    f"{out.tell()} bytes ({exc}); run again to resume"
                ) from None
    got = part.stat().st_size
    if total is not None and got < total:
        raise DownloadError(
            f"download of {url} interrupted at {got} of {total} bytes; run again to resume"
        )


def _verify(part: Path, sha256: str | None, size: int | None, url: str) -> None:
    """Raise DownloadError (removing the bad file) unless the SHA256, else the size, matches."""
    if sha256 is not None:
        got = sha256_file(part)
        if got != sha256.lower():
            part.unlink(missing_ok=True)
            raise DownloadError(
                f"SHA256 mismatch for {url}: expected {sha256.lower()}, got {got}; "
                "the corrupted file was removed"
            )
    elif size is not None and part.stat().st_size != size:
        got_size = part.stat().st_size
        part.unlink(missing_ok=True)
        raise DownloadError(
            f"size mismatch for {url}: expected {size} bytes, got {got_size}; "
            "the corrupted file was removed"
        )
    else:
        log.warning("no SHA256 or size known for %s: the file is not verified", url)


def download(
    name: str,
    dest: str | Path | None = None,
    *,
    url: str | None = None,
    sha256: str | None = None,
    progress: bool = True,
) -> Path:
    """Download a Galaxy10 file, resuming a partial one, verified, renamed into place when whole.

    Args:
        name: "galaxy10-decals" or "galaxy10-sdss".
        dest: the folder (default ``paths.data_dir()``, under ``$GALAXYBENCH_HOME``).
        url: a mirror (or a test server) instead of the official URL.
        sha256: expected hex digest, overriding the known one (the known size is then not used).
        progress: show a rich progress bar on stderr.

    Returns:
        The path of the verified file. A file already in place that verifies is not downloaded.

    Raises:
        InputError: an unknown name.
        DownloadError: no network, an HTTP error, an interrupted transfer (the ``.part`` file is
            kept for resuming) or a checksum/size mismatch (the bad file is removed).
    """
    if name not in DATASETS:
        raise InputError(f"unknown dataset {name!r} (known: {', '.join(DATASETS)})")
    remote = DATASETS[name]
    folder = Path(dest).expanduser() if dest is not None else paths.data_dir()
    paths.ensure_dir(folder)
    final, part = folder / remote.filename, folder / (remote.filename + ".part")
    expected = (sha256 or remote.sha256, None if sha256 else remote.size)
    source = url or remote.url
    if final.exists():
        if expected[0] is not None and sha256_file(final) == expected[0].lower():
            log.info("%s already downloaded and verified", final)
            return final
        log.warning("%s exists but does not verify; downloading it again", final)
    _fetch(source, part, progress)
    _verify(part, *expected, source)
    os.replace(part, final)
    return final
