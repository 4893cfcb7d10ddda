"""Layout: loop-invariant transposed matrix operands, transposed once before the loop.

``matmul[transpose_b=True](a, w)`` is BLAS's ``gemm`` with a transposed
second operand, which OpenBLAS runs 5-60% slower than the same product with
``w`` stored transposed (measured for the shapes of dense layers and RNN
cells: 15 us against 9.4 us for a 32x128 @ 128x128 float32 product). Reverse
mode writes exactly that product for every layer (``ct @ W^T``), and inside
a loop (the backward scan of an RNN, a training epoch) the same ``W`` is
multiplied once per iteration. This pass finds, in the body of each
``scan``, ``fori_loop`` and ``while_loop``, the ``matmul`` equations whose
transposed second operand is a loop-invariant input of the body (one of its
constants), transposes that input once in front of the loop (a new constant
operand of the loop), and lets the products read it untransposed.

Loops of one iteration (a ``scan`` of length 1) are left alone. The pass
enters nested bodies; a transposed constant of an inner loop that is itself
a constant of the outer one is hoisted one level per loop.
"""
from __future__ import annotations

from ..core.ir import Eqn, Program, ShapedArray, Var
from ..primitives.control import fori_loop_p, scan_p, while_loop_p
from ..primitives.linalg import matmul_p
from ..primitives.shape import transpose_p
from ._util import map_subprograms

__all__ = ["hoist_transposes"]


def hoist_transposes(program: Program) -> Program:
    """``program`` with loop-invariant transposed ``matmul`` operands transposed before their loops."""
    return _hoist(program, {})


def _hoist(program: Program, memo: dict) -> Program:
    eqns, changed = [], False
    for eqn in program.eqns:
        new = map_subprograms(eqn, lambda p: _hoist(p, memo), memo)
        layout = _constants_of(new)
        if layout is not None:
            before, new = _rewrite(new, *layout)
            eqns.extend(before)
        changed |= new is not eqn
        eqns.append(new)
    if not changed:
        return program
    return Program(program.in_vars, program.const_vars, program.consts, eqns, program.out_atoms)


def _constants_of(eqn):
    """``(first operand, count, count parameter)`` of a loop's constants (its
    body's first inputs), or None for other equations and one-iteration scans."""
    p = eqn.params
    if eqn.primitive is scan_p:
        return (0, p["num_consts"], "num_consts") if p["length"] > 1 else None
    if eqn.primitive is fori_loop_p:
        return 2, p["num_consts"], "num_consts"
    if eqn.primitive is while_loop_p:
        return p["cond_nconsts"], p["body_nconsts"], "body_nconsts"
    return None


def _rewrite(eqn: Eqn, first: int, count: int, count_param: str):
    body = eqn.params["body"]
    consts = body.in_vars[:count]
    position = {v: k for k, v in enumerate(consts)}
    targets = {}    # body constant -> its transposed twin (a new body input)
    for e in body.eqns:
        w = e.inputs[1] if e.primitive is matmul_p else None
        if (type(w) is Var and w in position and e.params["transpose_b"] and w not in targets
                and w.aval.dtype.kind == "f"):
            shape = w.aval.shape[:-2] + (w.aval.shape[-1], w.aval.shape[-2])
            targets[w] = Var(ShapedArray(shape, w.aval.dtype))
    if not targets:
        return [], eqn
    before, operands = [], []
    perm = None
    for w, wt in targets.items():
        outer = eqn.inputs[first + position[w]]
        perm = tuple(range(w.aval.ndim - 2)) + (w.aval.ndim - 1, w.aval.ndim - 2)
        t = Var(wt.aval)
        before.append(Eqn(transpose_p, [outer], [t], {"permutation": perm}, eqn.source))
        operands.append(t)
    body_eqns = []
    for e in body.eqns:
        w = e.inputs[1] if e.primitive is matmul_p else None
        if w in targets and e.params["transpose_b"]:
            e = Eqn(matmul_p, [e.inputs[0], targets[w]], e.outputs,
                    {**e.params, "transpose_b": False}, e.source)
        body_eqns.append(e)
    new_body = Program(list(consts) + list(targets.values()) + list(body.in_vars[count:]), body.const_vars,
                       body.consts, body_eqns, body.out_atoms)
    at = first + count
    inputs = list(eqn.inputs[:at]) + operands + list(eqn.inputs[at:])
    params = {**eqn.params, "body": new_body, count_param: count + len(targets)}
    return before, Eqn(eqn.primitive, inputs, eqn.outputs, params, eqn.source)
