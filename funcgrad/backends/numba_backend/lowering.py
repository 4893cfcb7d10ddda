"""The Numba backend's lowering rules: tables keyed by the Primitive object.

A primitive the backend compiles has its rule in exactly one of three tables
(as in Autodidax, ``numba_lowering[exp_p] = ...``); adding a primitive's
lowering is one entry in one of them:

``scalar_lowering[prim] = rule(eqn, *operands) -> str``
    Elementwise primitives: the Python expression of one output element,
    given the expressions of the operands' elements at the current loop
    indices. Fastmath variants and dtype-dependent choices live in the rule.
    These primitives fuse into loop nests (the plan of ``funcgrad.passes.fusion``).
``reduction_lowering[prim] = Reduction(identity, update, widen_float32)``
    Reductions over static axes. They join a fused loop over their operand's
    shape as accumulations into their (small) output.
``emit_lowering[prim] = rule(gen, eqn) -> None``
    Everything else (structural, indexing, matmul, random, sort, control
    flow): writes statements through the :class:`~.codegen.CodeGenerator`
    ``gen`` (``gen.w`` the writer, ``gen.arr/read/scalar_of/name`` to read
    values, ``gen.alloc`` to allocate, ``gen.bind/carry_locals/...`` for bodies).

``NOT_LOWERED`` names the primitives deliberately without a Numba lowering,
each with its reason; :func:`unsupported` reports them (and any primitive in
no table), and such programs run on the interpreter.
"""
from __future__ import annotations

import re

from dataclasses import dataclass
from functools import partial
from typing import Callable

import numpy as np

from ...core.ir import Program, Var
from ...primitives.bitwise import shift_left_p, shift_right_logical_p
from ...primitives.calls import CALL_BODY
from ...core.ir import subprograms
from ...primitives.control import fori_loop_p, scan_p, switch_p, while_loop_p
from ...primitives.elementwise import (abs_p, acos_p, add_p, and_p, asin_p, atan2_p, atan_p, ceil_p,
                                       convert_p, cos_p, cosh_p, div_p, eq_p, exp_p, expm1_p, floor_p,
                                       floordiv_p, ge_p, gt_p, integer_pow_p, isfinite_p, le_p, log1p_p,
                                       log_p, logistic_p, lt_p, max_p, min_p, mul_p, ne_p, neg_p, not_p,
                                       or_p, pow_p, rem_p, round_p, select_p, sign_p, sin_p, sinh_p,
                                       sqrt_p, stop_gradient_p, sub_p, tan_p, tanh_p, xor_p)
from ...primitives.indexing import scatter_add_p, take_p
from .lapack import HAVE_LAPACK
from ...primitives.decompositions import (DECOMPOSITIONS, cholesky_p, eigh_p, lu_p, qr_p, svd_p,
                                          triangular_matmul_p, triangular_solve_p)
from ...primitives.linalg import matmul_p
from ...primitives.random import threefry2x32_p
from ...primitives.reduction import (argmax_p, argmin_p, reduce_max_p, reduce_min_p, reduce_prod_p,
                                     reduce_sum_p)
from ...primitives.shape import (broadcast_to_p, concatenate_p, iota_p, pad_add_p, pad_p, reshape_p,
                                 rev_p, slice_p, transpose_p)
from ...primitives.sort import argsort_p

# The helper functions the rules below may call from generated code, by the
# module that defines them: the generated module imports exactly these. A rule
# that needs a new helper adds its name here, beside the rule.
RUNTIME_HELPERS = {
    "funcgrad.backends.numba_backend.blas": ("gemm_f32", "gemm_f64", "gemm_loops"),
    "funcgrad.backends.numba_backend.lapack": ("lapack_cholesky", "lapack_triangular_solve",
                                               "lapack_triangular_matmul", "lapack_lu", "lapack_eigh", "lapack_svd",
                                               "lapack_qr"),
    "funcgrad.backends.numba_backend.scalar": ("fmax", "fmin", "sign", "logistic", "rint", "remainder_float",
                                               "remainder_int", "floordiv_float", "floordiv_int"),
    "funcgrad.backends.numba_backend.fastmath": ("exp_f32", "exp_f64", "expm1_f32", "expm1_f64", "log_f32",
                                                 "log_f64", "log1p_f32", "log1p_f64", "tanh_f32", "tanh_f64",
                                                 "logistic_f32", "logistic_f64"),
}


def runtime_imports(body: str) -> str:
    """The import lines of the ``RUNTIME_HELPERS`` that the generated ``body``
    names (importing the LAPACK helpers compiles their entry points)."""
    lines = []
    for module, names in RUNTIME_HELPERS.items():
        used = [name for name in names if re.search(rf"\b{name}\b", body)]
        if used:
            lines.append(f"from {module} import ({', '.join(used)})\n")
    return "".join(lines)


__all__ = ["scalar_lowering", "reduction_lowering", "emit_lowering", "Reduction", "NOT_LOWERED", "RUNTIME_HELPERS",
           "uses_loop_index", "views_operand", "updates_operand", "unsupported", "np_type", "ishape", "shape_src",
           "is_scalar", "zero_index"]

scalar_lowering: dict = {}      # Primitive -> rule(eqn, *operand_exprs) -> str
reduction_lowering: dict = {}   # Primitive -> Reduction
emit_lowering: dict = {}        # Primitive -> rule(gen, eqn)

# Primitives without a Numba lowering, and why. A primitive listed here must be
# in no table; tests/test_lowering_tables.py checks that every registered
# primitive is in exactly one table or here.
NOT_LOWERED: dict = {
    p: "a call: funcgrad.passes.inline_calls replaces it by its program's equations before code "
       "generation (compile_program)" for p in CALL_BODY}
if not HAVE_LAPACK:   # pragma: no cover - NumPy built against a BLAS without LAPACKE
    NOT_LOWERED.update({p: "no LAPACKE in NumPy's OpenBLAS: runs on the interpreter" for p in DECOMPOSITIONS})


def unsupported(program: Program) -> set:
    """Names of primitives in ``program`` (bodies included) this backend cannot compile."""
    names = set()
    for e in program.eqns:
        p = e.primitive
        if p not in scalar_lowering and p not in reduction_lowering and p not in emit_lowering:
            names.add(p.name)
        for sub in subprograms(e):
            names |= unsupported(sub)
    return names


# ----------------------------------------------------------------------------- source helpers

_NP_TYPES = {"float32": "np.float32", "float64": "np.float64", "float16": "np.float16",
             "int8": "np.int8", "int16": "np.int16", "int32": "np.int32", "int64": "np.int64",
             "uint8": "np.uint8", "uint16": "np.uint16", "uint32": "np.uint32", "uint64": "np.uint64",
             "bool": "np.bool_"}


def np_type(dtype) -> str:
    return _NP_TYPES[np.dtype(dtype).name]


def is_scalar(aval) -> bool:
    """Whether a value of ``aval`` has one element (0-d, or shape (1,), (1, 1), ...):
    the code generator holds such values in scalar locals (``gen.held``), not arrays."""
    return all(d == 1 for d in aval.shape)


def zero_index(aval) -> str:
    """The index of a one-element array's element: ``0`` or ``0, 0``, ..."""
    return ", ".join("0" for _ in ishape(aval))


def ishape(aval) -> tuple:
    """Internal shape: 0-d values are held as shape (1,)."""
    return aval.shape if aval.shape else (1,)


def shape_src(shape) -> str:
    return "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"


def _loop_index(shape) -> str:
    return ", ".join(f"i{d}" for d in range(len(shape)))


# ----------------------------------------------------------------------------- elementwise

def _fmt(template: str):
    """A rule that fills ``template`` with the operands: ``_fmt("np.exp({0})")``."""
    return lambda eqn, *args: template.format(*args)


def _in_dtype(eqn) -> np.dtype:
    return eqn.inputs[0].aval.dtype


def _out_dtype(eqn) -> np.dtype:
    return eqn.outputs[0].aval.dtype


_FAST_SUFFIX = {"float32": "f32", "float64": "f64"}


def _fastmath(fast: str, fallback: str):
    """fastmath.py's branch-free ``<fast>_f32/_f64`` for float32/float64 operands
    (LLVM vectorizes them, <= 2 ulp; libm's scalar calls do not vectorize),
    ``fallback`` for other dtypes."""
    def rule(eqn, a):
        sfx = _FAST_SUFFIX.get(_in_dtype(eqn).name)
        return f"{fast}_{sfx}({a})" if sfx else fallback.format(a)
    return rule


def _keep_float(rule):
    """Operands and literals already have the output's dtype, so Numba keeps it;
    ``**`` and ``sign`` (scalar.sign adds an integer 1) can widen float32 to
    float64: cast their result back."""
    def wrapped(eqn, *args):
        expr = rule(eqn, *args)
        dt = _out_dtype(eqn)
        return f"{np_type(dt)}({expr})" if dt.kind == "f" else expr
    return wrapped


def _by_kind(fn: str):
    """scalar.py's ``<fn>_float`` or ``<fn>_int`` by the operands' kind."""
    return lambda eqn, a, b: f"{fn}_{'float' if _in_dtype(eqn).kind == 'f' else 'int'}({a}, {b})"


def _shift(op: str):
    # Numba computes uint32 arithmetic in 64 bits: cast the operand and the
    # result back; shifts by the width or more give 0 (LLVM leaves them undefined)
    def rule(eqn, a, b):
        t = np_type(_out_dtype(eqn))
        return f"({t}({t}({a}) {op} {b}) if {b} < {t}({_in_dtype(eqn).itemsize * 8}) else {t}(0))"
    return rule


def _not(eqn, a):
    return f"not {a}" if _in_dtype(eqn) == bool else f"~{a}"


def _convert(eqn, a):
    out_dt = _out_dtype(eqn)
    return f"{a} != 0" if out_dt == bool else f"{np_type(out_dt)}({a})"


def _integer_pow(eqn, a):
    n, t = eqn.params["y"], np_type(_out_dtype(eqn))
    if n == 0:
        return f"{t}(1)"
    base = " * ".join([a] * abs(n)) if abs(n) <= 4 else f"{a} ** {abs(n)}"
    return f"{t}(1) / ({base})" if n < 0 else base


def _iota(eqn):
    return f"{np_type(_out_dtype(eqn))}(i{eqn.params['dimension']})"


def _identity(eqn, a):
    return a


scalar_lowering.update({
    neg_p: _fmt("-{0}"),
    exp_p: _fastmath("exp", "np.exp({0})"),
    log_p: _fastmath("log", "np.log({0})"),
    log1p_p: _fastmath("log1p", "np.log1p({0})"),
    expm1_p: _fastmath("expm1", "np.expm1({0})"),
    sqrt_p: _fmt("np.sqrt({0})"),
    sin_p: _fmt("np.sin({0})"),
    cos_p: _fmt("np.cos({0})"),
    tan_p: _fmt("np.tan({0})"),
    asin_p: _fmt("np.arcsin({0})"),
    acos_p: _fmt("np.arccos({0})"),
    atan_p: _fmt("np.arctan({0})"),
    sinh_p: _fmt("np.sinh({0})"),
    cosh_p: _fmt("np.cosh({0})"),
    tanh_p: _fastmath("tanh", "np.tanh({0})"),
    logistic_p: _fastmath("logistic", "logistic({0})"),
    abs_p: _fmt("abs({0})"),
    sign_p: _keep_float(_fmt("sign({0})")),
    floor_p: _fmt("np.floor({0})"),
    ceil_p: _fmt("np.ceil({0})"),
    round_p: _fmt("rint({0})"),
    not_p: _not,
    isfinite_p: _fmt("np.isfinite({0})"),
    integer_pow_p: _integer_pow,
    add_p: _fmt("{0} + {1}"),
    sub_p: _fmt("{0} - {1}"),
    mul_p: _fmt("{0} * {1}"),
    div_p: _fmt("{0} / {1}"),
    pow_p: _keep_float(_fmt("{0} ** {1}")),
    max_p: _fmt("fmax({0}, {1})"),
    min_p: _fmt("fmin({0}, {1})"),
    atan2_p: _fmt("np.arctan2({0}, {1})"),
    rem_p: _by_kind("remainder"),
    floordiv_p: _by_kind("floordiv"),
    and_p: _fmt("{0} & {1}"),
    or_p: _fmt("{0} | {1}"),
    xor_p: _fmt("{0} ^ {1}"),
    lt_p: _fmt("{0} < {1}"),
    le_p: _fmt("{0} <= {1}"),
    gt_p: _fmt("{0} > {1}"),
    ge_p: _fmt("{0} >= {1}"),
    eq_p: _fmt("{0} == {1}"),
    ne_p: _fmt("{0} != {1}"),
    select_p: _fmt("{1} if {0} else {2}"),
    convert_p: _convert,
    stop_gradient_p: _identity,
    broadcast_to_p: _identity,      # broadcasting is the operand's index expression
    iota_p: _iota,
    shift_left_p: _shift("<<"),
    shift_right_logical_p: _shift(">>"),
})

# Scalar rules whose expression reads the loop indices (i0, i1, ...): a fused
# run that holds one keeps its loop even over a single element.
uses_loop_index = {iota_p}


# ----------------------------------------------------------------------------- reductions

@dataclass(frozen=True)
class Reduction:
    """A reduction inside a fused loop: its accumulator starts at
    ``identity(accumulator dtype)`` (source text), and each element of the
    operand updates it with the statement ``update(target, value)``."""
    identity: Callable[[np.dtype], str]
    update: Callable[[str, str], str]
    widen_float32: bool = False     # accumulate float32 in float64

    def acc_dtype(self, dtype) -> np.dtype:
        dtype = np.dtype(dtype)
        return np.dtype(np.float64) if self.widen_float32 and dtype == np.float32 else dtype


def _extreme(lowest: bool):
    """Identity of max (``lowest``) or min: the dtype's infinity, integer bound or boolean."""
    def identity(dt):
        if dt.kind == "f":
            return "-np.inf" if lowest else "np.inf"
        if dt.kind in "iu":
            info = np.iinfo(dt)
            return str(info.min if lowest else info.max)
        return "False" if lowest else "True"
    return identity


reduction_lowering.update({
    reduce_sum_p: Reduction(lambda dt: f"{np_type(dt)}(0)", lambda t, v: f"{t} += {v}", widen_float32=True),
    reduce_prod_p: Reduction(lambda dt: f"{np_type(dt)}(1)", lambda t, v: f"{t} *= {v}", widen_float32=True),
    reduce_max_p: Reduction(_extreme(True), lambda t, v: f"{t} = fmax({t}, {v})"),
    reduce_min_p: Reduction(_extreme(False), lambda t, v: f"{t} = fmin({t}, {v})"),
})


# ----------------------------------------------------------------------------- statements
# Structural primitives are plain loops: Numba compiles loops several times
# faster than array expressions or NumPy calls, and runs them as fast.

def _reshape(gen, eqn):
    x, out = eqn.inputs[0], eqn.outputs[0]
    if is_scalar(out.aval):   # one element: the same scalar
        gen.hold(out, gen.scalar_of(x))
        return
    src = gen.arr(x)
    gen.w.emit(f"{gen.name(out)} = {src}.reshape({shape_src(ishape(out.aval))})")


# Emitters whose output is a view of their first operand (no copy).
views_operand = {reshape_p}


def _matmul(gen, eqn):
    # BLAS gemm with its transpose flags (no transposed copy)
    a, b = eqn.inputs
    out = eqn.outputs[0]
    ta, tb = eqn.params["transpose_a"], eqn.params["transpose_b"]
    dt = out.aval.dtype
    fn = {"float32": "gemm_f32", "float64": "gemm_f64"}.get(dt.name, "gemm_loops")
    A, B = gen.arr(a), gen.arr(b)
    gen.alloc(out)
    C = gen.name(out)
    batch = out.aval.shape[:-2]
    ta_s, tb_s = str(ta), str(tb)
    if not batch:
        gen.w.emit(f"{fn}({ta_s}, {tb_s}, {A}, {B}, {C})")
        return
    nb = int(np.prod(batch))
    sa, sb, sc = a.aval.shape[-2:], b.aval.shape[-2:], out.aval.shape[-2:]
    gen.w.emit(f"{A}_3 = {A}.reshape({shape_src((nb,) + sa)})")
    gen.w.emit(f"{B}_3 = {B}.reshape({shape_src((nb,) + sb)})")
    gen.w.emit(f"{C}_3 = {C}.reshape({shape_src((nb,) + sc)})")
    gen.w.emit(f"for ib_ in range({nb}):")
    gen.w.emit(f"    {fn}({ta_s}, {tb_s}, {A}_3[ib_], {B}_3[ib_], {C}_3[ib_])")


# ----------------------------------------------------------------------------- decompositions
# LAPACK through .lapack's helpers, which take stacks of matrices as 3-D arrays.

def _stack(aval) -> str:
    s = aval.shape
    return shape_src((int(np.prod(s[:-2], dtype=np.int64)),) + tuple(s[-2:]))


def _rows(aval) -> str:
    """A stack of vectors (..., n) as a 2-D array's shape."""
    s = aval.shape
    return shape_src((int(np.prod(s[:-1], dtype=np.int64)), s[-1]))


def _lapack_call(gen, eqn, helper, shapes, flags=()):
    """``helper(inputs..., outputs..., flags...)`` with every operand reshaped
    by ``shapes`` (one function of the aval per input and output)."""
    args = [f"{gen.arr(a)}.reshape({sh(a.aval)})" for a, sh in zip(eqn.inputs, shapes)]
    for v, sh in zip(eqn.outputs, shapes[len(eqn.inputs):]):
        gen.alloc(v)
        args.append(f"{gen.name(v)}.reshape({sh(v.aval)})")
    gen.w.emit(f"{helper}({', '.join(args + [str(bool(f)) for f in flags])})")


def _cholesky(gen, eqn):
    _lapack_call(gen, eqn, "lapack_cholesky", [_stack, _stack])


def _triangular_solve(gen, eqn):
    p = eqn.params
    _lapack_call(gen, eqn, "lapack_triangular_solve", [_stack] * 3,
                 (p["lower"], p["transpose_a"], p["unit_diagonal"]))


def _triangular_matmul(gen, eqn):
    p = eqn.params
    _lapack_call(gen, eqn, "lapack_triangular_matmul", [_stack] * 3, (p["lower"], p["transpose_a"]))


def _lu(gen, eqn):
    _lapack_call(gen, eqn, "lapack_lu", [_stack, _stack, _rows, _rows])


def _eigh(gen, eqn):
    _lapack_call(gen, eqn, "lapack_eigh", [_stack, _rows, _stack])


def _svd(gen, eqn):
    p = eqn.params
    if p["compute_uv"]:
        _lapack_call(gen, eqn, "lapack_svd", [_stack, _stack, _rows, _stack],
                     (p["full_matrices"], True))
        return
    a, (s,) = eqn.inputs[0], eqn.outputs
    gen.alloc(s)
    dummy = shape_src((1, 1, 1))
    dt = np_type(a.aval.dtype)
    gen.w.emit(f"lapack_svd({gen.arr(a)}.reshape({_stack(a.aval)}), np.empty({dummy}, {dt}), "
               f"{gen.name(s)}.reshape({_rows(s.aval)}), np.empty({dummy}, {dt}), False, False)")


def _qr(gen, eqn):
    _lapack_call(gen, eqn, "lapack_qr", [_stack, _stack, _stack])


def _copy_loop(gen, out, src_index_of, src_name, shape=None):
    """out[i...] = src[src_index_of(i...)] over out's shape."""
    shape = shape or ishape(out.aval)
    gen.alloc(out)
    gen.w.open_loops(shape)
    gen.w.emit(f"{gen.name(out)}[{_loop_index(shape)}] = {src_name}[{src_index_of()}]")
    gen.w.close_loops(shape)


def _transpose(gen, eqn):
    x, out = eqn.inputs[0], eqn.outputs[0]
    perm = eqn.params["permutation"]
    if is_scalar(out.aval):
        gen.hold(out, gen.scalar_of(x))
        return
    inv = [0] * len(perm)
    for k, p in enumerate(perm):
        inv[p] = k
    _copy_loop(gen, out, lambda: ", ".join(f"i{inv[d]}" for d in range(len(perm))), gen.arr(x))


def _slice(gen, eqn):
    x, out = eqn.inputs[0], eqn.outputs[0]
    starts, strides = eqn.params["starts"], eqn.params["strides"]

    def idx():
        return ", ".join(
            (f"{b} + i{d}" if s == 1 else f"{b} + i{d} * {s}") if b else (f"i{d}" if s == 1 else f"i{d} * {s}")
            for d, (b, s) in enumerate(zip(starts, strides)))
    if is_scalar(x.aval):
        gen.hold(out, gen.scalar_of(x))
    elif is_scalar(out.aval):   # one element: read into a scalar local
        gen.hold(out, f"{gen.arr(x)}[{', '.join(map(str, starts))}]")
    else:
        _copy_loop(gen, out, idx, gen.arr(x))


def _rev(gen, eqn):
    x, out = eqn.inputs[0], eqn.outputs[0]
    axes = eqn.params["axes"]
    shape = out.aval.shape
    if is_scalar(out.aval):
        gen.hold(out, gen.scalar_of(x))
        return
    _copy_loop(gen, out, lambda: ", ".join(f"{shape[d] - 1} - i{d}" if d in axes else f"i{d}"
                                           for d in range(len(shape))), gen.arr(x))


def _pad(gen, eqn):
    x, out = eqn.inputs[0], eqn.outputs[0]
    low, interior = eqn.params["low"], eqn.params["interior"]
    if is_scalar(out.aval):   # (paddings are not negative) x itself, or zero when x is empty
        gen.hold(out, gen.scalar_of(x) if is_scalar(x.aval) else gen.literal_of(0, out.aval.dtype))
        return
    gen.alloc(out, fill=f"{np_type(out.aval.dtype)}(0)")
    shape = ishape(x.aval)
    if is_scalar(x.aval):   # one element at `low`
        gen.w.emit(f"{gen.name(out)}[{', '.join(map(str, low))}] = {gen.scalar_of(x)}")
        return
    gen.w.open_loops(shape)
    dst = ", ".join(f"{l} + i{d} * {i + 1}" for d, (l, i) in enumerate(zip(low, interior)))
    gen.w.emit(f"{gen.name(out)}[{dst}] = {gen.arr(x)}[{_loop_index(shape)}]")
    gen.w.close_loops(shape)


def _concatenate(gen, eqn):
    out = eqn.outputs[0]
    axis = eqn.params["axis"]
    if is_scalar(out.aval):   # one operand of one element, the others empty
        gen.hold(out, gen.scalar_of(next(x for x in eqn.inputs if is_scalar(x.aval))))
        return
    gen.alloc(out)
    offset = 0
    for x in eqn.inputs:
        shape = x.aval.shape
        if 0 in shape:
            continue
        if is_scalar(x.aval):   # one element: one store, no loop
            dst = ", ".join(str(offset) if d == axis else "0" for d in range(len(shape)))
            gen.w.emit(f"{gen.name(out)}[{dst}] = {gen.scalar_of(x)}")
            offset += 1
            continue
        src = gen.arr(x)
        gen.w.open_loops(shape)
        dst = ", ".join(f"{offset} + i{d}" if d == axis and offset else f"i{d}" for d in range(len(shape)))
        gen.w.emit(f"{gen.name(out)}[{dst}] = {src}[{_loop_index(shape)}]")
        gen.w.close_loops(shape)
        offset += shape[axis]


def _gather_indices(x, idx, axis):
    """Index expressions into x for a loop over take's output shape."""
    n_idx = len(idx.aval.shape)
    idx_ix = ", ".join(f"i{axis + k}" for k in range(n_idx)) if n_idx else "0"
    pre = [f"i{d}" for d in range(axis)]
    post = [f"i{axis + n_idx + d}" for d in range(len(x.aval.shape) - axis - 1)]
    return idx_ix, pre, post


def _take(gen, eqn):
    x, idx = eqn.inputs
    out = eqn.outputs[0]
    axis = eqn.params["axis"]
    n = x.aval.shape[axis]
    idx_ix, pre, post = _gather_indices(x, idx, axis)
    X = gen.arr(x)
    if is_scalar(out.aval):   # one element: a scalar local
        src = ["0"] * axis + [f"min(max({gen.scalar_of(idx)}, 0), {n - 1})"] + ["0"] * len(post)
        gen.hold(out, f"{X}[{', '.join(src)}]")
        return
    I = gen.arr(idx)
    gen.alloc(out)
    shape = ishape(out.aval)
    gen.w.open_loops(shape)
    gen.w.emit(f"j_ = min(max({I}[{idx_ix}], 0), {n - 1})")
    gen.w.emit(f"{gen.name(out)}[{_loop_index(shape)}] = {X}[{', '.join(pre + ['j_'] + post)}]")
    gen.w.close_loops(shape)


def _scatter_add(gen, eqn):
    # into the operand's own array when nothing else reads it (gen.update_target), else a copy
    operand, idx, updates = eqn.inputs
    axis = eqn.params["axis"]
    n = operand.aval.shape[axis]
    shape = updates.aval.shape
    # out-of-range indices drop their updates (XLA's scatter; take clamps instead)
    if is_scalar(updates.aval):   # one index, one update: scalars, no arrays
        j, u = gen.scalar_of(idx), gen.scalar_of(updates)
        O = gen.update_target(eqn, operand)
        dst = ["0"] * axis + ["j_"] + ["0"] * (len(operand.aval.shape) - axis - 1)
        gen.w.emit(f"j_ = {j}")
        gen.w.emit(f"if 0 <= j_ < {n}: {O}[{', '.join(dst)}] += {u}")
        return
    I, U = gen.arr(idx), gen.arr(updates)
    O = gen.update_target(eqn, operand)
    if 0 in shape:
        return
    idx_ix, pre, post = _gather_indices(operand, idx, axis)
    gen.w.open_loops(shape)
    gen.w.emit(f"j_ = {I}[{idx_ix}]")
    gen.w.emit(f"if 0 <= j_ < {n}: {O}[{', '.join(pre + ['j_'] + post)}] += "
               f"{U}[{_loop_index(shape)}]")
    gen.w.close_loops(shape)


def _pad_add(gen, eqn):
    # buf + pad(piece): into buf's own array when nothing else reads it, else a copy
    buf, piece = eqn.inputs
    out = eqn.outputs[0]
    low, interior = eqn.params["low"], eqn.params["interior"]
    if is_scalar(out.aval):   # one-element buffer and piece: a scalar local
        if not is_scalar(piece.aval):   # an empty piece
            gen.hold(out, gen.scalar_of(buf))
            return
        gen.hold(out, f"{np_type(out.aval.dtype)}({gen.scalar_of(buf)} + {gen.scalar_of(piece)})")
        return
    if is_scalar(piece.aval):   # one element at `low`
        p = gen.scalar_of(piece)
        O = gen.update_target(eqn, buf)
        gen.w.emit(f"{O}[{', '.join(map(str, low))}] += {p}")
        return
    shape = piece.aval.shape
    P = gen.arr(piece)
    O = gen.update_target(eqn, buf)
    if 0 in shape:
        return
    gen.w.open_loops(shape)
    dst = ", ".join((f"{l} + i{d} * {i + 1}" if i else f"{l} + i{d}") if l else
                    (f"i{d} * {i + 1}" if i else f"i{d}") for d, (l, i) in enumerate(zip(low, interior)))
    gen.w.emit(f"{O}[{dst}] += {P}[{_loop_index(shape)}]")
    gen.w.close_loops(shape)


def _argmax(gen, eqn, better=">"):
    x, out = eqn.inputs[0], eqn.outputs[0]
    axis = eqn.params["axis"]
    xs = x.aval.shape
    outer = tuple(d for i, d in enumerate(xs) if i != axis) or (1,)
    X = gen.arr(x)
    gen.alloc(out)
    names = [f"i{d}" for d in range(len(outer))]
    gen.w.open_loops(outer)
    others = iter(names)
    src = ", ".join("k_" if d == axis else next(others) for d in range(len(xs)))
    src0 = src.replace("k_", "0")
    gen.w.emit(f"best_ = {X}[{src0}]")
    gen.w.emit("arg_ = 0")
    gen.w.emit(f"for k_ in range(1, {xs[axis]}):")
    gen.w.emit(f"    v_ = {X}[{src}]")
    gen.w.emit(f"    if v_ {better} best_ or (v_ != v_ and best_ == best_):")
    gen.w.emit("        best_ = v_")
    gen.w.emit("        arg_ = k_")
    if not out.aval.shape:
        dst = "0"
    elif eqn.params["keepdims"]:
        others = iter(names)
        dst = ", ".join("0" if d == axis else next(others) for d in range(len(xs)))
    else:
        dst = ", ".join(names)
    gen.w.emit(f"{gen.name(out)}[{dst}] = arg_")
    gen.w.close_loops(outer)


def _scalar_import(fn: str) -> str:
    return f'__import__("funcgrad.backends.numba_backend.scalar", fromlist=["{fn}"]).{fn}'


def _threefry2x32(gen, eqn):
    # one Threefry-2x32 encryption per element (scalar.threefry2x32, which casts every
    # step to uint32 so that the bits equal the NumPy implementation's)
    gen.constants["threefry2x32"] = _scalar_import("threefry2x32")
    y0, y1 = eqn.outputs
    shape = ishape(y0.aval)
    args = [gen.read(a, shape, {}) for a in eqn.inputs]
    gen.alloc(y0)
    gen.alloc(y1)
    gen.w.emit("# threefry2x32")
    gen.w.open_loops(shape)
    dst = _loop_index(shape)
    gen.w.emit(f"{gen.name(y0)}[{dst}], {gen.name(y1)}[{dst}] = threefry2x32({', '.join(args)})")
    gen.w.close_loops(shape)


def _argsort(gen, eqn):
    # a stable merge sort along the last axis (scalar.argsort_stable), one row at a time
    gen.constants["argsort_stable"] = _scalar_import("argsort_stable")
    x, out = eqn.inputs[0], eqn.outputs[0]
    X = gen.arr(x)
    gen.alloc(out)
    outer = x.aval.shape[:-1]
    if not outer:
        gen.w.emit(f"argsort_stable({X}, {gen.name(out)})")
        return
    gen.w.open_loops(outer)
    idx = _loop_index(outer)
    gen.w.emit(f"argsort_stable({X}[{idx}], {gen.name(out)}[{idx}])")
    gen.w.close_loops(outer)


# ----------------------------------------------------------------------------- control flow
# Bodies are emitted inline. A body's inputs are not copied: array inputs are
# renamed to the arrays they stand for, 0-d inputs read the scalar locals.
# Loop carries live in the equation's output variables (arrays, or scalar
# locals for 0-d values), updated by one tuple assignment per iteration.
# (Equations with bodies may return an input itself: codegen copies such outputs.)

def _fori_loop(gen, eqn):
    body, nc = eqn.params["body"], eqn.params["num_consts"]
    lo, hi, *rest = eqn.inputs
    consts, inits = rest[:nc], rest[nc:]
    k = gen.new_id()
    gen.w.emit(f"# fori_loop {k}")
    carry = gen.carry_locals(eqn.outputs, inits)
    restore = gen.scoped()
    for v, a in zip(body.in_vars[:nc], consts):
        gen.bind(v, a)
    hoist = gen.begin_loop_body(body, body.out_atoms)
    gen.w.emit(f"for it{k}_ in range({gen.scalar_of(lo)}, {gen.scalar_of(hi)}):")
    gen.w.depth += 1
    index = body.in_vars[nc]
    gen.bind_local(index, f"{np_type(index.aval.dtype)}(it{k}_)")
    for v, local in zip(body.in_vars[nc + 1:], carry):
        gen.bind_local(v, local)
    gen.emit_body(body)
    gen.assign(carry, [gen.result(a, o) for a, o in zip(body.out_atoms, eqn.outputs)])
    gen.end_loop_body(hoist)
    gen.w.depth -= 1
    restore()
    gen.finish(eqn.outputs, carry)


def _while_loop(gen, eqn):
    cond, body = eqn.params["cond"], eqn.params["body"]
    ncc, nbc = eqn.params["cond_nconsts"], eqn.params["body_nconsts"]
    cond_consts = eqn.inputs[:ncc]
    body_consts = eqn.inputs[ncc:ncc + nbc]
    inits = eqn.inputs[ncc + nbc:]
    k = gen.new_id()
    gen.w.emit(f"# while_loop {k}")
    carry = gen.carry_locals(eqn.outputs, inits)
    restore = gen.scoped()
    for v, a in zip(cond.in_vars[:ncc], cond_consts):
        gen.bind(v, a)
    for v, a in zip(body.in_vars[:nbc], body_consts):
        gen.bind(v, a)
    hoist = gen.begin_loop_body(body, body.out_atoms)
    gen.w.emit("while True:")
    gen.w.depth += 1
    for v, local in zip(cond.in_vars[ncc:], carry):
        gen.bind_local(v, local)
    gen.emit_body(cond)
    gen.w.emit(f"if not {gen.scalar_of(cond.out_atoms[0])}:")
    gen.w.emit("    break")
    for v, local in zip(body.in_vars[nbc:], carry):
        gen.bind_local(v, local)
    gen.emit_body(body)
    gen.assign(carry, [gen.result(a, o) for a, o in zip(body.out_atoms, eqn.outputs)])
    gen.end_loop_body(hoist)
    gen.w.depth -= 1
    restore()
    gen.finish(eqn.outputs, carry)


def _scan(gen, eqn):
    body = eqn.params["body"]
    nc, ncar = eqn.params["num_consts"], eqn.params["num_carry"]
    length, reverse = eqn.params["length"], eqn.params["reverse"]
    consts = eqn.inputs[:nc]
    inits = eqn.inputs[nc:nc + ncar]
    xs = eqn.inputs[nc + ncar:]
    carry_outs, ys = eqn.outputs[:ncar], eqn.outputs[ncar:]
    k = gen.new_id()
    gen.w.emit(f"# scan {k}")
    carry = gen.carry_locals(carry_outs, inits)
    for y in ys:
        gen.alloc(y)
    restore = gen.scoped()
    for v, a in zip(body.in_vars[:nc], consts):
        gen.bind(v, a)
    x_arrays = [gen.arr(x) for x in xs]
    # the ys are copied out in their iteration: only the carries outlive it
    hoist = gen.begin_loop_body(body, body.out_atoms[:ncar])
    gen.w.emit(f"for t{k}_ in range({length}):")
    gen.w.depth += 1
    at = f"ix{k}_"
    gen.w.emit(f"{at} = {length - 1} - t{k}_" if reverse else f"{at} = t{k}_")
    for v, local in zip(body.in_vars[nc:nc + ncar], carry):
        gen.bind_local(v, local)
    for v, x in zip(body.in_vars[nc + ncar:], x_arrays):
        if is_scalar(v.aval):   # one element of each step: a scalar local
            local = "_" + gen.name(v)
            gen.w.emit(f"{local} = {x}[{', '.join([at] + ['0'] * len(v.aval.shape))}]")
        else:
            local = gen.name(v)
            gen.w.emit(f"{local} = {x}[{at}]")
        gen.bind_local(v, local)
    gen.emit_body(body)
    for y, atom in zip(ys, body.out_atoms[ncar:]):
        inner = y.aval.shape[1:]
        if all(d == 1 for d in inner):
            gen.w.emit(f"{gen.name(y)}[{', '.join([at] + ['0'] * len(inner))}] = {gen.scalar_of(atom)}")
            continue
        src = gen.arr(atom)
        gen.w.open_loops(inner)
        idx = _loop_index(inner)
        gen.w.emit(f"{gen.name(y)}[{at}, {idx}] = {src}[{idx}]")
        gen.w.close_loops(inner)
    gen.assign(carry, [gen.result(a, o) for a, o in zip(body.out_atoms[:ncar], carry_outs)])
    gen.end_loop_body(hoist)
    gen.w.depth -= 1
    restore()
    gen.finish(carry_outs, carry)


def _switch(gen, eqn):
    branches = eqn.params["branches"]
    index, *operands = eqn.inputs
    k = gen.new_id()
    gen.w.emit(f"# switch {k}")
    locals_ = ["_" + gen.name(o) if is_scalar(o.aval) else gen.name(o) for o in eqn.outputs]
    op_arrays = [None if is_scalar(a.aval) else gen.arr(a) for a in operands]
    idx = f"br{k}_"
    gen.w.emit(f"{idx} = {gen.scalar_of(index)}")
    last = len(branches) - 1
    for b, program in enumerate(branches):
        if b == last:
            gen.w.emit("else:" if last else "if True:")
        else:
            gen.w.emit(f"{'if' if b == 0 else 'elif'} {idx} {'<=' if b == 0 else '=='} {b}:")
        gen.w.depth += 1
        restore = gen.scoped()
        for v, a, array in zip(program.in_vars, operands, op_arrays):
            if array is not None:
                gen.names[v] = array
            else:
                gen.bind(v, a)
        gen.emit_body(program)
        gen.assign(locals_, [gen.result(a, o) for a, o in zip(program.out_atoms, eqn.outputs)])
        restore()
        gen.w.depth -= 1
    gen.finish(eqn.outputs, locals_)


# Emitters whose output may be their first operand's array, updated in place
# (``gen.update_target``).
updates_operand = {pad_add_p, scatter_add_p}

emit_lowering.update({
    reshape_p: _reshape,
    matmul_p: _matmul,
    **({cholesky_p: _cholesky, triangular_solve_p: _triangular_solve, triangular_matmul_p: _triangular_matmul,
        lu_p: _lu, eigh_p: _eigh, svd_p: _svd,
        qr_p: _qr} if HAVE_LAPACK else {}),
    transpose_p: _transpose,
    slice_p: _slice,
    rev_p: _rev,
    pad_p: _pad,
    pad_add_p: _pad_add,
    concatenate_p: _concatenate,
    take_p: _take,
    scatter_add_p: _scatter_add,
    argmax_p: _argmax,
    argmin_p: partial(_argmax, better="<"),
    threefry2x32_p: _threefry2x32,
    argsort_p: _argsort,
    fori_loop_p: _fori_loop,
    while_loop_p: _while_loop,
    scan_p: _scan,
    switch_p: _switch,
})
