"""Passes over the IR between tracing and lowering.

Each pass is a pure function ``Program -> Program``: it returns a new Program
and never modifies its input or the input's equations (equations it leaves
alone are shared). Every pass enters the bodies of control flow
(``fori_loop``, ``while_loop``, ``scan``, ``switch``) and rewrites each body
on its own, keeping the body's inputs and outputs (its signature) as they
are, except where a pass changes the equation holding it to match (``dce``
drops a loop's unused outputs, ``hoist_transposes`` adds a constant).

- :func:`inline_custom_calls`: the calls of custom derivatives become their
  equations (``inline.py``; ``checkpoint`` calls stay until after the pipeline)
- :func:`simplify`: canonicalization, algebraic simplification, constant folding
- :func:`cse`: common-subexpression elimination
- :func:`accumulate`: cotangent accumulation (sums of ``pad``s and scatters
  into zeros become updates of one buffer, which the Numba backend makes in
  place)
- :func:`dce`: dead-code elimination
- :func:`hoist_transposes`: a loop-invariant matrix that a loop body multiplies
  transposed (``ct @ W^T`` in a backward scan) is transposed once before the
  loop (BLAS runs the untransposed product faster)
- :func:`schedule`: equations that read only inputs move to their first use
  (so that what fuses with what follows the computation, not the sizes)

``default_pipeline`` (simplify, cse, accumulate, hoist_transposes, dce, schedule) runs in front of the Numba
backend's code generator (``funcgrad.config.passes`` / ``FUNCGRAD_PASSES=0``
turns it off); the interpreter runs programs as traced, so tests comparing
the two backends check the passes too. ``fg.jit(f).lower(*args)`` shows the
IR after the passes (``.ir``), before them (``.ir_before_passes``) and after
every pass (``.as_text(passes=True)``).

After the pipeline, the backends run :func:`inline_calls` (``inline.py``):
each call equation left (``checkpoint``, and all of them when the pipeline is
off) is replaced by its program's equations. The pipeline optimizes each call
body on its own, as it does loop bodies; inlining after it keeps
``checkpoint``'s recomputation from being merged back by CSE.

After the pipeline, :func:`plan_fusion` (``fusion.py``) reads the program
and returns its fusion plan, data rather than a rewritten program: the groups
of equations that share one loop nest (elementwise equations over one loop
shape, with the reductions accumulated in it), their loop shapes, the values
each group must store, and whether its outer loop may be split across
threads; every other equation is a group of its own, and control-flow
bodies have plans of their own. It is backend-neutral: the Numba code
generator renders it, and a GPU backend can render the same plan.
``print(plan)`` lists the groups; ``fg.jit(f).lower(*args).fusion_plan`` is
the plan of the IR after the passes.
"""
from __future__ import annotations

import warnings

from ..core.ir import Program
from .accumulate import accumulate
from .cse import cse
from .dce import dce
from .inline import inline_calls, inline_custom_calls
from .layout import hoist_transposes
from .fusion import Accumulator, FusionGroup, FusionPlan, plan_fusion
from .pipeline import PassTrace, Pipeline, count_eqns
from .schedule import schedule
from .simplify import simplify
from .verify import IRError, verify

__all__ = ["Pipeline", "PassTrace", "inline_custom_calls", "simplify", "cse", "accumulate", "hoist_transposes", "dce", "schedule", "verify", "IRError", "count_eqns",
           "default_pipeline", "enabled", "optimize", "inline_calls", "plan_fusion", "FusionPlan", "FusionGroup", "Accumulator"]

# accumulate after cse: cse would merge the zero buffers it starts (one array
# each, updated in place) into one that every chain then has to copy
default_pipeline = Pipeline([("inline_custom", inline_custom_calls), ("simplify", simplify), ("cse", cse),
                             ("accumulate", accumulate), ("hoist_transposes", hoist_transposes), ("dce", dce),
                             ("schedule", schedule)])


def enabled() -> bool:
    """``funcgrad.config.passes``: True, False, or a string as ``FUNCGRAD_PASSES`` takes it."""
    from .. import config

    value = config.passes
    if isinstance(value, str):
        return value.strip().lower() not in ("0", "false", "off", "no", "")
    return bool(value)


def optimize(program: Program) -> Program:
    """``program`` through ``default_pipeline`` when the passes are enabled.

    Should a pass fail (a bug), the program is compiled as traced, with a
    RuntimeWarning, rather than the user's call failing."""
    if not enabled():
        return program
    try:
        return default_pipeline.run(program)
    except Exception as e:   # pragma: no cover - a pass bug
        warnings.warn(f"funcgrad: the IR pass pipeline failed ({type(e).__name__}: {e}); the "
                      "program is compiled as traced. Please report it.", RuntimeWarning, stacklevel=3)
        return program
