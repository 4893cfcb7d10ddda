"""The vm backend's lowering rules: ``vm_lowering[prim] = rule(enc, eqn)``.

Each rule writes the instructions of one equation through the
:class:`~.encode.Encoder` ``enc``: ``enc.at(atom)`` is an operand's run,
``enc.new(var)`` allocates a result, ``enc.emit(...)`` appends a row,
``enc.move(...)`` a strided copy, ``enc.encode_body`` a loop body or branch.
Every primitive has a rule (tests/test_lowering_tables.py checks it); a
program the machine cannot hold (float16, uint64, complex values) runs on
another tier.
"""
from __future__ import annotations

import math

import numpy as np

from ...core.ir import Literal
from ...primitives.bitwise import shift_left_p, shift_right_logical_p
from ...primitives.control import fori_loop_p, scan_p, switch_p, while_loop_p
from ...primitives.elementwise import (abs_p, acos_p, add_p, and_p, asin_p, atan2_p, atan_p, ceil_p,
                                       convert_p, cos_p, cosh_p, div_p, eq_p, exp_p, expm1_p, floor_p,
                                       floordiv_p, ge_p, gt_p, integer_pow_p, isfinite_p, le_p, log1p_p,
                                       log_p, logistic_p, lt_p, max_p, min_p, mul_p, ne_p, neg_p, not_p,
                                       or_p, pow_p, rem_p, round_p, select_p, sign_p, sin_p, sinh_p,
                                       sqrt_p, stop_gradient_p, sub_p, tan_p, tanh_p, xor_p)
from ...primitives.indexing import scatter_add_p, take_p
from ...primitives.decompositions import (cholesky_p, eigh_p, lu_p, qr_p, svd_p, triangular_matmul_p,
                                          triangular_solve_p)
from ...primitives.linalg import matmul_p
from ...primitives.random import threefry2x32_p
from ...primitives.reduction import (argmax_p, argmin_p, reduce_max_p, reduce_min_p, reduce_prod_p,
                                     reduce_sum_p)
from ...primitives.shape import (broadcast_to_p, concatenate_p, iota_p, pad_add_p, pad_p, reshape_p,
                                 rev_p, slice_p, transpose_p)
from ...primitives.sort import argsort_p
from . import opcodes as m
from .encode import c_strides, flags_for, kind_of, unsigned64

__all__ = ["vm_lowering", "SIGNED_ONLY"]

vm_lowering: dict = {}    # Primitive -> rule(enc, eqn)


def _prod(shape) -> int:
    return math.prod(shape)


# ----------------------------------------------------------------------------- elementwise

def _elementwise(enc, eqn, op, sub, y=0, flags=0):
    out = eqn.outputs[0]
    shape = out.aval.shape
    scratch, offs = [], []
    for k, a in enumerate(eqn.inputs):
        off, one = enc.operand(a, shape, scratch)
        offs.append(off)
        if one and out.aval.size != 1:
            flags |= 1 << k
    st = enc.new(out)
    offs += [0] * (3 - len(offs))
    enc.emit(op, sub=sub, d=st.off, a=offs[0], b=offs[1], c=offs[2], n=out.aval.size,
             flags=flags | flags_for(out.aval.dtype), y=y)
    for t in scratch:
        enc.release(t)


def _unary(sub_f, sub_i=None, sub_bool=None):
    def rule(enc, eqn):
        dtype = eqn.inputs[0].aval.dtype
        if kind_of(dtype) == "F":
            _elementwise(enc, eqn, m.UNARY_F, sub_f)
        else:
            _elementwise(enc, eqn, m.UNARY_I, sub_bool if dtype == np.bool_ and sub_bool is not None else sub_i)
    return rule


for _p, _sub in ((exp_p, m.U_EXP), (log_p, m.U_LOG), (log1p_p, m.U_LOG1P), (expm1_p, m.U_EXPM1),
                 (sqrt_p, m.U_SQRT), (sin_p, m.U_SIN), (cos_p, m.U_COS), (tan_p, m.U_TAN),
                 (asin_p, m.U_ASIN), (acos_p, m.U_ACOS), (atan_p, m.U_ATAN), (sinh_p, m.U_SINH),
                 (cosh_p, m.U_COSH), (tanh_p, m.U_TANH), (logistic_p, m.U_LOGISTIC), (floor_p, m.U_FLOOR),
                 (ceil_p, m.U_CEIL), (round_p, m.U_ROUND)):
    vm_lowering[_p] = _unary(_sub)
vm_lowering[neg_p] = _unary(m.U_NEG, m.U_NEG)
vm_lowering[abs_p] = _unary(m.U_ABS, m.U_ABS)
vm_lowering[sign_p] = _unary(m.U_SIGN, m.U_SIGN)
vm_lowering[not_p] = _unary(None, m.U_NOT_INT, m.U_NOT_BOOL)


def _binary(sub):
    def rule(enc, eqn):
        dtype = eqn.inputs[0].aval.dtype
        if kind_of(dtype) == "F":
            _elementwise(enc, eqn, m.BINARY_F, sub)
        else:
            _elementwise(enc, eqn, m.BINARY_I, sub, y=dtype.itemsize * 8)
    return rule


for _p, _sub in ((add_p, m.B_ADD), (sub_p, m.B_SUB), (mul_p, m.B_MUL), (div_p, m.B_DIV), (pow_p, m.B_POW),
                 (max_p, m.B_MAX), (min_p, m.B_MIN), (atan2_p, m.B_ATAN2), (rem_p, m.B_REM),
                 (floordiv_p, m.B_FLOORDIV), (and_p, m.B_AND), (or_p, m.B_OR), (xor_p, m.B_XOR),
                 (shift_left_p, m.B_SHL), (shift_right_logical_p, m.B_SHR)):
    vm_lowering[_p] = _binary(_sub)


def _compare(sub):
    def rule(enc, eqn):
        op = m.COMPARE_F if kind_of(eqn.inputs[0].aval.dtype) == "F" else m.COMPARE_I
        _elementwise(enc, eqn, op, sub, flags=unsigned64(eqn.inputs[0]))
    return rule


for _p, _sub in ((lt_p, m.C_LT), (le_p, m.C_LE), (gt_p, m.C_GT), (ge_p, m.C_GE), (eq_p, m.C_EQ),
                 (ne_p, m.C_NE)):
    vm_lowering[_p] = _compare(_sub)


def _select(enc, eqn):
    op = m.SELECT_F if kind_of(eqn.outputs[0].aval.dtype) == "F" else m.SELECT_I
    _elementwise(enc, eqn, op, 0)


vm_lowering[select_p] = _select
vm_lowering[isfinite_p] = lambda enc, eqn: _elementwise(enc, eqn, m.FINITE, 0)


def _integer_pow(enc, eqn):
    op = m.IPOW_F if kind_of(eqn.inputs[0].aval.dtype) == "F" else m.IPOW_I
    _elementwise(enc, eqn, op, 0, y=eqn.params["y"])


vm_lowering[integer_pow_p] = _integer_pow


def _alias(enc, eqn):
    """The result names its operand's run: no instruction."""
    enc.bind(eqn.outputs[0], enc.at(eqn.inputs[0]))


vm_lowering[reshape_p] = _alias
vm_lowering[stop_gradient_p] = _alias


def _convert(enc, eqn):
    src, dst = eqn.inputs[0].aval.dtype, eqn.outputs[0].aval.dtype
    ks, kd = kind_of(src), kind_of(dst)
    exact = np.can_cast(src, dst, "safe") and dst != np.bool_
    if ks == kd and exact:     # widening within a heap: every value is already exact
        return _alias(enc, eqn)
    sub = {("F", "F"): m.CV_FF, ("F", "I"): m.CV_FI, ("I", "F"): m.CV_IF, ("I", "I"): m.CV_II}[ks, kd]
    _elementwise(enc, eqn, m.CONVERT, sub,
                 flags=(m.WRAP_BOOL << m.WRAP_SHIFT if dst == np.bool_ else 0) | unsigned64(eqn.inputs[0]))


vm_lowering[convert_p] = _convert


# ----------------------------------------------------------------------------- structure

def _transpose(enc, eqn):
    x, out = eqn.inputs[0], eqn.outputs[0]
    perm = eqn.params["permutation"]
    xs = c_strides(x.aval.shape)
    src, dst = enc.at(x), enc.new(out)
    enc.move(src.kind, m.M_SET, dst.off, c_strides(out.aval.shape), src.off, [xs[p] for p in perm],
             out.aval.shape)


def _broadcast_to(enc, eqn):
    x, out = eqn.inputs[0], eqn.outputs[0]
    if x.aval.size == out.aval.size:
        return _alias(enc, eqn)
    src = enc.at(x)
    enc.broadcast_move(src, x.aval.shape, enc.new(out), out.aval.shape)


def _slice(enc, eqn):
    x, out = eqn.inputs[0], eqn.outputs[0]
    p = eqn.params
    xs = c_strides(x.aval.shape)
    src, dst = enc.at(x), enc.new(out)
    base = src.off + sum(b * s for b, s in zip(p["starts"], xs))
    enc.move(src.kind, m.M_SET, dst.off, c_strides(out.aval.shape), base,
             [s * k for s, k in zip(xs, p["strides"])], out.aval.shape)


def _rev(enc, eqn):
    x, out = eqn.inputs[0], eqn.outputs[0]
    axes = eqn.params["axes"]
    shape = x.aval.shape
    xs = c_strides(shape)
    src, dst = enc.at(x), enc.new(out)
    base = src.off + sum((shape[k] - 1) * xs[k] for k in axes if shape[k])
    enc.move(src.kind, m.M_SET, dst.off, c_strides(shape), base,
             [-s if k in axes else s for k, s in enumerate(xs)], shape)


def _fill_zero(enc, st: "object", n):
    zero = enc.literal_zero(st.kind)
    enc.emit(m.FILL_F if st.kind == "F" else m.FILL_I, d=st.off, a=zero.off, n=n)


def _pad(enc, eqn):
    x, out = eqn.inputs[0], eqn.outputs[0]
    p = eqn.params
    src, dst = enc.at(x), enc.new(out)
    _fill_zero(enc, dst, out.aval.size)
    if x.aval.size == 0:
        return
    os_ = c_strides(out.aval.shape)
    base = dst.off + sum(lo * s for lo, s in zip(p["low"], os_))
    enc.move(src.kind, m.M_SET, base, [s * (i + 1) for s, i in zip(os_, p["interior"])], src.off,
             c_strides(x.aval.shape), x.aval.shape)


def _updated(enc, eqn, buf):
    """The run of ``eqn``'s result, which starts as a copy of ``buf``: ``buf``'s
    own run when this is its last use."""
    out = eqn.outputs[0]
    if enc.can_overwrite(buf, eqn):
        return enc.take_over(out, buf)
    st = enc.new(out)
    enc.copy(st, enc.at(buf), out.aval.size)
    return st


def _pad_add(enc, eqn):
    buf, piece = eqn.inputs
    p = eqn.params
    src = enc.at(piece)
    dst = _updated(enc, eqn, buf)
    os_ = c_strides(buf.aval.shape)
    base = dst.off + sum(lo * s for lo, s in zip(p["low"], os_))
    if not piece.aval.shape:         # one element at ``low``
        shape, d_str, s_str = (1,), (1,), (1,)
    else:
        shape, s_str = piece.aval.shape, c_strides(piece.aval.shape)
        d_str = [s * (i + 1) for s, i in zip(os_, p["interior"])]
    if piece.aval.size == 0:
        return
    enc.move(dst.kind, m.M_ADD, base, d_str, src.off, s_str, shape, flags=flags_for(buf.aval.dtype),
             whole=dst)


def _concatenate(enc, eqn):
    out = eqn.outputs[0]
    axis = eqn.params["axis"]
    dst = enc.new(out)
    os_ = c_strides(out.aval.shape)
    start = 0
    for x in eqn.inputs:
        if x.aval.size:
            src = enc.at(x)
            enc.move(dst.kind, m.M_SET, dst.off + start * os_[axis], os_, src.off, c_strides(x.aval.shape),
                     x.aval.shape)
        start += x.aval.shape[axis]


def _iota(enc, eqn):
    out = eqn.outputs[0]
    shape, dim = eqn.params["shape"], eqn.params["dimension"]
    dst = enc.new(out)
    x = enc.put_aux([_prod(shape[:dim]), shape[dim], _prod(shape[dim + 1:])])
    enc.emit(m.IOTA_F if dst.kind == "F" else m.IOTA_I, d=dst.off, x=x)


for _p, _rule in ((transpose_p, _transpose), (broadcast_to_p, _broadcast_to), (slice_p, _slice), (rev_p, _rev),
                  (pad_p, _pad), (pad_add_p, _pad_add), (concatenate_p, _concatenate), (iota_p, _iota)):
    vm_lowering[_p] = _rule


# ----------------------------------------------------------------------------- reductions

def _collapse(dims):
    """(extent, stride) pairs, extent-1 axes dropped and neighbours merged."""
    out = []
    for e, s in dims:
        if e == 1:
            continue
        if out and out[-1][1] == s * e:
            out[-1] = (out[-1][0] * e, s)
        else:
            out.append((e, s))
    return out


def _reduction(sub):
    def rule(enc, eqn):
        x, out = eqn.inputs[0], eqn.outputs[0]
        axes = set(eqn.params["axes"])
        shape = x.aval.shape
        xs = c_strides(shape)
        kept = _collapse([(shape[k], xs[k]) for k in range(len(shape)) if k not in axes])
        red = _collapse([(shape[k], xs[k]) for k in range(len(shape)) if k in axes])
        aux = enc.put_aux([len(kept)] + [e for e, _ in kept] + [s for _, s in kept]
                          + [len(red)] + [e for e, _ in red] + [s for _, s in red])
        src, dst = enc.at(x), enc.new(out)
        enc.emit(m.REDUCE_F if src.kind == "F" else m.REDUCE_I, sub=sub, d=dst.off, a=src.off,
                 n=out.aval.size, x=aux, flags=flags_for(out.aval.dtype))
    return rule


for _p, _sub in ((reduce_sum_p, m.R_SUM), (reduce_prod_p, m.R_PROD), (reduce_max_p, m.R_MAX),
                 (reduce_min_p, m.R_MIN)):
    vm_lowering[_p] = _reduction(_sub)


def _argreduction(sub):
    def rule(enc, eqn):
        x, out = eqn.inputs[0], eqn.outputs[0]
        axis = eqn.params["axis"]
        shape = x.aval.shape
        src, dst = enc.at(x), enc.new(out)
        aux = enc.put_aux([_prod(shape[:axis]), shape[axis], _prod(shape[axis + 1:])])
        enc.emit(m.ARGRED_F if src.kind == "F" else m.ARGRED_I, sub=sub, d=dst.off, a=src.off, x=aux)
    return rule


vm_lowering[argmax_p] = _argreduction(m.AR_MAX)
vm_lowering[argmin_p] = _argreduction(m.AR_MIN)

# orderings the machine reads as signed int64: uint64 operands are not supported there
SIGNED_ONLY = {reduce_max_p, reduce_min_p, argmax_p, argmin_p}


# ----------------------------------------------------------------------------- indexing, products

def _gather_aux(enc, shape, axis, k):
    return enc.put_aux([_prod(shape[:axis]), shape[axis], k, _prod(shape[axis + 1:])])


def _take(enc, eqn):
    x, idx = eqn.inputs
    src, ix = enc.at(x), enc.at(idx)
    dst = enc.new(eqn.outputs[0])
    aux = _gather_aux(enc, x.aval.shape, eqn.params["axis"], idx.aval.size)
    enc.emit(m.TAKE_F if src.kind == "F" else m.TAKE_I, d=dst.off, a=src.off, b=ix.off, x=aux)


def _scatter_add(enc, eqn):
    operand, idx, updates = eqn.inputs
    ix, upd = enc.at(idx), enc.at(updates)
    dst = _updated(enc, eqn, operand)
    aux = _gather_aux(enc, operand.aval.shape, eqn.params["axis"], idx.aval.size)
    enc.emit(m.SCATTER_F if dst.kind == "F" else m.SCATTER_I, d=dst.off, a=ix.off, b=upd.off, x=aux,
             n=operand.aval.size, flags=flags_for(operand.aval.dtype))


def _matmul(enc, eqn):
    a, b = eqn.inputs
    out = eqn.outputs[0]
    p = eqn.params
    ka = a.aval.shape[-2] if p["transpose_a"] else a.aval.shape[-1]
    aux = enc.put_aux([_prod(out.aval.shape[:-2]), out.aval.shape[-2], out.aval.shape[-1], ka,
                       int(p["transpose_a"]), int(p["transpose_b"])])
    sa, sb = enc.at(a), enc.at(b)
    dst = enc.new(out)
    enc.emit(m.MATMUL_F if dst.kind == "F" else m.MATMUL_I, d=dst.off, a=sa.off, b=sb.off, x=aux,
             n=out.aval.size, flags=flags_for(out.aval.dtype))


def _threefry(enc, eqn):
    out0, out1 = eqn.outputs
    shape = out0.aval.shape
    scratch, offs, strides = [], [], []
    for a in eqn.inputs:
        off, one = enc.operand(a, shape, scratch)
        offs.append(off)
        strides.append(0 if one else 1)
    d0, d1 = enc.new(out0), enc.new(out1)
    aux = enc.put_aux(offs + strides)
    enc.emit(m.THREEFRY, d=d0.off, a=d1.off, x=aux, n=out0.aval.size)
    for t in scratch:
        enc.release(t)


def _argsort(enc, eqn):
    x, out = eqn.inputs[0], eqn.outputs[0]
    src, dst = enc.at(x), enc.new(out)
    row = x.aval.shape[-1]
    if row == 0 or x.aval.size == 0:
        return
    enc.emit(m.ARGSORT_F if src.kind == "F" else m.ARGSORT_I, d=dst.off, a=src.off, b=x.aval.size // row,
             n=row)


def _batch(aval, core):
    return _prod(aval.shape[:-core])


def _linalg_rule(sub, sizes, flag_params=()):
    """A LAPACK instruction: ``aux`` holds the batch, ``sizes(eqn)``, the
    offsets of the operands and results, then the flags ``flag_params``."""
    def rule(enc, eqn):
        srcs = [enc.at(a).off for a in eqn.inputs]
        dsts = [enc.new(v).off for v in eqn.outputs]
        a = eqn.inputs[0].aval
        aux = enc.put_aux([_batch(a, 2)] + sizes(eqn) + srcs + dsts +
                          [int(bool(eqn.params[k])) for k in flag_params])
        enc.emit(m.LINALG, sub=sub, x=aux, flags=flags_for(a.dtype))
    return rule


def _square(eqn):
    return [eqn.inputs[0].aval.shape[-1]]


vm_lowering[cholesky_p] = _linalg_rule(m.L_CHOLESKY, _square)
vm_lowering[triangular_solve_p] = _linalg_rule(
    m.L_TRSM, lambda e: list(e.inputs[1].aval.shape[-2:]), ("lower", "transpose_a", "unit_diagonal"))
vm_lowering[triangular_matmul_p] = _linalg_rule(
    m.L_TRMM, lambda e: list(e.inputs[1].aval.shape[-2:]), ("lower", "transpose_a"))
vm_lowering[lu_p] = _linalg_rule(m.L_LU, _square)
vm_lowering[eigh_p] = _linalg_rule(m.L_EIGH, _square)


def _svd(enc, eqn):
    a = eqn.inputs[0]
    mm, nn = a.aval.shape[-2:]
    uv, full = eqn.params["compute_uv"], eqn.params["full_matrices"]
    ucols, vrows = (mm, nn) if full else (min(mm, nn), min(mm, nn))
    outs = [enc.new(v).off for v in eqn.outputs]
    u, s, vt = outs if uv else (0, outs[0], 0)
    aux = enc.put_aux([_batch(a.aval, 2), mm, nn, ucols, vrows, enc.at(a).off, u, s, vt, int(full), int(uv)])
    enc.emit(m.LINALG, sub=m.L_SVD, x=aux, flags=flags_for(a.aval.dtype))


vm_lowering[svd_p] = _svd
vm_lowering[qr_p] = _linalg_rule(
    m.L_QR, lambda e: list(e.inputs[0].aval.shape[-2:]) + [e.outputs[0].aval.shape[-1]])

vm_lowering[take_p] = _take
vm_lowering[scatter_add_p] = _scatter_add
vm_lowering[matmul_p] = _matmul
vm_lowering[threefry2x32_p] = _threefry
vm_lowering[argsort_p] = _argsort
SIGNED_ONLY.add(argsort_p)


# ----------------------------------------------------------------------------- control flow
# Loops and branches run inside the machine: a body's instructions are
# written once, between jumps; its inputs name the loop's runs (carries,
# the counter, the operands), and its outputs are copied into the carries
# at the end of each iteration.

def _carries(enc, eqn, inits, outs):
    runs = [enc.new(v) for v in outs]
    for st, init in zip(runs, inits):
        enc.copy(st, enc.at(init), init.aval.size)
    return runs


def _fori_loop(enc, eqn):
    lo, hi, *args = eqn.inputs
    nc = eqn.params["num_consts"]
    body = eqn.params["body"]
    consts, inits = args[:nc], args[nc:]
    carries = _carries(enc, eqn, inits, eqn.outputs)
    ctr = enc.temp("I", 1)
    enc.copy(ctr, enc.at(lo), 1)
    hi_st = enc.at(hi)
    top = enc.label()
    exit_jump = enc.emit(m.JUMP_IF_GE, a=ctr.off, b=hi_st.off)
    enc.encode_body(body, [enc.at(c) for c in consts] + [ctr] + carries)
    enc.write_outputs(body.out_atoms, carries, [v.aval.size for v in eqn.outputs])
    enc.emit(m.INC, d=ctr.off)
    enc.emit(m.JUMP, x=top)
    enc.patch(exit_jump, enc.label())
    enc.release(ctr)


def _while_loop(enc, eqn):
    p = eqn.params
    cn, bn = p["cond_nconsts"], p["body_nconsts"]
    args = eqn.inputs
    carries = _carries(enc, eqn, args[cn + bn:], eqn.outputs)
    top = enc.label()
    enc.encode_body(p["cond"], [enc.at(c) for c in args[:cn]] + carries)
    pred = enc.at(p["cond"].out_atoms[0])
    exit_jump = enc.emit(m.JUMP_IF_FALSE, a=pred.off)
    enc.encode_body(p["body"], [enc.at(c) for c in args[cn:cn + bn]] + carries)
    enc.write_outputs(p["body"].out_atoms, carries, [v.aval.size for v in eqn.outputs])
    enc.emit(m.JUMP, x=top)
    enc.patch(exit_jump, enc.label())


def _scan(enc, eqn):
    p = eqn.params
    nc, ncar, length, body = p["num_consts"], p["num_carry"], p["length"], p["body"]
    args = eqn.inputs
    consts, inits, xs = args[:nc], args[nc:nc + ncar], args[nc + ncar:]
    carries = _carries(enc, eqn, inits, eqn.outputs[:ncar])
    ys = [enc.new(v) for v in eqn.outputs[ncar:]]
    step, row = enc.temp("I", 1), enc.temp("I", 1)
    length_st = enc.literal(Literal(np.int64(length)))
    enc.copy(step, enc.literal_zero("I"), 1)
    top = enc.label()
    exit_jump = enc.emit(m.JUMP_IF_GE, a=step.off, b=length_st.off)
    enc.emit(m.SCAN_INDEX, sub=int(bool(p["reverse"])), d=row.off, a=step.off, n=length)
    slices = []
    for x in xs:
        size = math.prod(x.aval.shape[1:])
        st = enc.temp(kind_of(x.aval.dtype), size)
        enc.emit(m.LOAD_ROW_F if st.kind == "F" else m.LOAD_ROW_I, d=st.off, a=enc.at(x).off, b=row.off, n=size)
        slices.append(st)
    enc.encode_body(body, [enc.at(c) for c in consts] + carries + slices)
    for st, atom, v in zip(ys, body.out_atoms[ncar:], eqn.outputs[ncar:]):
        size = math.prod(v.aval.shape[1:])
        if size:   # rows first: a row may read a carry that is about to change
            enc.emit(m.STORE_ROW_F if st.kind == "F" else m.STORE_ROW_I, d=st.off, a=enc.at(atom).off,
                     b=row.off, n=size)
    enc.write_outputs(body.out_atoms[:ncar], carries, [v.aval.size for v in eqn.outputs[:ncar]])
    enc.emit(m.INC, d=step.off)
    enc.emit(m.JUMP, x=top)
    enc.patch(exit_jump, enc.label())
    for st in [step, row] + slices:
        enc.release(st)


def _switch(enc, eqn):
    index, *operands = eqn.inputs
    branches = eqn.params["branches"]
    outs = [enc.new(v) for v in eqn.outputs]
    sizes = [v.aval.size for v in eqn.outputs]
    k_st, hit = enc.temp("I", 1), enc.temp("I", 1)
    enc.emit(m.CLAMP, d=k_st.off, a=enc.at(index).off, n=len(branches))
    done = []
    for k, branch in enumerate(branches):
        skip = None
        if k < len(branches) - 1:
            k_lit = enc.literal(Literal(np.int64(k)))
            enc.emit(m.COMPARE_I, sub=m.C_EQ, d=hit.off, a=k_st.off, b=k_lit.off, n=1)
            skip = enc.emit(m.JUMP_IF_FALSE, a=hit.off)
        enc.encode_body(branch, [enc.at(o) for o in operands])
        enc.write_outputs(branch.out_atoms, outs, sizes)
        if k < len(branches) - 1:
            done.append(enc.emit(m.JUMP))
            enc.patch(skip, enc.label())
    for row in done:
        enc.patch(row, enc.label())
    enc.release(k_st)
    enc.release(hit)


vm_lowering[fori_loop_p] = _fori_loop
vm_lowering[while_loop_p] = _while_loop
vm_lowering[scan_p] = _scan
vm_lowering[switch_p] = _switch
