"""VJP rules of the control-flow primitives (:mod:`funcgrad.primitives.control`),
registered in :data:`funcgrad.transforms.vjp.vjp_rules`.

``switch`` is differentiable: its VJP is a ``switch`` over the branches'
backward passes. ``scan`` is differentiable: a forward rule binds one scan
that also stacks the per-step residuals, and the VJP is one scan in the
opposite direction (see the scan section). ``fori_loop`` with concrete
bounds is differentiated as a scan over its indices; with traced bounds, and
``while_loop`` always, reverse mode raises an ``UnsupportedError`` (as in
JAX: the trip count must be static to save every iteration's values).
"""
from __future__ import annotations


import numpy as np

from ...core.evaluate import eval_program
from ...core.ir import Program, ShapedArray, Var, dead_code_elimination
from ...core.trace import aval_of, is_tracer, trace_flat
from ...errors import UnsupportedError
from ...passes._util import has_effect
from ...primitives import add, iota
from ...primitives.elementwise import (add_p, convert_p, div_p, integer_pow_p, max_p, min_p, mul_p, neg_p,
                                      select_p, sub_p)
from ...primitives.shape import reshape_p, transpose_p
from ...primitives.control import close_branches, fori_loop_p, scan_p, switch_p, while_loop_p
from . import InternalError, _zeros, backward_pass, split_program, vjp_forward_rules, vjp_rules

# ----------------------------------------------------------------------------- switch


def _switch_vjp(cts, index, *operands, out, branches):
    """The VJP of a branch is a branch of VJPs: each branch's backward pass,
    traced into a program, selected by the same index."""
    n = len(operands)
    wrt = [i for i, o in enumerate(operands) if aval_of(o).dtype.kind == "f"]
    in_avals = [aval_of(o) for o in operands] + [aval_of(c) for c in cts]
    programs = []
    for branch in branches:
        def branch_vjp(*args, branch=branch):
            return backward_pass(branch, list(args[:n]), wrt, list(args[n:]))[1]
        programs.append(trace_flat(branch_vjp, in_avals))
    closed, consts = close_branches(programs)
    grads = switch_p.bind(index, *consts, *operands, *cts, branches=tuple(closed))
    result = [None] * (n + 1)
    for i, g in zip(wrt, grads):
        result[i + 1] = g
    return tuple(result)


vjp_rules[switch_p] = _switch_vjp


# ----------------------------------------------------------------------------- scan
#
# The VJP of a scan is two scans, as in JAX. The body's joint VJP program
#   (consts, carry, x, ct_carry, ct_y) -> (carry', y, grads)
# traced with ``backward_pass`` is cut by ``split_program`` into
#   forward  (consts, carry, x)           -> (carry', y, residuals)
#   backward (residuals, ct_carry, ct_y)  -> (ct_consts, ct_carry, ct_x).
# The forward rule binds one forward scan of the forward part that stacks
# the per-step residuals as extra ys; the VJP rule binds one scan in the
# opposite direction over the stacked residuals and the ct_ys, carrying
# ct_carry and the sum of the ct_consts.
#
# Residual layout: each residual of the body is one of
# - loop-invariant (a const, a captured constant of the traced body, or a
#   value computed from those only): the equations computing it are hoisted
#   out of the loop, run once, and the value is a const of the backward scan;
# - an x of the step: the xs operand itself is the stacked residual (no copy);
# - a y of the step: that ys output is the stacked residual (no copy);
# - otherwise a per-step value, stacked as an extra ys output of the forward scan.
# Only floating-point consts, carries and xs get cotangents; integer values are
# primal data (residuals when the backward part reads them).


_VIEWS = (reshape_p, transpose_p)   # residuals recomputed from an x rather than stacked


class _ScanLinearization:
    """What the VJP rule of one scan needs besides the values: the backward
    part of the body and where each of its residuals comes from."""

    __slots__ = ("bwd", "res_kinds", "grad_known", "wrt", "ck", "cy", "length", "reverse",
                 "num_consts", "num_carry", "ys_read")


def _strong(aval):
    return ShapedArray(aval.shape, aval.dtype)


def _is_float(aval):
    return aval.dtype.kind == "f"


# Residuals recomputed in the backward scan instead of stacked: a value a few
# arithmetic equations or reshapes compute from other residuals (the
# 1 - tanh(z)**2 of an RNN cell, from tanh(z), which is stacked anyway). Stacking costs a write and a
# read of the whole (length, ...) array; the arithmetic is nearly free.
_CHEAP = {add_p, sub_p, mul_p, neg_p, div_p, max_p, min_p, select_p, convert_p, integer_pow_p, reshape_p}
REMAT_MAX_EQNS = 4


def _rematerialize(residuals, res_kinds, producer, y_atoms):
    """Mark (in ``res_kinds``, in place) the "stack" residuals that at most
    REMAT_MAX_EQNS cheap equations compute from residuals that stay or from the
    step's ys; a leaf is ``("res", k)`` or ``("y", j)``."""
    index = {r: k for k, r in enumerate(residuals)}
    y_index = {a: j for j, a in enumerate(y_atoms) if type(a) is Var}
    is_remat, leaf_of_remat = set(), set()
    for k, (kind, _) in enumerate(res_kinds):
        if kind != "stack" or residuals[k] in leaf_of_remat:
            continue
        eqns, leaves, done = [], {}, set()

        def visit(v, top=False):
            if type(v) is not Var:
                return True
            if not top and v in index and index[v] not in is_remat:
                leaves[v] = ("res", index[v])
                return True
            if not top and v in y_index:
                leaves[v] = ("y", y_index[v])
                return True
            e = producer.get(v)
            if e is None or e.primitive not in _CHEAP or len(e.outputs) != 1:
                return False
            if e in done:
                return True
            if not all(visit(a) for a in e.inputs) or len(eqns) >= REMAT_MAX_EQNS:
                return False
            done.add(e)
            eqns.append(e)
            return True

        if visit(residuals[k], top=True) and leaves:
            res_kinds[k] = ("remat", (eqns, leaves))
            is_remat.add(k)
            leaf_of_remat.update(v for v, (where, _) in leaves.items() if where == "res")


def _scan_fwd(*args, body, num_consts, num_carry, length, reverse):
    nc, nk = num_consts, num_carry
    n_in = len(body.in_vars)
    in_avals, out_avals = body.in_avals, body.out_avals
    ny = len(out_avals) - nk
    wrt = [i for i in range(n_in) if _is_float(in_avals[i])]
    ck = [k for k in range(nk) if _is_float(out_avals[k])]           # carries with a cotangent
    cy = [j for j in range(ny) if _is_float(out_avals[nk + j])]      # ys with a cotangent

    def joint(*a):
        primals, cts = list(a[:n_in]), iter(a[n_in:])
        ct_list = [next(cts) if k in ck else None for k in range(nk)]
        ct_list += [next(cts) if j in cy else None for j in range(ny)]
        outs, grads = backward_pass(body, primals, wrt, ct_list)
        return list(outs) + list(grads)

    joint_avals = list(in_avals) + [_strong(out_avals[k]) for k in ck] + [_strong(out_avals[nk + j]) for j in cy]
    joint_p = trace_flat(joint, joint_avals)
    fwd, bwd, known_out = split_program(joint_p, n_in)
    n_outs = nk + ny
    if not all(known_out[:n_outs]):  # pragma: no cover - outputs never depend on cotangents
        raise InternalError("scan: the body's outputs depend on cotangents")
    grad_known = known_out[n_outs:]   # gradients that do not read a cotangent: zeros (linearity)
    residuals = fwd.out_atoms[n_outs + sum(grad_known):]
    primal_outs = fwd.out_atoms[:n_outs]

    # hoist the equations that read only consts (loop-invariant) out of the loop
    const_in = fwd.in_vars[:nc]
    invariant = set(const_in) | set(fwd.const_vars)
    hoisted, loop_eqns = [], []
    for eqn in fwd.eqns:
        if not has_effect(eqn) and all(type(a) is not Var or a in invariant for a in eqn.inputs):
            hoisted.append(eqn)
            invariant.update(eqn.outputs)
        else:
            loop_eqns.append(eqn)

    x_in = fwd.in_vars[nc + nk:]
    y_atoms = primal_outs[nk:]
    producer = {v: e for e in loop_eqns for v in e.outputs}

    def x_view(r):
        """``(j, eqns)`` when ``r`` is a reshape/transpose chain of the x ``j``, else None."""
        chain = []
        while r not in x_in:
            e = producer.get(r)
            if e is None or e.primitive not in _VIEWS or type(e.inputs[0]) is not Var:
                return None
            chain.append(e)
            r = e.inputs[0]
        return x_in.index(r), chain[::-1]

    # res_kinds[r]: ("inv", var) | ("x", j) | ("xview", (j, eqns)) | ("y", j) | ("stack", k)
    #               | ("remat", (eqns, leaves))
    res_kinds = []
    for r in residuals:
        view = None if r in invariant else x_view(r)
        if r in invariant:
            res_kinds.append(("inv", r))
        elif view is not None:
            res_kinds.append(("x", view[0]) if not view[1] else ("xview", view))
        elif any(a is r for a in y_atoms):
            res_kinds.append(("y", next(j for j, a in enumerate(y_atoms) if a is r)))
        else:
            res_kinds.append(("stack", None))
    _rematerialize(residuals, res_kinds, producer, y_atoms)
    extra = []
    for k, (kind, _) in enumerate(res_kinds):
        if kind == "stack":
            res_kinds[k] = ("stack", len(extra))
            extra.append(residuals[k])

    # the invariant values the loop reads, then those the backward scan reads
    loop_consts, seen = [], set()
    for a in [a for e in loop_eqns for a in e.inputs] + list(primal_outs) + extra:
        if type(a) is Var and a in invariant and a not in seen:
            seen.add(a)
            loop_consts.append(a)
    inv_res = [v for kind, v in res_kinds if kind == "inv"]
    wanted = loop_consts + [v for v in inv_res if v not in seen]
    outer = Program(const_in, fwd.const_vars, fwd.consts, hoisted, wanted)
    outer = dead_code_elimination(outer)
    values = dict(zip(wanted, eval_program(outer, list(args[:nc]))))

    loop_body = dead_code_elimination(Program(
        loop_consts + list(fwd.in_vars[nc:]), [], [], loop_eqns, list(primal_outs) + extra))
    outs = scan_p.bind(*[values[v] for v in loop_consts], *args[nc:], body=loop_body,
                       num_consts=len(loop_consts), num_carry=nk, length=length, reverse=reverse)
    outs = list(outs)
    xs, ys, stacked = list(args[nc + nk:]), outs[nk:n_outs], outs[n_outs:]
    res_values = []
    for kind, k in res_kinds:
        res_values.append(values[k] if kind == "inv" else xs[k] if kind == "x" else xs[k[0]]
                          if kind == "xview" else ys[k] if kind == "y" else None if kind == "remat"
                          else stacked[k])

    lin = _ScanLinearization()
    lin.bwd, lin.grad_known, lin.wrt, lin.ck, lin.cy = bwd, grad_known, wrt, ck, cy
    # the backward scan recomputes an "xview" residual from its x: (x's aval, eqns)
    lin.res_kinds = [(kind, (_strong(x_in[k[0]].aval), k[1]) if kind == "xview" else k if kind == "remat"
                      else None) for kind, k in res_kinds]
    lin.length, lin.reverse, lin.num_consts, lin.num_carry = length, reverse, nc, nk
    # the ys that recomputed residuals read, per step
    lin.ys_read = sorted({j for kind, k in res_kinds if kind == "remat"
                          for where, j in k[1].values() if where == "y"})
    return outs[:n_outs], (lin, res_values + [ys[j] for j in lin.ys_read])


def _scan_vjp(cts, *args, out, body, num_consts, num_carry, length, reverse, residuals=None):
    if residuals is None:   # called without the forward rule: run the forward scan again
        _, residuals = _scan_fwd(*args, body=body, num_consts=num_consts, num_carry=num_carry,
                                 length=length, reverse=reverse)
    lin, res_values = residuals
    n_res = len(lin.res_kinds)
    res_values, ys_values = res_values[:n_res], res_values[n_res:]
    nc, nk = num_consts, num_carry
    n_in = len(args)
    bwd, wrt, ck, cy = lin.bwd, lin.wrt, lin.ck, lin.cy
    grad_of = {i: not known for i, known in zip(wrt, lin.grad_known)}   # input -> has a gradient
    inv_pos = [r for r, (kind, _) in enumerate(lin.res_kinds) if kind == "inv"]
    step_pos = [r for r, (kind, _) in enumerate(lin.res_kinds) if kind not in ("inv", "remat")]
    remat = [(r, k) for r, (kind, k) in enumerate(lin.res_kinds) if kind == "remat"]
    views = {r: view for r, (kind, view) in enumerate(lin.res_kinds) if kind == "xview"}
    acc = [i for i in wrt if i < nc and grad_of[i]]           # consts whose cotangents are summed
    gx = [i for i in wrt if i >= nc + nk and grad_of[i]]       # xs with a cotangent
    res_avals = [v.aval for v in bwd.in_vars[:n_res]]
    ct_in_avals = [v.aval for v in bwd.in_vars[n_res:]]
    in_avals = body.in_avals

    def step(*a):
        it = iter(a)
        res = [None] * n_res
        for r in inv_pos:
            res[r] = next(it)
        ct_carry = [next(it) for _ in ck]
        sums = [next(it) for _ in acc]
        for r in step_pos:
            res[r] = next(it)
            for e in views[r][1] if r in views else ():   # recompute a view of an x
                res[r] = e.primitive.bind(res[r], **e.params)
        ct_y = [next(it) for _ in cy]
        ys_now = {j: next(it) for j in lin.ys_read}
        for r, (eqns, leaves) in remat:     # recompute a cheap residual from the others
            env = {v: res[k] if where == "res" else ys_now[k] for v, (where, k) in leaves.items()}
            for e in eqns:
                env[e.outputs[0]] = e.primitive.bind(
                    *[env[a] if type(a) is Var else a.value for a in e.inputs], **e.params)
            res[r] = env[e.outputs[0]]
        got = iter(eval_program(bwd, res + ct_carry + ct_y))
        grads = {i: next(got) for i in wrt if grad_of[i]}
        new_ct_carry = [grads[nc + k] if (nc + k) in grads else _zeros(_strong(in_avals[nc + k]))
                        for k in ck]
        new_sums = [add(s, grads[i]) for s, i in zip(sums, acc)]
        return new_ct_carry + new_sums + [grads[i] for i in gx]

    step_avals = ([res_avals[r] for r in inv_pos] + [_strong(in_avals[nc + k]) for k in ck]
                  + [_strong(in_avals[i]) for i in acc]
                  + [views[r][0] if r in views else res_avals[r] for r in step_pos]
                  + [ct_in_avals[len(ck) + m] for m in range(len(cy))]
                  + [_strong(v.aval) for v in ys_values_avals(body, nk, lin.ys_read)])
    step_p = trace_flat(step, step_avals)
    closed = Program(list(step_p.const_vars) + list(step_p.in_vars), [], [], step_p.eqns, step_p.out_atoms)

    ct_carry_init = [cts[k] for k in ck]
    sums_init = [_zeros(_strong(in_avals[i])) for i in acc]
    ct_ys = [cts[nk + j] for j in cy]
    outs = scan_p.bind(*step_p.consts, *[res_values[r] for r in inv_pos], *ct_carry_init, *sums_init,
                       *[res_values[r] for r in step_pos], *ct_ys, *ys_values, body=closed,
                       num_consts=len(step_p.consts) + len(inv_pos), num_carry=len(ck) + len(acc),
                       length=length, reverse=not reverse)
    result = [None] * n_in
    it = iter(outs)
    for k in ck:
        result[nc + k] = next(it)
    for i in acc:
        result[i] = next(it)
    for i in gx:
        result[i] = next(it)
    return tuple(result)


def ys_values_avals(body, nk, ys_read):
    """The per-step avals of the ys ``ys_read`` (outputs of ``body`` after its ``nk`` carries)."""
    return [body.out_atoms[nk + j] for j in ys_read]


vjp_forward_rules[scan_p] = _scan_fwd
vjp_rules[scan_p] = _scan_vjp


# ----------------------------------------------------------------------------- fori_loop
# With concrete bounds, a fori_loop is a scan of hi - lo steps over the
# indices lo, lo + 1, ... (an xs built with iota, so that the index is an x
# of the step: a residual that is never copied).


def _static_bound(b, what):
    if is_tracer(b):
        raise UnsupportedError(
            f"fori_loop: the bounds of fori_loop must be static (concrete Python ints) for "
            f"reverse-mode differentiation (grad, vjp), as in JAX, but its {what} bound is a traced "
            f"value {aval_of(b)}: the trip count must be known to save the values of every iteration "
            "for the backward pass. Pass the bounds as Python ints (under fg.jit, list that argument "
            "in static_argnums), or use fg.scan with a fixed length")
    return int(np.asarray(b))


def _fori_as_scan(lo, hi, args, body, num_consts):
    lo_i = _static_bound(lo, "lower")
    hi_i = _static_bound(hi, "upper")
    n = max(hi_i - lo_i, 0)
    nc = num_consts
    index = body.in_vars[nc]
    scan_body = Program(list(body.in_vars[:nc]) + list(body.in_vars[nc + 1:]) + [index], [], [],
                        body.eqns, body.out_atoms)
    idx = iota((n,), 0, index.aval.dtype)
    if lo_i:
        idx = add(idx, np.asarray(lo_i, index.aval.dtype))
    params = dict(body=scan_body, num_consts=nc, num_carry=len(args) - nc, length=n, reverse=False)
    return list(args) + [idx], params


def _fori_fwd(lo, hi, *args, body, num_consts):
    scan_args, params = _fori_as_scan(lo, hi, args, body, num_consts)
    outs, res = _scan_fwd(*scan_args, **params)
    return outs, (scan_args, params, res)


def _fori_vjp(cts, lo, hi, *args, out, body, num_consts, residuals=None):
    if residuals is None:
        _, residuals = _fori_fwd(lo, hi, *args, body=body, num_consts=num_consts)
    scan_args, params, res = residuals
    grads = _scan_vjp(list(cts), *scan_args, out=out, residuals=res, **params)
    return (None, None) + tuple(grads[:-1])


vjp_forward_rules[fori_loop_p] = _fori_fwd
vjp_rules[fori_loop_p] = _fori_vjp


# ----------------------------------------------------------------------------- while_loop (not differentiable in reverse mode)

def _while_error(location=None):
    return UnsupportedError(
        "while_loop: reverse-mode differentiation (grad, vjp) through while_loop is not supported, "
        "as in JAX: its trip count is only known at run time, so the values of its iterations "
        "cannot be saved for the backward pass. Use fg.fori_loop with static bounds or fg.scan "
        "with a fixed length (a static trip count) instead; forward mode (fg.jvp) through "
        "while_loop works", location=location)


def _while_fwd(*args, **params):
    raise _while_error()


def _while_vjp(*args, **params):
    raise _while_error()


vjp_forward_rules[while_loop_p] = _while_fwd
vjp_rules[while_loop_p] = _while_vjp
