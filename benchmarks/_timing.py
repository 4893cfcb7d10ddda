"""Timing shared by the benchmark scripts (run them from anywhere: each script's
folder is on ``sys.path``)."""
from __future__ import annotations

import time


def best_of(fns: dict, repeats: int) -> dict:
    """Best wall time of each callable over ``repeats`` rounds, run round-robin
    so that load from other users of the machine hits every variant alike."""
    times = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            t = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t)
    return {k: min(v) for k, v in times.items()}
