"""The keys of a results line are spelled once, in ``galaxybench/results.py``.

A key typed again elsewhere can drift from the one the sweep writes (the report once looked for
a row name spelled differently and never applied its label). This test reads every module's
string literals (tokens, so docstrings and comments are not counted) and fails when a results
key or a phase name appears as a bare literal outside ``results.py``.
"""

from __future__ import annotations

import io
import tokenize
from pathlib import Path

from galaxybench import results

PACKAGE = Path(__file__).resolve().parents[1] / "galaxybench"
KEYS = {
    results.STATUS,
    results.REASON,
    results.PHASE,
    results.ROW,
    results.TRIAL_ID,
    results.CONFIG_ID,
}
# Where the same word means something else: an attribute name of Ray's trial objects and of a
# pickled callback, and the reason a download failed.
ELSEWHERE = {
    ("sweep/ray_backend/callbacks.py", "trial_id"),
    ("sweep/ray_backend/callbacks.py", "phase"),
    ("data/download.py", "reason"),
}


def _literals(path: Path) -> list[tuple[int, str]]:
    tokens = tokenize.generate_tokens(io.StringIO(path.read_text()).readline)
    return [
        (tok.start[0], tok.string[1:-1])
        for tok in tokens
        if tok.type == tokenize.STRING and tok.string[:1] in "\"'" and len(tok.string) > 2
    ]


def _retyped(words: set[str], package: Path = PACKAGE) -> list[str]:
    found = []
    for path in sorted(package.rglob("*.py")):
        rel = path.relative_to(package).as_posix()
        if rel == "results.py":
            continue
        for line, text in _literals(path):
            if text in words and (rel, text) not in ELSEWHERE:
                found.append(f"{rel}:{line}: {text!r}")
    return found


def test_results_keys_are_spelled_only_in_results():
    assert _retyped(KEYS) == []


def test_the_sweep_names_its_phases_through_results():
    # Where phases are run and read back: the sweep package (the space files' own "search" and
    # "confirm" sections aside: the loader and SearchSpace.to_dict) and the Python API. The
    # report's words for rows are labels.
    found = [
        hit
        for hit in _retyped(set(results.PHASES))
        if hit.startswith(("sweep/", "api.py"))
        and not hit.startswith(("sweep/space.py", "sweep/space_types.py"))
    ]
    assert found == []


def test_the_check_sees_a_retyped_key(tmp_path):
    module = tmp_path / "galaxybench"
    module.mkdir()
    (module / "results.py").write_text('STATUS = "status"\n')
    source = '"""A docstring naming "status" is fine."""\nx = {"status": 1}\n'
    (module / "bad.py").write_text(source)
    assert _retyped({"status"}, module) == ["bad.py:2: 'status'"]
