"""The machine's float elementwise kernels, generated from one table.

``UNARY`` and ``BINARY`` map each sub-operation of ``UNARY_F`` and
``BINARY_F`` (opcodes.py) to the expression of one result element. From them
:func:`source` writes, for each operation, a kernel with one loop per
operand layout (contiguous operands; one operand a single element broadcast
over the others) and float32 rounding in the same pass, and the two
dispatchers ``_unary_f`` and ``_binary_f`` that ``machine.execute`` calls.
Written out this way (rather than one loop taking the operation as an
argument, which Numba would not cache), LLVM vectorizes the contiguous
loops. The backend appends this source to machine.py's when it loads the
machine, so the cache entry's name covers both.
"""
from __future__ import annotations

from . import opcodes as m

# sub-operation -> (name, expression of {x}) ; helpers from numba_backend.scalar
UNARY = {
    m.U_NEG: ("neg", "-{x}"), m.U_EXP: ("exp", "np.exp({x})"), m.U_LOG: ("log", "np.log({x})"),
    m.U_LOG1P: ("log1p", "np.log1p({x})"), m.U_EXPM1: ("expm1", "np.expm1({x})"),
    m.U_SQRT: ("sqrt", "np.sqrt({x})"), m.U_SIN: ("sin", "np.sin({x})"), m.U_COS: ("cos", "np.cos({x})"),
    m.U_TAN: ("tan", "np.tan({x})"), m.U_ASIN: ("asin", "np.arcsin({x})"), m.U_ACOS: ("acos", "np.arccos({x})"),
    m.U_ATAN: ("atan", "np.arctan({x})"), m.U_SINH: ("sinh", "np.sinh({x})"), m.U_COSH: ("cosh", "np.cosh({x})"),
    m.U_TANH: ("tanh", "np.tanh({x})"), m.U_LOGISTIC: ("logistic", "logistic({x})"), m.U_ABS: ("abs", "abs({x})"),
    m.U_SIGN: ("sign", "sign({x})"), m.U_FLOOR: ("floor", "np.floor({x})"), m.U_CEIL: ("ceil", "np.ceil({x})"),
    m.U_ROUND: ("round", "np.rint({x})"),
}
# sub-operation -> (name, expression of {x} and {y})
BINARY = {
    m.B_ADD: ("add", "{x} + {y}"), m.B_SUB: ("sub", "{x} - {y}"), m.B_MUL: ("mul", "{x} * {y}"),
    m.B_DIV: ("div", "{x} / {y}"), m.B_POW: ("pow", "np.power({x}, {y})"), m.B_MAX: ("max", "fmax({x}, {y})"),
    m.B_MIN: ("min", "fmin({x}, {y})"), m.B_ATAN2: ("atan2", "np.arctan2({x}, {y})"),
    m.B_REM: ("rem", "remainder_float({x}, {y})"), m.B_FLOORDIV: ("floordiv", "floordiv_float({x}, {y})"),
}

_DECO = '@njit(cache=True, error_model="numpy")\n'


def _stores(target, expr, indent):
    """The rounding and plain forms of ``target = expr`` under ``if r32``."""
    pad = " " * indent
    return (f"{pad}if r32:\n{pad}    for i in range(n):\n{pad}        {target} = np.float32({expr})\n"
            f"{pad}else:\n{pad}    for i in range(n):\n{pad}        {target} = {expr}\n")


# The loops index views of the heap (``out = F[d:d + n]``...) by the loop
# counter alone: a non-negative index, so Numba's negative-index wraparound
# folds away and the accesses stay affine, which LLVM needs to vectorize.

def _unary_kernel(name, expr):
    full = expr.format(x="xs[i]")
    one = expr.format(x="F[a]")
    return (f"{_DECO}def _u_{name}(F, d, a, n, sa, r32):\n"
            f"    if n == 1:   # one element: no views\n        v = {one}\n"
            f"        F[d] = np.float32(v) if r32 else v\n        return\n"
            f"    out = F[d:d + n]\n"
            f"    if sa == 1:\n        xs = F[a:a + n]\n" + _stores("out[i]", full, 8) +
            f"    else:\n        v = {one}\n        if r32:\n            v = np.float32(v)\n"
            f"        for i in range(n):\n            out[i] = v\n\n\n")


def _binary_kernel(name, expr):
    both = expr.format(x="xs[i]", y="ys[i]")
    b_one = expr.format(x="xs[i]", y="y")
    a_one = expr.format(x="x", y="ys[i]")
    one = expr.format(x="F[a]", y="F[b]")
    return (f"{_DECO}def _b_{name}(F, d, a, b, n, sa, sb, r32):\n"
            f"    if n == 1:   # one element: no views\n        v = {one}\n"
            f"        F[d] = np.float32(v) if r32 else v\n        return\n"
            f"    out = F[d:d + n]\n"
            f"    if sa == 1 and sb == 1:\n        xs = F[a:a + n]\n        ys = F[b:b + n]\n"
            + _stores("out[i]", both, 8) +
            # a one-element operand is flagged only when the result has more than one
            # element, so at most one of the two is
            f"    elif sb == 0:\n        y = F[b]\n        xs = F[a:a + n]\n" + _stores("out[i]", b_one, 8) +
            f"    else:\n        x = F[a]\n        ys = F[b:b + n]\n" + _stores("out[i]", a_one, 8) + "\n\n")


def _dispatcher(kind, table, params, args):
    lines = [f"{_DECO}def _{kind}_f(sub, {params}, flags):\n",
             "    sa = 0 if flags & S_A else 1\n"]
    if kind == "binary":
        lines.append("    sb = 0 if flags & S_B else 1\n")
    lines.append("    r32 = (flags & ROUND32) != 0\n")
    for k, (sub, (name, _)) in enumerate(sorted(table.items())):
        lines.append(f"    {'if' if k == 0 else 'elif'} sub == {sub}:\n"
                     f"        _{kind[0]}_{name}({args})\n")
    return "".join(lines) + "\n\n"


def source() -> str:
    """The generated kernels and dispatchers, as module text to follow machine.py's."""
    parts = ["# ---- generated by funcgrad/backends/vm/kernels.py ----\n\n"]
    parts += [_unary_kernel(name, expr) for name, expr in UNARY.values()]
    parts += [_binary_kernel(name, expr) for name, expr in BINARY.values()]
    parts.append(_dispatcher("unary", UNARY, "F, d, a, n", "F, d, a, n, sa, r32"))
    parts.append(_dispatcher("binary", BINARY, "F, d, a, b, n", "F, d, a, b, n, sa, sb, r32"))
    return "".join(parts)
