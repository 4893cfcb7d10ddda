"""Control-flow primitives: loops and branches whose bodies are Programs.

A body is a *closed* Program (no captured constants): whatever the user's
function closed over is passed as explicit leading operands, so the body is
plain data a backend can compile inline, as a real loop or branch, and a
transformation can walk.

==============  ====================================  ==========================================
primitive       operands                              body / branches
==============  ====================================  ==========================================
``fori_loop``   ``lo, hi, *consts, *carry``           ``body(*consts, i, *carry) -> carry``
``while_loop``  ``*cond_consts, *body_consts,         ``cond(*cond_consts, *carry) -> bool[]``,
                *carry``                              ``body(*body_consts, *carry) -> carry``
``scan``        ``*consts, *carry, *xs``              ``body(*consts, *carry, *x) -> (*carry, *y)``
``switch``      ``index, *operands``                  ``branches[k](*operands) -> outs``
==============  ====================================  ==========================================

``scan`` stacks the ``y`` of every step along a new leading axis;
``switch`` clamps its index into range, as ``jax.lax.switch`` does.

The NumPy implementations (the interpreter) evaluate the bodies with the
interpreter, one iteration at a time. The user-facing functions, which take
pytrees and Python callables, are in :mod:`funcgrad.control_flow`.

Their rules live with the transformations: reverse mode in
:mod:`funcgrad.transforms.vjp.control` (``switch``, ``scan``, ``fori_loop``
with static bounds; ``while_loop`` raises, as in JAX), forward mode in
:mod:`funcgrad.transforms.jvp.control`, batching in
:mod:`funcgrad.transforms.batching.control`.
"""
from __future__ import annotations

import numpy as np

from ..core.evaluate import eval_program
from ..core.ir import Program, ShapedArray, Var, subprograms
from ..core.trace import Primitive
from ..errors import DtypeError, ShapeError

__all__ = ["fori_loop_p", "while_loop_p", "scan_p", "switch_p", "subprograms"]


def _eval(program: Program, args):
    return eval_program(program, args)


def _same_types(name: str, what: str, got, want):
    """Carries keep their shapes and dtypes from one iteration to the next."""
    for k, (g, w) in enumerate(zip(got, want)):
        if g.shape != w.shape or g.dtype != w.dtype:
            raise DtypeError(f"{name}: {what} {k} is {g} but must be {w}")


def _index_value(x) -> int:
    return int(np.asarray(x))


# ----------------------------------------------------------------------------- fori_loop

fori_loop_p = Primitive("fori_loop", multiple_results=True)


@fori_loop_p.def_abstract_eval
def _fori_abstract(lo, hi, *args, body, num_consts):
    for b, what in ((lo, "lower"), (hi, "upper")):
        if b.shape != () or b.dtype.kind not in "iu":
            raise DtypeError(f"fori_loop: the {what} bound must be an integer scalar, got {b}")
    carry = args[num_consts:]
    _same_types("fori_loop", "the body's output", body.out_avals, carry)
    return [ShapedArray(a.shape, a.dtype) for a in carry]


@fori_loop_p.def_impl
def _fori_impl(lo, hi, *args, body, num_consts):
    consts, carry = list(args[:num_consts]), list(args[num_consts:])
    index_dtype = body.in_vars[num_consts].aval.dtype
    for i in range(_index_value(lo), _index_value(hi)):
        carry = _eval(body, consts + [index_dtype.type(i)] + carry)
    return [np.asarray(c) for c in carry]


# ----------------------------------------------------------------------------- while_loop

while_loop_p = Primitive("while_loop", multiple_results=True)


@while_loop_p.def_abstract_eval
def _while_abstract(*args, cond, body, cond_nconsts, body_nconsts):
    carry = args[cond_nconsts + body_nconsts:]
    (pred,) = cond.out_avals
    if pred.shape != () or pred.dtype != np.bool_:
        raise DtypeError(f"while_loop: the condition must return a boolean scalar, got {pred}")
    _same_types("while_loop", "the body's output", body.out_avals, carry)
    return [ShapedArray(a.shape, a.dtype) for a in carry]


@while_loop_p.def_impl
def _while_impl(*args, cond, body, cond_nconsts, body_nconsts):
    cond_consts = list(args[:cond_nconsts])
    body_consts = list(args[cond_nconsts:cond_nconsts + body_nconsts])
    carry = list(args[cond_nconsts + body_nconsts:])
    while bool(_eval(cond, cond_consts + carry)[0]):
        carry = _eval(body, body_consts + carry)
    return [np.asarray(c) for c in carry]


# ----------------------------------------------------------------------------- scan

scan_p = Primitive("scan", multiple_results=True)


@scan_p.def_abstract_eval
def _scan_abstract(*args, body, num_consts, num_carry, length, reverse):
    carry = args[num_consts:num_consts + num_carry]
    xs = args[num_consts + num_carry:]
    for k, x in enumerate(xs):
        if not x.shape or x.shape[0] != length:
            raise ShapeError(f"scan: xs leaf {k} has shape {x.shape}, but every leaf of xs must "
                             f"have a leading axis of the scan's length {length}")
    outs = body.out_avals
    _same_types("scan", "the body's carry output", outs[:num_carry], carry)
    ys = [ShapedArray((length,) + y.shape, y.dtype) for y in outs[num_carry:]]
    return [ShapedArray(a.shape, a.dtype) for a in carry] + ys


@scan_p.def_impl
def _scan_impl(*args, body, num_consts, num_carry, length, reverse):
    consts = list(args[:num_consts])
    carry = list(args[num_consts:num_consts + num_carry])
    xs = args[num_consts + num_carry:]
    y_avals = body.out_avals[num_carry:]
    ys = [np.empty((length,) + y.shape, y.dtype) for y in y_avals]
    for t in range(length):
        i = length - 1 - t if reverse else t
        outs = _eval(body, consts + carry + [np.asarray(x)[i] for x in xs])
        carry = outs[:num_carry]
        for y, o in zip(ys, outs[num_carry:]):
            y[i] = o
    return [np.asarray(c) for c in carry] + ys


# ----------------------------------------------------------------------------- switch

switch_p = Primitive("switch", multiple_results=True)


@switch_p.def_abstract_eval
def _switch_abstract(index, *operands, branches):
    if index.shape != () or index.dtype.kind not in "iu":
        raise DtypeError(f"switch: the branch index must be an integer scalar, got {index}")
    first = branches[0].out_avals
    for k, br in enumerate(branches[1:], 1):
        outs = br.out_avals
        if len(outs) != len(first):
            raise DtypeError(f"switch: branch {k} returns {len(outs)} values, branch 0 returns {len(first)}")
        _same_types("switch", f"branch {k}'s output", outs, first)
    return [ShapedArray(a.shape, a.dtype) for a in first]


@switch_p.def_impl
def _switch_impl(index, *operands, branches):
    k = min(max(_index_value(index), 0), len(branches) - 1)
    return [np.asarray(o) for o in _eval(branches[k], list(operands))]


def close_branches(programs):
    """Programs with captured constants -> (closed programs, constants): every
    branch takes the constants of all branches first (those of the others are
    unused inputs), then its own inputs."""
    closed = []
    for k, p in enumerate(programs):
        in_vars = []
        for j, other in enumerate(programs):
            in_vars += list(p.const_vars) if j == k else [Var(v.aval) for v in other.const_vars]
        closed.append(Program(in_vars + list(p.in_vars), [], [], p.eqns, p.out_atoms))
    return closed, [c for p in programs for c in p.consts]
