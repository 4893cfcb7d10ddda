"""``@cuda.jit`` kernels from the fusion plan: one kernel per fused
elementwise group (``passes.fusion.FusionGroup``, kind ``"elementwise"``).

A kernel is a grid-stride loop over the group's loop shape, flattened: each
thread takes elements ``f = start, start + stride, ...``, unravels ``f``
into the loop indices ``i0, i1, ...`` (the names the scalar rules use, as
``iota``'s), reads each operand from outside the group at its broadcast
index (a size-1 axis reads index 0), computes every member's element in a
local, and stores the values read after the group. Values held as shape
``(1,)`` for 0-d ones, as the Numba backend does.

:func:`render` returns the kernel's source and its argument list, so that
the plan, the source and the launch can be printed and tested apart.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ...core.ir import Literal, Var
from ..numba_backend.lowering import ishape, np_type
from .lowering import cuda_scalar

__all__ = ["Kernel", "render"]


@dataclass(frozen=True)
class Kernel:
    """A rendered kernel: ``source`` defines ``name(n, *inputs, *outputs)``
    over ``n = prod(loop_shape)`` elements."""
    name: str
    source: str
    loop_shape: tuple
    inputs: tuple       # Vars read from outside the group, in argument order
    outputs: tuple      # Vars the kernel stores (read after the group)


def _literal(lit: Literal) -> str:
    dt = np.dtype(lit.aval.dtype)
    if dt.kind == "b":
        return repr(bool(lit.value))
    if dt.kind == "f":
        v = float(lit.value)
        text = "math.inf" if v == math.inf else "-math.inf" if v == -math.inf else "math.nan" if v != v else repr(v)
    else:
        text = repr(int(lit.value))
    return f"{np_type(dt)}({text})"


def _broadcast_index(shape, loop_shape) -> str:
    off = len(loop_shape) - len(shape)
    return ", ".join("0" if d == 1 and loop_shape[off + j] != 1 else f"i{off + j}" for j, d in enumerate(shape))


def render(group, name: str, names) -> Kernel:
    """The kernel of one elementwise ``group``; ``names(var)`` gives a
    variable's name in the source (the IR printer's)."""
    assert group.kind == "elementwise", group.kind
    loop = tuple(group.loop_shape) if group.loop_shape else (1,)
    defined = {o for e in group.eqns for o in e.outputs}
    inputs: list[Var] = []
    for e in group.eqns:
        for a in e.inputs:
            if type(a) is Var and a not in defined and a not in inputs:
                inputs.append(a)
    outputs = tuple(v for v in group.outputs)
    arg = {v: f"in_{names(v)}" for v in inputs}
    arg.update({v: f"out_{names(v)}" for v in outputs})
    lines = [f"def {name}(n, {', '.join([arg[v] for v in inputs] + [arg[v] for v in outputs])}):",
             "    f = cuda.grid(1)",
             "    stride = cuda.gridsize(1)",
             "    while f < n:"]
    body = []
    rest = "f"
    for d in range(len(loop) - 1, -1, -1):     # unravel, last axis fastest
        if d == 0:
            body.append(f"i0 = {rest}")
        else:
            body.append(f"i{d} = {rest} % {loop[d]}")
            body.append(f"r{d} = {rest} // {loop[d]}")
            rest = f"r{d}"
    local: dict[Var, str] = {}

    def read(a) -> str:
        if type(a) is Literal:
            return _literal(a)
        if a in local:
            return local[a]
        return f"{arg[a]}[{_broadcast_index(ishape(a.aval), loop)}]"

    for e in group.eqns:
        out = e.outputs[0]
        s = f"_{names(out)}"
        body.append(f"{s} = {cuda_scalar[e.primitive](e, *[read(a) for a in e.inputs])}")
        local[out] = s
        if out in outputs:
            body.append(f"{arg[out]}[{', '.join(f'i{d}' for d in range(len(loop)))}] = {s}")
    body.append("f += stride")
    lines += ["        " + b for b in body]
    return Kernel(name, "\n".join(lines) + "\n", loop, tuple(inputs), outputs)
