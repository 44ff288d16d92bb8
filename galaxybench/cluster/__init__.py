"""Running sweeps on clusters that are not Ray's own: a Slurm batch script (``cluster.slurm``).

Usage::

    from galaxybench.cluster import SlurmOptions, render_slurm
    script = render_slurm(SlurmOptions(nodes=2, space="default"))  # the sbatch text
"""

from __future__ import annotations

from galaxybench.cluster.slurm import SlurmOptions, render_slurm, wait_for_nodes

__all__ = ["SlurmOptions", "render_slurm", "wait_for_nodes"]
