"""JVP rules of the control-flow primitives (:mod:`funcgrad.primitives.control`),
registered in :data:`funcgrad.transforms.jvp.jvp_rules`.

The JVP of a loop is a loop over ``(primal, tangent)`` pairs: its body is the
JVP of the original body, traced into a closed Program and bound with the same
primitive, so that it compiles with the backends, nests, and can be
transformed again.

Which carries have a tangent is a fixed point, as in JAX: a carry whose
tangent is zero at entry has a nonzero one after an iteration if the body
mixes a differentiated value into it (``b = b + a * x``). The body's JVP is
traced with the carries known to have tangents, and retraced with more until
the set stops growing; carries in the set get zero tangents instantiated.
Integer and boolean carries never have tangents.

``switch``: every branch's JVP is traced, with tangents for the union of the
outputs any branch gives one (zeros instantiated in the others), and the
branches are bound as one ``switch``.
"""
from __future__ import annotations

from ...core.evaluate import eval_program
from ...core.ir import Program, ShapedArray
from ...core.trace import aval_of, trace_flat
from ...primitives.control import close_branches, fori_loop_p, scan_p, switch_p, while_loop_p
from ...primitives.elementwise import convert_element_type
from . import instantiate, jvp_program, jvp_rules

__all__ = []


def _differentiable(aval) -> bool:
    return aval.dtype.kind == "f"


def _tangent_aval(aval) -> ShapedArray:
    return ShapedArray(aval.shape, aval.dtype)


def _nonzero(tangents, avals):
    """Which positions have a (nonzero) tangent."""
    return [t is not None and _differentiable(a) for t, a in zip(tangents, avals)]


def _as_tangent(t, primal):
    """A tangent with the primal's dtype (zeros for a symbolic zero)."""
    t = instantiate(t, primal)
    want = aval_of(primal).dtype
    return t if aval_of(t).dtype == want else convert_element_type(t, want)


def _select(xs, mask):
    return [x for x, m in zip(xs, mask) if m]


def _trace_closed(fun, in_avals):
    """``fun`` traced into a closed Program: the constants it captured become
    leading inputs. Returns ``(program, consts)``."""
    p = trace_flat(fun, in_avals)
    return Program(list(p.const_vars) + list(p.in_vars), [], [], p.eqns, p.out_atoms), list(p.consts)


def _fixed_point(trace_body, nz_init, limit):
    """Retrace ``trace_body(nz) -> (traced, out_nz)`` until the carries with
    tangents (``nz``) contain those the body gives tangents to."""
    nz = list(nz_init)
    for _ in range(limit + 2):
        traced, out_nz = trace_body(nz)
        grown = [a or b for a, b in zip(nz, out_nz)]
        if grown == nz:
            return traced, nz
        nz = grown
    raise AssertionError("jvp: the carries with tangents did not settle")  # pragma: no cover


# ----------------------------------------------------------------------------- fori_loop

def _fori_jvp(primals, tangents, *, body, num_consts):
    lo, hi = primals[:2]
    consts, carry = list(primals[2:2 + num_consts]), list(primals[2 + num_consts:])
    c_tans, x_tans = list(tangents[2:2 + num_consts]), list(tangents[2 + num_consts:])
    c_avals = body.in_avals[:num_consts]
    i_aval = body.in_avals[num_consts]
    x_avals = body.in_avals[num_consts + 1:]
    c_nz = _nonzero(c_tans, c_avals)
    x_diff = [_differentiable(a) for a in x_avals]
    nc, nx = len(consts), len(carry)

    def trace_body(x_nz):
        box = {}
        n_ct = sum(c_nz)

        def jvp_body(*args):
            cs, cts = list(args[:nc]), list(args[nc:nc + n_ct])
            i = args[nc + n_ct]
            xs = list(args[nc + n_ct + 1:nc + n_ct + 1 + nx])
            xts = list(args[nc + n_ct + 1 + nx:])
            it_c, it_x = iter(cts), iter(xts)
            tans = ([next(it_c) if m else None for m in c_nz] + [None]
                    + [next(it_x) if m else None for m in x_nz])
            outs, out_tans = jvp_program(body, cs + [i] + xs, tans)
            box["nz"] = [t is not None and d for t, d in zip(out_tans, x_diff)]
            return list(outs) + [_as_tangent(t, o) for t, o, m in zip(out_tans, outs, x_nz) if m]

        in_avals = (list(c_avals) + [_tangent_aval(a) for a in _select(c_avals, c_nz)] + [i_aval]
                    + list(x_avals) + [_tangent_aval(a) for a in _select(x_avals, x_nz)])
        return _trace_closed(jvp_body, in_avals), box["nz"]

    x_nz0 = [n and d for n, d in zip(_nonzero(x_tans, x_avals), x_diff)]
    (new_body, extra), x_nz = _fixed_point(trace_body, x_nz0, nx)
    ct_vals = [_as_tangent(t, c) for t, c, m in zip(c_tans, consts, c_nz) if m]
    xt_vals = [_as_tangent(t, x) for t, x, m in zip(x_tans, carry, x_nz) if m]
    outs = fori_loop_p.bind(lo, hi, *extra, *consts, *ct_vals, *carry, *xt_vals, body=new_body,
                            num_consts=len(extra) + nc + len(ct_vals))
    primal_out, tan_out = list(outs[:nx]), iter(outs[nx:])
    return primal_out, [next(tan_out) if m else None for m in x_nz]


jvp_rules[fori_loop_p] = _fori_jvp


# ----------------------------------------------------------------------------- while_loop

def _while_jvp(primals, tangents, *, cond, body, cond_nconsts, body_nconsts):
    cc = list(primals[:cond_nconsts])
    bc = list(primals[cond_nconsts:cond_nconsts + body_nconsts])
    carry = list(primals[cond_nconsts + body_nconsts:])
    bc_tans = list(tangents[cond_nconsts:cond_nconsts + body_nconsts])
    x_tans = list(tangents[cond_nconsts + body_nconsts:])
    bc_avals = body.in_avals[:body_nconsts]
    x_avals = body.in_avals[body_nconsts:]
    bc_nz = _nonzero(bc_tans, bc_avals)
    x_diff = [_differentiable(a) for a in x_avals]
    nb, nx = len(bc), len(carry)

    def trace_body(x_nz):
        box = {}
        n_bt = sum(bc_nz)

        def jvp_body(*args):
            cs, cts = list(args[:nb]), list(args[nb:nb + n_bt])
            xs, xts = list(args[nb + n_bt:nb + n_bt + nx]), list(args[nb + n_bt + nx:])
            it_c, it_x = iter(cts), iter(xts)
            tans = [next(it_c) if m else None for m in bc_nz] + [next(it_x) if m else None for m in x_nz]
            outs, out_tans = jvp_program(body, cs + xs, tans)
            box["nz"] = [t is not None and d for t, d in zip(out_tans, x_diff)]
            return list(outs) + [_as_tangent(t, o) for t, o, m in zip(out_tans, outs, x_nz) if m]

        in_avals = (list(bc_avals) + [_tangent_aval(a) for a in _select(bc_avals, bc_nz)]
                    + list(x_avals) + [_tangent_aval(a) for a in _select(x_avals, x_nz)])
        return _trace_closed(jvp_body, in_avals), box["nz"]

    x_nz0 = [n and d for n, d in zip(_nonzero(x_tans, x_avals), x_diff)]
    (new_body, b_extra), x_nz = _fixed_point(trace_body, x_nz0, nx)

    def new_cond_fun(*args):       # the cond sees the primal carries only
        return eval_program(cond, list(args[:cond_nconsts + nx]))

    cond_avals = list(cond.in_avals) + [_tangent_aval(a) for a in _select(x_avals, x_nz)]
    new_cond, c_extra = _trace_closed(new_cond_fun, cond_avals)
    bc_tvals = [_as_tangent(t, c) for t, c, m in zip(bc_tans, bc, bc_nz) if m]
    xt_vals = [_as_tangent(t, x) for t, x, m in zip(x_tans, carry, x_nz) if m]
    outs = while_loop_p.bind(*c_extra, *cc, *b_extra, *bc, *bc_tvals, *carry, *xt_vals,
                             cond=new_cond, body=new_body, cond_nconsts=len(c_extra) + len(cc),
                             body_nconsts=len(b_extra) + nb + len(bc_tvals))
    primal_out, tan_out = list(outs[:nx]), iter(outs[nx:])
    return primal_out, [next(tan_out) if m else None for m in x_nz]


jvp_rules[while_loop_p] = _while_jvp


# ----------------------------------------------------------------------------- scan

def _scan_jvp(primals, tangents, *, body, num_consts, num_carry, length, reverse):
    nc, nk = num_consts, num_carry
    consts = list(primals[:nc])
    carry = list(primals[nc:nc + nk])
    xs = list(primals[nc + nk:])
    c_tans, k_tans, x_tans = (list(tangents[:nc]), list(tangents[nc:nc + nk]),
                              list(tangents[nc + nk:]))
    c_avals = body.in_avals[:nc]
    k_avals = body.in_avals[nc:nc + nk]
    x_avals = body.in_avals[nc + nk:]
    y_avals = body.out_avals[nk:]
    nx, ny = len(xs), len(y_avals)
    c_nz = _nonzero(c_tans, c_avals)
    x_nz = _nonzero(x_tans, x_avals)
    k_diff = [_differentiable(a) for a in k_avals]
    y_diff = [_differentiable(a) for a in y_avals]
    n_ct, n_xt = sum(c_nz), sum(x_nz)

    def trace_body(k_nz):
        box = {}
        n_kt = sum(k_nz)

        def jvp_body(*args):
            args = list(args)
            cs, args = args[:nc], args[nc:]
            cts, args = args[:n_ct], args[n_ct:]
            ks, args = args[:nk], args[nk:]
            kts, args = args[:n_kt], args[n_kt:]
            x, xts = args[:nx], args[nx:]
            it_c, it_k, it_x = iter(cts), iter(kts), iter(xts)
            tans = ([next(it_c) if m else None for m in c_nz] + [next(it_k) if m else None for m in k_nz]
                    + [next(it_x) if m else None for m in x_nz])
            outs, out_tans = jvp_program(body, cs + ks + x, tans)
            k_out, y_out = list(outs[:nk]), list(outs[nk:])
            kt_out, yt_out = out_tans[:nk], out_tans[nk:]
            box["nz"] = [t is not None and d for t, d in zip(kt_out, k_diff)]
            y_nz = [t is not None and d for t, d in zip(yt_out, y_diff)]
            box["y_nz"] = y_nz
            return (k_out + [_as_tangent(t, o) for t, o, m in zip(kt_out, k_out, k_nz) if m]
                    + y_out + [_as_tangent(t, o) for t, o, m in zip(yt_out, y_out, y_nz) if m])

        in_avals = (list(c_avals) + [_tangent_aval(a) for a in _select(c_avals, c_nz)]
                    + list(k_avals) + [_tangent_aval(a) for a in _select(k_avals, k_nz)]
                    + list(x_avals) + [_tangent_aval(a) for a in _select(x_avals, x_nz)])
        traced = _trace_closed(jvp_body, in_avals)
        return (traced, box["y_nz"]), box["nz"]

    k_nz0 = [n and d for n, d in zip(_nonzero(k_tans, k_avals), k_diff)]
    ((new_body, extra), y_nz), k_nz = _fixed_point(trace_body, k_nz0, nk)
    n_kt = sum(k_nz)
    ct_vals = [_as_tangent(t, c) for t, c, m in zip(c_tans, consts, c_nz) if m]
    kt_vals = [_as_tangent(t, k) for t, k, m in zip(k_tans, carry, k_nz) if m]
    xt_vals = [_as_tangent(t, x) for t, x, m in zip(x_tans, xs, x_nz) if m]
    outs = scan_p.bind(*extra, *consts, *ct_vals, *carry, *kt_vals, *xs, *xt_vals, body=new_body,
                       num_consts=len(extra) + nc + n_ct, num_carry=nk + n_kt, length=length,
                       reverse=reverse)
    outs = list(outs)
    k_out, outs = outs[:nk], outs[nk:]
    kt_out, outs = iter(outs[:n_kt]), outs[n_kt:]
    y_out, yt_out = outs[:ny], iter(outs[ny:])
    primal_out = k_out + y_out
    tan_out = ([next(kt_out) if m else None for m in k_nz] + [next(yt_out) if m else None for m in y_nz])
    return primal_out, tan_out


jvp_rules[scan_p] = _scan_jvp


# ----------------------------------------------------------------------------- switch

def _switch_jvp(primals, tangents, *, branches):
    index, ops = primals[0], list(primals[1:])
    o_tans = list(tangents[1:])
    o_avals = [aval_of(o) for o in ops]
    o_nz = _nonzero(o_tans, o_avals)
    out_avals = branches[0].out_avals
    out_diff = [_differentiable(a) for a in out_avals]
    n, n_t = len(ops), sum(o_nz)
    in_avals = o_avals + [_tangent_aval(a) for a in _select(o_avals, o_nz)]

    def trace_branch(branch, want):
        """``want``: the outputs whose tangent to return (None: those the branch gives)."""
        box = {}

        def jvp_branch(*args):
            xs, ts = list(args[:n]), iter(args[n:])
            tans = [next(ts) if m else None for m in o_nz]
            outs, out_tans = jvp_program(branch, xs, tans)
            nz = [t is not None and d for t, d in zip(out_tans, out_diff)]
            box["nz"] = nz
            mask = nz if want is None else want
            return list(outs) + [_as_tangent(t, o) for t, o, m in zip(out_tans, outs, mask) if m]

        return trace_flat(jvp_branch, in_avals), box["nz"]

    first = [trace_branch(b, None) for b in branches]
    want = [any(nz[k] for _, nz in first) for k in range(len(out_avals))]
    programs = [p if nz == want else trace_branch(b, want)[0]
                for b, (p, nz) in zip(branches, first)]
    closed, consts = close_branches(programs)
    t_vals = [_as_tangent(t, o) for t, o, m in zip(o_tans, ops, o_nz) if m]
    outs = switch_p.bind(index, *consts, *ops, *t_vals, branches=tuple(closed))
    n_out = len(out_avals)
    primal_out, tan_out = list(outs[:n_out]), iter(outs[n_out:])
    return primal_out, [next(tan_out) if m else None for m in want]


jvp_rules[switch_p] = _switch_jvp
