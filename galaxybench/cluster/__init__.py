"""Running sweeps on clusters that are not Ray's own: a Slurm batch script (``cluster.slurm``)."""
