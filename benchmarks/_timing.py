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


def medians(fns: dict, repeats: int, min_time: float = 0.01) -> dict:
    """Median time per call of each callable: ``repeats`` rounds, run
    round-robin, each round calling a function enough times to last about
    ``min_time`` seconds (so the clock's resolution does not matter)."""
    import statistics

    counts = {}
    for k, fn in fns.items():
        fn()
        t = time.perf_counter()
        fn()
        one = max(time.perf_counter() - t, 1e-7)
        counts[k] = max(1, int(min_time / one))
    times = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            n = counts[k]
            t = time.perf_counter()
            for _ in range(n):
                fn()
            times[k].append((time.perf_counter() - t) / n)
    return {k: statistics.median(v) for k, v in times.items()}


def load_average() -> str:
    import os

    try:
        return "load %.2f %.2f %.2f" % os.getloadavg()
    except OSError:  # pragma: no cover
        return "load unknown"
