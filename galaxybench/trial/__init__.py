"""One trial of the benchmark: ``evaluate_trial`` chains the stages and scores the result.

Ray Tune, the CLI and the tests all call this one function. Usage::

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

__all__ = [
    "PipelineOutput",
    "check_no_leak",
    "default_device",
    "evaluate_trial",
    "scoring_minority",
]
