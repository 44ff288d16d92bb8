"""Every stage implementation, imported here so that this file lists them all.

Each module registers itself into a registry of ``galaxybench.registry``.
"""

from __future__ import annotations
