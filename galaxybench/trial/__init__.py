"""One trial of the benchmark: ``evaluate_trial`` chains the stages and scores the result.

Ray Tune, the CLI and the tests all call this one function; ``TrialFunction`` is its contract,
what the sweep calls. Usage::

    from galaxybench.trial import evaluate_trial
    result = evaluate_trial(cfg, data, cache_dir="cache/")
"""

from __future__ import annotations

from galaxybench.trial.evaluate import (
    PipelineOutput,
    check_no_leak,
    default_device,
    evaluate_trial,
    scoring_minority,
)
from galaxybench.trial.function import Reporter, TrialFunction

__all__ = [
    "PipelineOutput",
    "Reporter",
    "TrialFunction",
    "check_no_leak",
    "default_device",
    "evaluate_trial",
    "scoring_minority",
]
