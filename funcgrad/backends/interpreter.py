"""The reference backend: evaluate a Program with each primitive's NumPy
implementation, one equation at a time.

Inside an active trace (a transformation applied to traced values), the same
walk binds each primitive instead, which inlines the program into the
enclosing trace: that is how ``grad`` composes with ``make_ir``, ``jit`` and
``grad`` itself.
"""
from __future__ import annotations

import numpy as np

from ..core import trace as _trace
from ..core.ir import Literal, Program
from . import register_backend


def eval_program(program: Program, args, consts=None) -> list:
    env = {}
    for v, c in zip(program.const_vars, program.consts if consts is None else consts):
        env[v] = c
    for v, a in zip(program.in_vars, args):
        env[v] = a
    staging = _trace.tracing()
    for eqn in program.eqns:
        invals = [a.value if type(a) is Literal else env[a] for a in eqn.inputs]
        if staging:
            outs = eqn.primitive.bind(*invals, **eqn.params)
        else:
            outs = eqn.primitive.impl(*invals, **eqn.params)
        if eqn.primitive.multiple_results:
            for v, o in zip(eqn.outputs, outs):
                env[v] = o
        else:
            env[eqn.outputs[0]] = outs
    return [a.value if type(a) is Literal else env[a] for a in program.out_atoms]


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
