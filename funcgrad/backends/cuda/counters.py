"""Kernel launches of the CUDA backend, counted: :func:`launches` is the number
made in this process so far (funcgrad's kernels, one per matrix product, one
per ``scatter_add``), so that a benchmark or a test can count a step's
launches by difference."""
from __future__ import annotations

__all__ = ["launches", "count_launch"]

_launches = [0]


def count_launch(n: int = 1):
    _launches[0] += n


def launches() -> int:
    return _launches[0]
