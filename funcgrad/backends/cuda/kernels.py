"""``@cuda.jit`` kernels from the fusion plan: one kernel per fused group
(``passes.fusion.FusionGroup`` of kind ``"elementwise"`` or ``"reduction"``).

A kernel is a grid-stride loop over the group's loop shape, flattened: each
thread takes elements ``f = start, start + stride, ...``, unravels ``f``
into the loop indices ``i0, i1, ...`` (the names the scalar rules use, as
``iota``'s), reads each operand from outside the group at its broadcast
index (a size-1 axis reads index 0), computes every member's element in a
local, and stores the values read after the group. Values held as shape
``(1,)`` for 0-d ones, as the Numba backend does.

:func:`render` returns the kernel's source and its argument list, so that
the plan, the source and the launch can be printed and tested apart.

A reduction group (every accumulator reducing the same loop axes: the
renderer's condition, :func:`reducible`) splits its loop into the kept axes
and the reduced ones: each block takes kept elements (a grid-stride loop
over them), its threads stride over the reduced elements computing the
members and folding each accumulator privately, then combine the block's
partial results by a tree in shared memory, and thread 0 stores them. The
group's elementwise values read after it are stored at each element as in
an elementwise kernel.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ...core.ir import Literal, Var
from ..numba_backend.lowering import ishape, np_type
from .lowering import cuda_reduction, cuda_scalar

__all__ = ["Kernel", "render", "render_reduction", "reducible", "render_horizontal", "independent"]


@dataclass(frozen=True)
class Kernel:
    """A rendered kernel: ``source`` defines ``name(n, *inputs, *outputs)``
    over ``n = prod(loop_shape)`` elements (a reduction kernel: ``n`` the
    kept elements, launched with one block per kept element up to a limit)."""
    name: str
    source: str
    loop_shape: tuple
    inputs: tuple       # Vars read from outside the group, in argument order
    outputs: tuple      # Vars the kernel stores (read after the group)
    kept: int = 0       # a reduction kernel's kept elements (0: an elementwise kernel)
    body: tuple = ()    # an elementwise kernel's statements for the element ``f`` (for render_horizontal)
    params: tuple = ()  # its argument names after ``n``, in order


def _literal(lit: Literal) -> str:
    return _literal_of(lit.value, lit.aval.dtype)


def _literal_of(value, dtype) -> str:
    dt = np.dtype(dtype)
    if dt.kind == "b":
        return repr(bool(value))
    if dt.kind == "f":
        v = float(value)
        text = "math.inf" if v == math.inf else "-math.inf" if v == -math.inf else "math.nan" if v != v else repr(v)
    else:
        text = repr(int(value))
    return f"{np_type(dt)}({text})"


def _broadcast_index(shape, loop_shape) -> str:
    off = len(loop_shape) - len(shape)
    return ", ".join("0" if d == 1 and loop_shape[off + j] != 1 else f"i{off + j}" for j, d in enumerate(shape))


def _operands(group):
    defined = {o for e in group.eqns for o in e.outputs}
    inputs: list[Var] = []
    for e in group.eqns:
        for a in e.inputs:
            if type(a) is Var and a not in defined and a not in inputs:
                inputs.append(a)
    return inputs


def _unravel(shape, flat: str, axes, tmp: str) -> list:
    """Statements setting ``i<axis>`` for ``axes`` of ``shape`` from the flat
    index ``flat`` (the last axis fastest)."""
    out, rest = [], flat
    axes = list(axes)
    if not axes:
        return out
    for j in range(len(axes) - 1, -1, -1):
        d = axes[j]
        if j == 0:
            out.append(f"i{d} = {rest}")
        else:
            out.append(f"i{d} = {rest} % {shape[d]}")
            out.append(f"{tmp}{d} = {rest} // {shape[d]}")
            rest = f"{tmp}{d}"
    return out


def _reader(arg, local, loop):
    """``read(atom)``: a member's element at the loop indices (a literal, a
    local of the group, or an operand array at its broadcast index)."""
    def read(a) -> str:
        if type(a) is Literal:
            return _literal(a)
        if a in local:
            return local[a]
        return f"{arg[a]}[{_broadcast_index(ishape(a.aval), loop)}]"
    return read


def reducible(group) -> bool:
    """Whether :func:`render_reduction` takes ``group``: every accumulator
    reduces the same axes, by a rule of ``cuda_reduction``."""
    accs = group.accumulators
    return bool(accs) and all(a.eqn.primitive in cuda_reduction for a in accs) and \
        len({tuple(sorted(a.axes)) for a in accs}) == 1


def render_reduction(group, name: str, names, threads: int) -> Kernel:
    """The kernel of one reduction ``group`` (:func:`reducible`), for blocks of ``threads``."""
    loop = tuple(group.loop_shape) if group.loop_shape else (1,)
    accs = group.accumulated
    axes = sorted(next(iter(group.accumulators)).axes)
    kept_axes = [d for d in range(len(loop)) if d not in axes]
    n_kept = int(np.prod([loop[d] for d in kept_axes], dtype=np.int64))
    n_red = int(np.prod([loop[d] for d in axes], dtype=np.int64))
    inputs = _operands(group)
    outputs = tuple(group.outputs)
    arg = {v: f"in_{names(v)}" for v in inputs}
    arg.update({v: f"out_{names(v)}" for v in outputs})
    head = [f"def {name}(n, {', '.join([arg[v] for v in inputs] + [arg[v] for v in outputs])}):"]
    for e, acc in accs.items():
        dt = np.dtype(e.outputs[0].aval.dtype)
        head.append(f"    sh_{names(e.outputs[0])} = cuda.shared.array({threads}, "
                    f"nbt.{'boolean' if dt.kind == 'b' else dt.name})")
    head += ["    t = cuda.threadIdx.x",
             "    o = cuda.blockIdx.x",
             "    while o < n:"]
    body = _unravel(loop, "o", kept_axes, "q")
    for e in accs:
        out = e.outputs[0]
        body.append(f"a_{names(out)} = {cuda_reduction[e.primitive].identity(out.aval.dtype)}")
    inner = ["r = t", f"while r < {n_red}:"]
    step = _unravel(loop, "r", axes, "p")
    local: dict[Var, str] = {}

    read = _reader(arg, local, loop)

    for e in group.eqns:
        out = e.outputs[0]
        if e in accs:
            red = cuda_reduction[e.primitive]
            step.append(f"a_{names(out)} = {red.combine(f'a_{names(out)}', read(e.inputs[0]))}")
            continue
        s = f"_{names(out)}"
        step.append(f"{s} = {cuda_scalar[e.primitive](e, *[read(a) for a in e.inputs])}")
        local[out] = s
        if out in outputs:
            step.append(f"{arg[out]}[{', '.join(f'i{d}' for d in range(len(loop)))}] = {s}")
    step.append("r += cuda.blockDim.x")
    inner += ["    " + x for x in step]
    body += inner
    for e in accs:
        body.append(f"sh_{names(e.outputs[0])}[t] = a_{names(e.outputs[0])}")
    body += ["cuda.syncthreads()", f"s = {threads // 2}", "while s > 0:", "    if t < s:"]
    for e in accs:
        sh = f"sh_{names(e.outputs[0])}"
        body.append(f"        {sh}[t] = {cuda_reduction[e.primitive].combine(f'{sh}[t]', f'{sh}[t + s]')}")
    body += ["    cuda.syncthreads()", "    s //= 2", "if t == 0:"]
    for e, acc in accs.items():
        out = e.outputs[0]
        if out not in outputs:
            continue
        if not out.aval.shape:
            idx = "0"
        elif acc.keepdims:
            idx = ", ".join("0" if d in axes else f"i{d}" for d in range(len(loop)))
        else:
            idx = ", ".join(f"i{d}" for d in kept_axes)
        body.append(f"    {arg[out]}[{idx}] = sh_{names(out)}[0]")
    body += ["cuda.syncthreads()", "o += cuda.gridDim.x"]
    source = "\n".join(head + ["        " + b for b in body]) + "\n"
    return Kernel(name, source, loop, tuple(inputs), outputs, kept=n_kept)


def render(group, name: str, names) -> Kernel:
    """The kernel of one elementwise ``group``; ``names(var)`` gives a
    variable's name in the source (the IR printer's)."""
    assert group.kind == "elementwise", group.kind
    loop = tuple(group.loop_shape) if group.loop_shape else (1,)
    inputs = _operands(group)
    outputs = tuple(v for v in group.outputs)
    arg = {v: f"in_{names(v)}" for v in inputs}
    arg.update({v: f"out_{names(v)}" for v in outputs})
    lines = [f"def {name}(n, {', '.join([arg[v] for v in inputs] + [arg[v] for v in outputs])}):",
             "    f = cuda.grid(1)",
             "    stride = cuda.gridsize(1)",
             "    while f < n:"]
    body = _unravel(loop, "f", range(len(loop)), "r")
    local: dict[Var, str] = {}

    read = _reader(arg, local, loop)

    for e in group.eqns:
        out = e.outputs[0]
        s = f"_{names(out)}"
        body.append(f"{s} = {cuda_scalar[e.primitive](e, *[read(a) for a in e.inputs])}")
        local[out] = s
        if out in outputs:
            body.append(f"{arg[out]}[{', '.join(f'i{d}' for d in range(len(loop)))}] = {s}")
    lines += ["        " + b for b in body + ["f += stride"]]
    return Kernel(name, "\n".join(lines) + "\n", loop, tuple(inputs), outputs, body=tuple(body),
                  params=tuple([arg[v] for v in inputs] + [arg[v] for v in outputs]))


def independent(kernels) -> bool:
    """Whether no kernel of ``kernels`` reads what another of them stores."""
    stored = {v for k in kernels for v in k.outputs}
    return not any(v in stored for k in kernels for v in k.inputs)


def render_horizontal(kernels, name: str) -> Kernel:
    """One kernel for several independent elementwise kernels (horizontal fusion: one launch where there
    were ``len(kernels)``): one grid-stride loop over their elements end to end, each element running the
    statements of the kernel it belongs to, at its index within that kernel."""
    assert kernels and all(k.body and not k.kept for k in kernels) and independent(kernels)
    inputs, outputs, params = [], [], []
    for k in kernels:
        for v, p in zip(k.inputs, k.params):
            if v not in inputs:
                inputs.append(v)
                params.append(p)
    for k in kernels:
        outputs += list(k.outputs)
        params += list(k.params[len(k.inputs):])
    lines = [f"def {name}(n, {', '.join(params)}):",
             "    g = cuda.grid(1)",
             "    stride = cuda.gridsize(1)",
             "    while g < n:"]
    start = 0
    for j, k in enumerate(kernels):
        size = int(np.prod(k.loop_shape, dtype=np.int64))
        lines.append(f"        {'if' if j == 0 else 'elif'} g < {start + size}:")
        lines.append(f"            f = g - {start}")
        lines += ["            " + b for b in k.body]
        start += size
    lines.append("        g += stride")
    return Kernel(name, "\n".join(lines) + "\n", (start,), tuple(inputs), tuple(outputs))
