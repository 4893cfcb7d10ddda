"""A Program encoded as the machine's data: instructions, shapes, heaps.

:func:`encode` walks a program once and returns an :class:`Encoded`: the
instruction rows (``code``), the shapes and strides they point to (``aux``),
the heap sizes, the constants to write into the heaps before a call, and
where each input and output lives.

Each value gets a run of one heap (``F`` for floats, ``I`` for integers and
booleans). Runs are recycled: a value's run is free again after its last
use in the program that defines it (uses inside a loop body count at the
loop), so the heaps stay near the working set; a body's (or branch's)
inputs hold their runs while the body is encoded, so nothing in the body (an
alias of an input dying there, say) frees them. ``reshape``, ``stop_gradient``
and widening casts name their operand's run (no instruction), and an update
(``pad_add``, ``scatter_add``) of a buffer at its last use writes into that
buffer. Literals and the program's constants live at the front of each heap;
constants made later get new runs at the top, never recycled ones: constants
are written once, when the heaps are made, and no row may write over them.

How each primitive becomes instructions is the table ``vm_lowering`` in
``lowering.py``; this module has the machinery the rules share.
"""
from __future__ import annotations

from dataclasses import dataclass

import math

import numpy as np

from ...core.ir import Literal, Program, Var
from ...errors import UnsupportedError
from ...core.ir import subprograms
from . import opcodes as m

__all__ = ["encode", "Encoded", "Encoder", "Storage", "kind_of", "vm_supported", "unsigned64"]

# how each dtype is held: heap and the width it wraps or rounds to
_WRAP = {"bool": m.WRAP_BOOL, "int8": m.WRAP_I8, "uint8": m.WRAP_U8, "int16": m.WRAP_I16,
         "uint16": m.WRAP_U16, "int32": m.WRAP_I32, "uint32": m.WRAP_U32, "int64": m.WRAP_NONE,
         "uint64": m.WRAP_NONE}
_FLOATS = ("float32", "float64")


_KIND = {np.dtype(n): ("F" if n in _FLOATS else "I") for n in list(_FLOATS) + list(_WRAP)}
_FLAGS = {np.dtype(n): (m.ROUND32 if n == "float32" else m.UNSIGNED64 if n == "uint64"
                        else _WRAP[n] << m.WRAP_SHIFT if n in _WRAP and n != "bool" else 0)
          for n in list(_FLOATS) + list(_WRAP)}


def kind_of(dtype) -> str:
    """``"F"`` or ``"I"``: the heap that holds values of ``dtype``."""
    try:
        return _KIND[dtype]
    except KeyError:
        raise UnsupportedError(f"the vm backend cannot hold {np.dtype(dtype).name} values") from None


def unsigned64(atom) -> int:
    """The UNSIGNED64 flag for a uint64 operand, else 0."""
    return m.UNSIGNED64 if atom.aval.dtype == np.uint64 else 0


def vm_supported(program: Program) -> set:
    """Names of what in ``program`` (bodies included) the machine cannot run:
    primitives without a rule, and dtypes it cannot hold (float16, uint64, complex)."""
    from .lowering import SIGNED_ONLY, vm_lowering

    missing = set()

    def dtypes_ok(atoms):
        for a in atoms:
            if a.aval.dtype not in _KIND:
                missing.add(f"dtype {a.aval.dtype.name}")

    def walk(p):
        dtypes_ok(p.in_vars)
        dtypes_ok(p.const_vars)
        for e in p.eqns:
            if e.primitive not in vm_lowering:
                missing.add(e.primitive.name)
            elif e.primitive in SIGNED_ONLY and any(a.aval.dtype == np.uint64 for a in e.inputs):
                missing.add(f"{e.primitive.name} of uint64")
            dtypes_ok(e.inputs)
            dtypes_ok(e.outputs)
            for sub in subprograms(e):
                walk(sub)
    walk(program)
    return missing


def flags_for(dtype) -> int:
    """The flag bits that make a result of ``dtype`` exact: float32 rounding,
    the integer width to wrap to, or uint64's unsigned reading."""
    return _FLAGS[dtype]


class Storage:
    """A run of one heap: ``kind`` (``"F"``/``"I"``), ``off``, ``size``.
    ``live`` counts the values that name it (and the bodies being encoded
    whose inputs it holds); ``freeable`` is False for constants and for a
    run already released."""

    __slots__ = ("kind", "off", "size", "live", "freeable")

    def __init__(self, kind, off, size, freeable=True):
        self.kind, self.off, self.size = kind, off, size
        self.live = 0
        self.freeable = freeable


@dataclass
class Encoded:
    code: np.ndarray           # int64 [n, W]
    aux: np.ndarray            # int64
    f_size: int
    i_size: int
    f_consts: np.ndarray       # written to F[:len] before each call
    i_consts: np.ndarray
    f_late: tuple              # (offsets, values) of constants made later, written likewise
    i_late: tuple
    inputs: list               # (kind, off, size) per input
    outputs: list              # (kind, off, size, shape, dtype) per output
    n_eqns: int

    def describe(self) -> str:
        return (f"{len(self.code)} instructions for {self.n_eqns} equations; heaps F[{self.f_size}] "
                f"I[{self.i_size}] ({len(self.f_consts)}/{len(self.i_consts)} constants)")


class Encoder:
    """Shared by the rules: allocation, operands, instruction rows, bodies."""

    def __init__(self):
        self.rows: list = []
        self.aux: list = [0]          # aux[0] unused: offset 0 means "none"
        self.top = {"F": 0, "I": 0}
        self.free: dict = {}
        self.loc: dict = {}           # Var -> Storage
        self.consts = {"F": [], "I": []}
        self.late = {"F": [], "I": []}   # constants made after the front region was closed
        self.collecting = True
        self.literal_slots: dict = {}
        self.dying_now = ()

    # --------------------------------------------------------------- heaps
    def alloc(self, kind, size) -> Storage:
        size = max(int(size), 1)
        pool = self.free.get((kind, size))
        if pool:
            return Storage(kind, pool.pop(), size)
        off = self.top[kind]
        self.top[kind] += size
        return Storage(kind, off, size)

    def release(self, st: Storage):
        if st.freeable and st.live <= 0:
            st.live = -1 << 30        # released once: never twice into the pool
            st.freeable = False
            self.free.setdefault((st.kind, st.size), []).append(st.off)

    def temp(self, kind, size) -> Storage:
        """Scratch for one equation: :meth:`release` it after the rows that use it."""
        return self.alloc(kind, size)

    def bind(self, var: Var, st: Storage):
        self.loc[var] = st
        st.live += 1

    def new(self, var: Var) -> Storage:
        st = self.alloc(kind_of(var.aval.dtype), var.aval.size)
        self.bind(var, st)
        return st

    def constant(self, kind, values) -> Storage:
        """A run holding ``values``, written into the heap when the heaps are
        made (once per thread, not per call): at the front of the heap while
        the constants are collected (before any other run is allocated), else
        a new run at the top of the heap, never released. Never a recycled
        run: the rows encoded before would write over the constant."""
        values = list(values) if len(values) else [0]
        if self.collecting:
            buf = self.consts[kind]
            st = Storage(kind, len(buf), len(values), freeable=False)
            buf.extend(values)
            return st
        st = Storage(kind, self.top[kind], len(values), freeable=False)
        self.top[kind] += len(values)
        self.late[kind].append((st.off, values))
        return st

    def literal(self, lit: Literal) -> Storage:
        kind = kind_of(lit.aval.dtype)
        value = lit.value
        if kind == "F":
            v = float(np.float32(value)) if lit.aval.dtype == np.float32 else float(value)
        else:
            v = int(value)
            if v >= 1 << 63:      # uint64: the same bits as int64
                v -= 1 << 64
        key = (kind, np.float64(v).tobytes() if kind == "F" else v)   # NaN and -0.0 have keys too
        st = self.literal_slots.get(key)
        if st is None:
            st = self.literal_slots[key] = self.constant(kind, [v])
        return st

    def literal_zero(self, kind) -> Storage:
        return self.literal(Literal(np.float64(0.0) if kind == "F" else np.int64(0)))

    def at(self, atom) -> Storage:
        if isinstance(atom, Literal):
            return self.literal(atom)
        return self.loc[atom]

    # --------------------------------------------------------------- rows
    def emit(self, op, sub=0, d=0, a=0, b=0, c=0, n=0, flags=0, x=0, y=0) -> int:
        self.rows.append([op, sub, d, a, b, c, n, flags, x, y])
        return len(self.rows) - 1

    def label(self) -> int:
        return len(self.rows)

    def patch(self, row: int, target: int):
        self.rows[row][m.X] = target

    def put_aux(self, values) -> int:
        at = len(self.aux)
        self.aux.extend(int(v) for v in values)
        return at

    # --------------------------------------------------------------- operands
    def operand(self, atom, shape, scratch: list) -> tuple:
        """``(offset, scalar_flag)`` of ``atom`` read elementwise over
        ``shape``: one element is broadcast by the machine; other
        broadcasting is materialized in a scratch run (added to ``scratch``)."""
        st = self.at(atom)
        size = atom.aval.size
        total = math.prod(shape)
        if size == 1:
            return st.off, True
        if size == total:
            return st.off, False
        tmp = self.temp(st.kind, total)
        scratch.append(tmp)
        self.broadcast_move(st, atom.aval.shape, tmp, shape)
        return tmp.off, False

    def broadcast_move(self, src: Storage, src_shape, dst: Storage, shape):
        lead = len(shape) - len(src_shape)
        strides = c_strides(src_shape)
        s_str = [0] * lead + [0 if src_shape[k] == 1 else strides[k] for k in range(len(src_shape))]
        self.move(src.kind, m.M_SET, dst.off, c_strides(shape), src.off, s_str, shape)

    def move(self, kind, mode, d, d_strides, s, s_strides, shape, flags=0, whole=None):
        """A strided copy (``mode`` M_SET) or add (M_ADD), its axes merged
        where both sides allow; a contiguous copy is one COPY row. ``flags``
        round or wrap the destination's run ``whole`` afterwards."""
        dims = [(e, ds, ss) for e, ds, ss in zip(shape, d_strides, s_strides) if e != 1]
        if any(e == 0 for e, _, _ in dims):
            return
        merged = []
        for e, ds, ss in dims:
            if merged and merged[-1][1] == ds * e and merged[-1][2] == ss * e:
                pe, _, _ = merged[-1]
                merged[-1] = (pe * e, ds, ss)
            else:
                merged.append((e, ds, ss))
        if not merged:
            merged = [(1, 1, 1)]
        if mode == m.M_SET and len(merged) == 1 and merged[0][1] == 1 and merged[0][2] == 1:
            self.emit(m.COPY_F if kind == "F" else m.COPY_I, d=d, a=s, n=merged[0][0])
            return
        x = self.put_aux([len(merged)] + [e for e, _, _ in merged] + [ds for _, ds, _ in merged]
                         + [ss for _, _, ss in merged])
        at, n = (whole.off, whole.size) if whole is not None and flags else (0, 0)
        self.emit(m.MOVE_F if kind == "F" else m.MOVE_I, sub=mode, d=d, a=s, x=x, flags=flags if n else 0,
                  n=n, y=at)

    def copy(self, dst: Storage, src: Storage, n):
        if dst.off == src.off and dst.kind == src.kind:
            return
        self.emit(m.COPY_F if src.kind == "F" else m.COPY_I, d=dst.off, a=src.off, n=n)

    # --------------------------------------------------------------- programs
    def encode_program(self, program: Program, *, top: bool):
        """Rows for ``program``'s equations; its inputs must be bound already.
        Values defined here are released after their last use; outputs never."""
        from .lowering import vm_lowering

        last = {}
        for i, eqn in enumerate(program.eqns):
            for a in eqn.inputs:
                if type(a) is Var:
                    last[a] = i
        outs = {a for a in program.out_atoms if type(a) is Var}
        kept = outs if top else outs | set(program.in_vars)   # a body's inputs are its loop's
        dying_at: dict = {}
        for v, i in last.items():
            if v not in kept:
                dying_at.setdefault(i, []).append(v)
        if top:   # inputs used by no equation and returned by none: free at once
            for v in program.in_vars:
                if v not in last and v not in outs:
                    self.die(v)
        self.dying_now = ()
        for i, eqn in enumerate(program.eqns):
            self.dying_now = dying_at.get(i, ())
            rule = vm_lowering[eqn.primitive]
            rule(self, eqn)
            for v in eqn.outputs:   # outputs nothing reads
                if v not in last and v not in outs and v in self.loc:
                    self.die(v)
            for v in self.dying_now:
                self.die(v)
        self.dying_now = ()

    def die(self, v: Var):
        st = self.loc.get(v)
        if st is None:
            return
        st.live -= 1
        if st.live == 0:
            self.release(st)

    def can_overwrite(self, atom, eqn) -> bool:
        """Whether ``eqn`` (being encoded) may write into ``atom``'s run: its
        last use, its only use in ``eqn``, the only value naming the run, and
        the run freeable."""
        if type(atom) is not Var or atom not in self.dying_now:
            return False
        if sum(a is atom for a in eqn.inputs) != 1:
            return False
        st = self.loc[atom]
        return st.freeable and st.live == 1

    def take_over(self, var: Var, atom):
        """``var`` is written into ``atom``'s run (see :meth:`can_overwrite`)."""
        st = self.loc.pop(atom)
        self.dying_now = tuple(v for v in self.dying_now if v is not atom)
        self.loc[var] = st         # live stays 1: one name traded for another
        return st

    def encode_body(self, body: Program, bindings):
        """Rows for a loop body or branch whose inputs name the runs ``bindings``.
        The body holds them while it is encoded: an input is never released
        (nor written over, :meth:`can_overwrite`) from inside the body, even
        where an alias of it dies there (a loop's own runs, a scanned row or
        the counter, are named by no other value)."""
        for v in body.const_vars:
            raise UnsupportedError("the vm backend expects closed bodies")
        bindings = list(zip(body.in_vars, bindings))
        for v, st in bindings:
            self.loc[v] = st
            st.live += 1
        saved = self.dying_now
        self.encode_program(body, top=False)
        self.dying_now = saved
        for _, st in bindings:   # handed back; their owners release them
            st.live -= 1

    def write_outputs(self, atoms, targets, sizes):
        """Copy ``atoms`` into the runs ``targets``; a source that is also a
        target written earlier is staged first (loop carries may swap)."""
        srcs = [self.at(a) for a in atoms]
        target_offs = {(t.kind, t.off): k for k, t in enumerate(targets)}
        staged = []
        for k, s in enumerate(srcs):
            j = target_offs.get((s.kind, s.off))
            if j is not None and j != k:
                tmp = self.temp(s.kind, sizes[k])
                self.copy(tmp, s, sizes[k])
                srcs[k] = tmp
                staged.append(tmp)
        for t, s, n in zip(targets, srcs, sizes):
            self.copy(t, s, n)
        for tmp in staged:
            self.release(tmp)


def c_strides(shape) -> list:
    strides, acc = [], 1
    for e in reversed(shape):
        strides.append(acc)
        acc *= max(int(e), 1)
    return strides[::-1]


def encode(program: Program, checked: bool = False) -> Encoded:
    """``program`` as the machine's data; ``checked``: the caller has found
    :func:`vm_supported` empty already (it walks the whole program)."""
    missing = () if checked else vm_supported(program)
    if missing:
        raise UnsupportedError(f"the vm backend cannot run {sorted(missing)}")
    enc = Encoder()
    # constants and literals first: they occupy the front of each heap
    for v, c in zip(program.const_vars, program.consts):
        c = np.asarray(c)
        kind = kind_of(v.aval.dtype)
        values = c.astype(np.float64 if kind == "F" else np.int64).ravel().tolist()
        st = enc.constant(kind, values)
        enc.loc[v] = st
    _collect_literals(enc, program)
    enc.literal(Literal(np.float64(0.0)))
    enc.literal(Literal(np.int64(0)))
    enc.collecting = False
    enc.top = {"F": len(enc.consts["F"]), "I": len(enc.consts["I"])}
    inputs = []
    for v in program.in_vars:
        st = enc.new(v)
        inputs.append((st.kind, st.off, v.aval.size))
    enc.encode_program(program, top=True)
    outputs = []
    for a in program.out_atoms:
        st = enc.at(a)
        outputs.append((st.kind, st.off, a.aval.size, a.aval.shape, a.aval.dtype))
    code = np.array(enc.rows, dtype=np.int64).reshape(-1, m.W)
    late = {k: (np.array([o + j for o, vals in enc.late[k] for j in range(len(vals))], dtype=np.int64),
                [v for _, vals in enc.late[k] for v in vals]) for k in "FI"}
    return Encoded(code=code, aux=np.array(enc.aux, dtype=np.int64), f_size=max(enc.top["F"], 1),
                   i_size=max(enc.top["I"], 1),
                   f_consts=np.array(enc.consts["F"], dtype=np.float64),
                   i_consts=np.array(enc.consts["I"], dtype=np.int64),
                   f_late=(late["F"][0], np.array(late["F"][1], dtype=np.float64)),
                   i_late=(late["I"][0], np.array(late["I"][1], dtype=np.int64)),
                   inputs=inputs, outputs=outputs, n_eqns=_count(program))


def _collect_literals(enc, program):
    for eqn in program.eqns:
        for a in eqn.inputs:
            if isinstance(a, Literal):
                enc.literal(a)
        for sub in subprograms(eqn):
            _collect_literals(enc, sub)
    for a in program.out_atoms:
        if isinstance(a, Literal):
            enc.literal(a)


def _count(program) -> int:
    return sum(1 + sum(_count(s) for s in subprograms(e)) for e in program.eqns)
