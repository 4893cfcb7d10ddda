"""Cotangent accumulation: sums of padded pieces and scatters become writes
into one buffer.

Reverse mode turns each read of a part of an array (``x[3]``, a slice, a
``take``, a piece of ``split``) into a cotangent of the array's full size: a
``pad`` of the piece into zeros, or a ``scatter_add`` into zeros, and the
cotangents of one array are summed with ``add`` (``funcgrad.transforms.vjp``:
``prev + ct``, one term at a time). A vector read element by element costs one
zero-filled array and one ``add`` per element. This pass rewrites such sums,
one ``add`` (or ``sub``) at a time in program order, into chains of updates
of ONE buffer:

- a *term* is ``pad(p)``, or ``scatter_add(zeros, i, u)`` (``zeros`` a
  broadcast of a literal ``+0``), that only this ``add`` reads;
- ``add(d, T)`` / ``add(T, d)`` with ``d`` anything else (a dense value, or a
  buffer built by an earlier rewrite) -> ``T``'s update applied to ``d``:
  ``pad_add(d, p)`` (``d + pad(p)``, see ``funcgrad.primitives.shape``) or
  ``scatter_add(d, i, u)``;
- ``add(T1, T2)`` -> the scatter term as the buffer with the other's update
  applied to it, or, for two pads, ``pad_add(pad_add(zeros, p1), p2)`` into a
  new zero buffer;
- ``sub(d, T)`` -> ``T``'s update, negated, applied to ``d`` (``d - p`` is
  ``d + (-p)`` in IEEE arithmetic).

The output variable is kept: the last update of a chain defines it, and the
next ``add`` of the same cotangent extends the chain. The terms' own
equations are left for dead-code elimination. A size-1 piece that reshapes a
0-d value (what the VJP of ``x[3]`` pads) is added as that 0-d value: one
scalar store. The Numba backend updates a buffer in place when nothing else
reads it (``CodeGenerator.update_target``).

Exactness (``exact=True``, the default, and what ``default_pipeline`` runs):
for floating point a rewrite is made only where it gives the interpreter's
result on the program as traced bit for bit, signed zeros included. Two
facts decide it. ``x + 0.0`` turns ``-0.0`` into ``+0.0``, so elements no
piece lands on may keep the buffer's value only when the buffer is known to
hold no ``-0.0`` (a zero buffer and what was added into one: ``+0.0 + y`` is
never ``-0.0``). And a scatter that may add two updates to one element
(a traced index array) rounds differently added into a nonzero buffer. So in
exact mode: ``add(d, T)`` needs ``d`` free of ``-0.0`` and ``T`` to add at
most one value per element (a pad, a scatter of one index or of constant
distinct indices); two pads into a new zero buffer need disjoint pieces (else
``-0.0 + -0.0`` would differ); ``sub(d, pad)`` always applies. A cotangent
sum that starts with two pieces (the common case: ``p[0] ... p[7]``) is one
chain; one that starts with a dense term ``d`` and two pieces that do not
overlap becomes ``d + (zeros + p1 + p2)`` (the same bits), which holds no
-0.0, so the pieces after go into it; two overlapping pieces first, or a
dense term and a scatter of traced indices, keep their ``add``. Integer sums have no
such corner and are always rewritten. ``accumulate(program, exact=False)``
rewrites every such sum; values then equal the original to rounding (the
order of additions where pieces overlap) and the sign of zero.
"""
from __future__ import annotations

from collections import Counter

import numpy as np

from ..core.ir import Eqn, Literal, Program, ShapedArray, Var
from ..primitives.elementwise import add_p, neg_p, sub_p
from ..primitives.indexing import scatter_add_p
from ..primitives.shape import broadcast_to_p, pad_add_p, pad_p, reshape_p
from ._util import map_subprograms

__all__ = ["accumulate"]

_CONST_SCAN_LIMIT = 1 << 20   # elements of a captured constant checked for zeros or distinct indices


def accumulate(program: Program, *, exact: bool = True) -> Program:
    """``program`` with sums of padded pieces and scatters written into one
    buffer each (a new Program; the input is not modified)."""
    return _accumulate(program, {}, exact)


def _accumulate(program: Program, memo: dict, exact: bool) -> Program:
    ctx = _Context(program, exact)
    for eqn in program.eqns:
        e = map_subprograms(eqn, lambda p: _accumulate(p, memo, exact), memo)
        new = _rewrite(e, ctx) if e.primitive is add_p or e.primitive is sub_p else None
        for ne in (new if new is not None else [e]):
            ctx.append(ne)
    return Program(program.in_vars, program.const_vars, program.consts, ctx.eqns, program.out_atoms)


class _Context:
    """The program being built: its equations, who defines each variable,
    how often the original program reads each one, its constants, and the
    variables known to hold no -0.0."""

    def __init__(self, program: Program, exact: bool):
        self.exact = exact
        self.uses = Counter(a for e in program.eqns for a in e.inputs if type(a) is Var)
        self.uses.update(a for a in program.out_atoms if type(a) is Var)
        self.consts = dict(zip(program.const_vars, program.consts))
        self.producer: dict = {}
        self.eqns: list = []
        self.no_negative_zero: dict = {}
        self.negated: dict = {}   # atom -> the variable holding -atom

    def append(self, eqn):
        self.eqns.append(eqn)
        for o in eqn.outputs:
            self.producer[o] = eqn

    # ------------------------------------------------------------------ facts about values
    def is_zeros(self, atom) -> bool:
        """Whether ``atom`` is all +0 (a literal, or a broadcast / reshape of one, or a constant)."""
        for _ in range(16):
            if type(atom) is Literal:
                return _plus_zero(np.asarray(atom.value))
            if atom in self.consts:
                c = np.asarray(self.consts[atom])
                return c.size <= _CONST_SCAN_LIMIT and _plus_zero(c)
            e = self.producer.get(atom)
            if e is None or e.primitive not in (broadcast_to_p, reshape_p):
                return False
            atom = e.inputs[0]
        return False

    def free_of_negative_zero(self, atom, depth: int = 0) -> bool:
        """Whether ``atom`` never holds -0.0: zeros, and what is added into
        such a value (``y + z`` is -0.0 only when both are, ``y - z`` only
        when ``y`` is). Integers have no -0."""
        if atom.aval.dtype.kind != "f":
            return True
        if type(atom) is Literal:
            return not np.signbit(atom.value)
        known = self.no_negative_zero.get(atom)
        if known is not None:
            return known
        result = self.is_zeros(atom)
        e = self.producer.get(atom)
        if not result and e is not None and depth < 32:
            if e.primitive in (scatter_add_p, pad_add_p, sub_p):
                result = self.free_of_negative_zero(e.inputs[0], depth + 1)
            elif e.primitive is add_p:
                result = any(self.free_of_negative_zero(a, depth + 1) for a in e.inputs)
        self.no_negative_zero[atom] = result
        return result

    def single_hit(self, idx, n: int) -> bool:
        """Whether a scatter's indices add at most one update to each element:
        one index, or constant indices that are distinct where in range."""
        if idx.aval.size <= 1:
            return True
        if type(idx) is Var and idx in self.consts:
            v = np.asarray(self.consts[idx]).reshape(-1)
            if v.size > _CONST_SCAN_LIMIT:
                return False
            v = v[(v >= 0) & (v < n)]
            return np.unique(v).size == v.size
        return False


def _plus_zero(value: np.ndarray) -> bool:
    if value.dtype.kind == "f":
        return bool(np.all(value == 0) and not np.signbit(value).any())
    return value.dtype.kind in "iu" and bool(np.all(value == 0))


# ----------------------------------------------------------------------------- terms

class _Update:
    """One write into a buffer: ``pad_add`` of ``piece`` at ``low`` / ``interior``,
    or ``scatter_add`` of ``updates`` at ``idx`` along ``axis``."""

    __slots__ = ("kind", "operands", "params", "single_hit")

    def __init__(self, kind, operands, params, single_hit):
        self.kind = kind                  # pad_add_p or scatter_add_p
        self.operands = list(operands)    # [piece] or [idx, updates]
        self.params = params
        self.single_hit = single_hit      # at most one value added to each element

    def value_atoms(self):
        """The atoms holding the added values (negated for ``sub``)."""
        return [0] if self.kind is pad_add_p else [1]

    def covers(self, shape) -> list:
        """Per axis of the buffer, the range of indices a pad's piece lands on."""
        low, interior = self.params["low"], self.params["interior"]
        piece_shape = self.operands[0].aval.shape
        if not piece_shape:
            return [range(l, l + 1) for l in low]
        return [range(l, l + max(d - 1, 0) * (i + 1) + 1 if d else l, i + 1)
                for d, l, i in zip(piece_shape, low, interior)]


def _term(atom, out: Var, ctx: _Context):
    """The update that ``atom`` (a pad, or a scatter into zeros, read only
    here) adds into zeros; None when ``atom`` is something else."""
    if type(atom) is not Var or ctx.uses[atom] != 1:
        return None
    e = ctx.producer.get(atom)
    if e is None:
        return None
    if e.primitive is pad_p:
        piece = _scalar_source(e.inputs[0], ctx)
        return _Update(pad_add_p, [piece], {"low": tuple(e.params["low"]),
                                            "interior": tuple(e.params["interior"])}, True)
    if e.primitive is scatter_add_p and ctx.is_zeros(e.inputs[0]):
        _, idx, updates = e.inputs
        axis = e.params["axis"]
        return _Update(scatter_add_p, [idx, updates], {"axis": axis},
                       ctx.single_hit(idx, out.aval.shape[axis]))
    return None


def _scalar_source(piece, ctx: _Context):
    """A one-element piece that reshapes or broadcasts a 0-d value: that value."""
    atom = piece
    for _ in range(8):
        if type(atom) is not Var or atom.aval.size != 1:
            break
        if not atom.aval.shape:
            return atom
        e = ctx.producer.get(atom)
        if e is None or e.primitive not in (reshape_p, broadcast_to_p):
            break
        atom = e.inputs[0]
        if type(atom) is Literal:
            return atom
    return piece


def _disjoint(t1: _Update, t2: _Update, shape) -> bool:
    for r1, r2 in zip(t1.covers(shape), t2.covers(shape)):
        small, big = (r1, r2) if len(r1) <= len(r2) else (r2, r1)
        if not any(k in big for k in small):
            return True
    return False


# ----------------------------------------------------------------------------- the rewrite

def _rewrite(eqn: Eqn, ctx: _Context):
    """The equations that replace ``eqn`` (an add or sub), or None to keep it."""
    out = eqn.outputs[0]
    a, b = eqn.inputs
    shape, dtype = out.aval.shape, out.aval.dtype
    if not shape or 0 in shape or dtype.kind not in "fiu":
        return None
    if any(x.aval.shape != shape or x.aval.dtype != dtype for x in (a, b)):
        return None    # a broadcasting add: left alone
    exact = ctx.exact and dtype.kind == "f"
    tb = _term(b, out, ctx)
    if tb is None:
        if eqn.primitive is sub_p:
            return None
        ta = _term(a, out, ctx)
        if ta is None:
            return None
        a, b, tb = b, a, ta                  # d + T == T + d: T's update goes into d
    elif eqn.primitive is add_p:
        ta = _term(a, out, ctx)
        if ta is not None:
            return _two_terms(eqn, a, ta, b, tb, ctx, exact)

    # `a` is the buffer, `tb` the update applied to it
    if eqn.primitive is sub_p:
        # d - 0 == d for every d (-0.0 too); d - p == d + (-p); a scatter's
        # d - (0 + u) differs from d + (-u) only for d = u = -0.0
        if exact and tb.kind is scatter_add_p and not (tb.single_hit and ctx.free_of_negative_zero(a)):
            return None
        return _chain(a, [tb], out, eqn, ctx, negate=True)
    if exact and not (tb.single_hit and ctx.free_of_negative_zero(a)):
        return _dense_then_pads(eqn, a, tb, ctx)
    return _chain(a, [tb], out, eqn, ctx)


def _dense_then_pads(eqn, x, t: _Update, ctx: _Context):
    """(exact) ``(d + pad(p1)) + pad(p2)`` with ``d`` that may hold -0.0 and
    pieces that do not overlap -> ``d + (zeros + p1 + p2)``: the same bits
    (at each element at most one piece lands, and where it does not, both
    add +0.0 to ``d``), and the sum then holds no -0.0, so later pieces go
    into it in place."""
    out = eqn.outputs[0]
    if t.kind is not pad_add_p or type(x) is not Var or ctx.uses[x] != 1:
        return None
    e = ctx.producer.get(x)
    if e is None or e.primitive is not add_p or any(a.aval.shape != x.aval.shape for a in e.inputs):
        return None
    for d, p in (e.inputs, e.inputs[::-1]):
        t1 = _term(p, x, ctx)
        if t1 is not None and t1.kind is pad_add_p and _disjoint(t1, t, out.aval.shape):
            zeros = Var(ShapedArray(out.aval.shape, out.aval.dtype))
            head = Eqn(broadcast_to_p, [Literal(np.zeros((), out.aval.dtype))], [zeros],
                       {"shape": tuple(out.aval.shape)}, eqn.source)
            acc = Var(ShapedArray(out.aval.shape, out.aval.dtype))
            return [head] + _chain(zeros, [t1, t], acc, eqn, ctx) + [Eqn(add_p, [d, acc], [out], {}, eqn.source)]
    return None


def _two_terms(eqn, a, ta: _Update, b, tb: _Update, ctx: _Context, exact: bool):
    """``add(T1, T2)``: one buffer for both."""
    out = eqn.outputs[0]
    # a scatter into zeros holds its own value exactly and no -0.0: it is the buffer
    if ta.kind is scatter_add_p and (tb.single_hit or not exact):
        return _chain(a, [tb], out, eqn, ctx)
    if tb.kind is scatter_add_p and (ta.single_hit or not exact):
        return _chain(b, [ta], out, eqn, ctx)
    if ta.kind is scatter_add_p or tb.kind is scatter_add_p:
        return None   # (exact) two scatters that may each add twice to an element
    if exact and not _disjoint(ta, tb, out.aval.shape):
        return None   # overlapping pads: -0.0 + -0.0 where both land would become +0.0
    zeros = Var(ShapedArray(out.aval.shape, out.aval.dtype))
    head = Eqn(broadcast_to_p, [Literal(np.zeros((), out.aval.dtype))], [zeros],
               {"shape": tuple(out.aval.shape)}, eqn.source)
    return [head] + _chain(zeros, [ta, tb], out, eqn, ctx)


def _chain(buf, updates, out: Var, eqn: Eqn, ctx: _Context, negate: bool = False) -> list:
    """Equations applying ``updates`` to ``buf`` in turn, the last one defining ``out``."""
    eqns = []
    cur = buf
    for k, u in enumerate(updates):
        operands = list(u.operands)
        if negate:
            for j in u.value_atoms():
                operands[j] = _negated(operands[j], eqns, eqn.source, ctx)
        dst = out if k == len(updates) - 1 else Var(ShapedArray(out.aval.shape, out.aval.dtype))
        eqns.append(Eqn(u.kind, [cur] + operands, [dst], dict(u.params), eqn.source))
        cur = dst
    return eqns


def _negated(atom, eqns: list, source, ctx: _Context):
    """``-atom``: a literal, or a ``neg`` (one per atom: cse has run)."""
    if type(atom) is Literal:
        return Literal(np.negative(np.asarray(atom.value)))
    v = ctx.negated.get(atom)
    if v is None:
        v = ctx.negated[atom] = Var(ShapedArray(atom.aval.shape, atom.aval.dtype))
        eqns.append(Eqn(neg_p, [atom], [v], {}, source))
    return v
