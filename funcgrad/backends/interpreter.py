"""The reference backend: evaluate a Program with each primitive's NumPy
implementation, one equation at a time (``funcgrad.core.evaluate.eval_program``,
re-exported here), its outputs fresh arrays that never alias the inputs.
"""
from __future__ import annotations

import numpy as np

from ..core.evaluate import eval_program
from ..core.ir import Program
from . import register_backend

__all__ = ["compile_program", "eval_program"]


def compile_program(program: Program):
    captured = [c for c in program.consts if isinstance(c, np.ndarray)]

    def run(*args):
        # Python numbers were traced as NumPy's defaults (float64, int64); NumPy 2 would
        # treat them as weak here, so make them arrays of those dtypes
        args = [np.asarray(a) if type(a) in (float, int, bool) else a for a in args]
        inputs = list(args) + captured
        outs = []
        for o in eval_program(program, args):
            o = _fresh(o, inputs)
            if any(o is prev for prev in outs):   # one value returned twice: two arrays
                o = np.array(o, copy=True)
            outs.append(o)
        return outs
    return run


def _fresh(out, inputs):
    """Outputs are writable and never alias the caller's arrays (NumPy's
    reshapes and broadcasts return views)."""
    out = np.asarray(out)
    if not out.flags.writeable or out.base is not None or any(out is x for x in inputs):
        return np.array(out, copy=True)
    return out


register_backend("interpret", compile_program)
