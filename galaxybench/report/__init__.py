"""Leaderboard reports: a pure function of a sweep's stored results (it never trains).

Usage::

    from galaxybench.report import build_report, publish
    build_report("runs/default")      # -> reports/default/
    publish("reports")                # -> reports/index.html
"""

from __future__ import annotations

from galaxybench.report.build import build_report
from galaxybench.report.experiment import Experiment, load_experiment
from galaxybench.report.publish import collect_reports, publish, publish_experiment

__all__ = [
    "Experiment",
    "build_report",
    "collect_reports",
    "load_experiment",
    "publish",
    "publish_experiment",
]
