"""Program -> the Python source of ONE Numba function.

The generated function reads like code a careful person would write: its
variables carry the IR's names (as printed by ``make_ir``), one statement per
line, shapes as constants (a program is specialised to its input shapes).

Which equations share a loop nest is decided by the backend-neutral fusion
plan (``funcgrad.passes.fusion.plan_fusion``); this module renders it:

- A fused group (elementwise equations over one loop shape, and reductions
  over that shape) becomes a single loop nest; values used only inside the
  group stay scalars (no temporaries). Broadcasting is an index expression.
  Reductions accumulate into their (small) output inside the loop.
- A "single" group is written by its rule in ``lowering.emit_lowering``
  (``matmul`` calls BLAS ``gemm``; structural primitives are plain loops;
  loops and branches are emitted inline, their bodies from their plans).

What each primitive becomes is in ``lowering.py``, in tables keyed by the
primitive; this module holds the driver, the rendering of fused groups, and
the helpers the rules call (``arr``, ``read``, ``alloc``, ``bind``, ...).
The plan's elementwise primitives are ``scalar_lowering``'s, its reductions
``reduction_lowering``'s (checked when this module is imported).

All arrays inside are C-contiguous. Values of one element (0-d, or shape
(1,), (1, 1), ...: ``lowering.is_scalar``) are held in scalar locals
(``CodeGenerator.held``); a 1-element array is made of one only where an
equation needs an array (``arr``). 0-d values cross the function's boundary
(inputs and outputs) as scalars.
The caller (``__init__.py``) makes array inputs contiguous.
"""
from __future__ import annotations

import keyword
from collections import defaultdict

import numpy as np

from ...core.ir import Literal, Program, ShapedArray, Var, _names, subprograms
from ...passes.fusion import ELEMENTWISE, LOOKAHEAD, MAX_FUSED, READS_INDEX, REDUCTIONS, FusionPlan, plan_fusion
from .lowering import (emit_lowering, is_scalar, ishape, np_type, reduction_lowering, scalar_lowering,
                       shape_src, unsupported, updates_operand, uses_loop_index, views_operand,
                       zero_index)

__all__ = ["CodeGenerator", "count_eqns", "fusion_plan", "ishape", "np_type", "unsupported"]

# MAX_FUSED (equations in one fused loop body: LLVM's cost is superlinear in a
# block's size) and LOOKAHEAD come from passes.fusion; set on this module, they
# apply to this backend's plans (fusion_plan reads them at each call).
CHUNK_EQNS = 200    # equations in one generated function, for large programs
# Loop bodies (and branches) of at least this many equations, whose own module
# is compiled already (``body_compiled``, given by the backend: a training step
# jitted before the epoch that scans it), are called from the loop rather than
# written inline, so the epoch reuses the step's compiled code. A body compiled
# nowhere yet stays inline: compiled apart, Numba would optimize it twice
# (once alone, once linked into the caller). Smaller bodies always stay inline,
# where a call per iteration costs more than the body. None turns body
# functions off; set ``numba_backend.body_compiled`` to ``lambda body, *_: True`` to call every
# large body (tests do).
BODY_FUNCTION_EQNS = 120

# A reduction to one element inside a loop nest of two or more loops keeps one
# accumulator per element of the innermost loop ("lanes", combined after the
# nest) when that loop runs between LANES_MIN and LANES_MAX times: a single
# scalar accumulator is a serial chain of additions that stops LLVM from
# vectorizing the loop, and with it every elementwise function fused into it
# (a tanh, an exp) runs one element at a time.
LANES_MIN, LANES_MAX = 8, 4096
PARALLEL_MIN_ELEMENTS = 1 << 17   # fused loops this large run on several threads (when enabled)

# error_model="numpy": IEEE floating-point division (x / 0 is inf or nan, as in
# NumPy and the interpreter) instead of Python's ZeroDivisionError, whose check
# on every division also kept LLVM from vectorizing loops that divide.
_NJIT_FLAGS = 'cache=True, nogil=True, error_model="numpy"'

_RESERVED = {"np", "range", "max", "min", "abs", "int", "float", "len", "fmax", "fmin", "sign"}


def _check_tables():
    """The fusion plan's classification against this backend's tables: every
    primitive the plan fuses has a scalar or reduction rule here, and every
    such rule's primitive is fused by the plan (else it would reach
    ``emit_lowering``, where it has no rule)."""
    problems = []
    for what, plan_set, table in [("elementwise", ELEMENTWISE, scalar_lowering),
                                  ("reduction", REDUCTIONS, reduction_lowering)]:
        if set(table) != plan_set:
            problems.append(f"{what}: in passes.fusion only {sorted(p.name for p in plan_set - set(table))}, "
                            f"in lowering.py only {sorted(p.name for p in set(table) - plan_set)}")
    if not uses_loop_index <= READS_INDEX:
        problems.append(f"lowering.uses_loop_index not in passes.fusion.READS_INDEX: "
                        f"{sorted(p.name for p in uses_loop_index - READS_INDEX)}")
    if problems:
        raise AssertionError("funcgrad.passes.fusion and the Numba lowering tables disagree: "
                             + "; ".join(problems))


_check_tables()


def fusion_plan(program: Program, parallel: bool = False) -> FusionPlan:
    """The fusion plan :class:`CodeGenerator` renders for ``program``: no
    group spans a chunk function's boundary (large programs), and with
    ``parallel`` loops of ``PARALLEL_MIN_ELEMENTS`` elements or more split
    across threads."""
    return plan_fusion(program, parallel=parallel, parallel_min_elements=PARALLEL_MIN_ELEMENTS,
                       split_at=[lo for lo, _ in _chunks(len(program.eqns))[1:]],
                       max_fused=MAX_FUSED, lookahead=LOOKAHEAD)


def _chunks(n: int) -> list:
    """(start, stop) of each chunk function's equations; none for small programs."""
    return [(i, min(i + CHUNK_EQNS, n)) for i in range(0, n, CHUNK_EQNS)] if n > CHUNK_EQNS else []


def _literal_src(value, dtype) -> str:
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        v = float(value)
        text = "np.inf" if v == np.inf else "-np.inf" if v == -np.inf else "np.nan" if v != v else repr(v)
    elif dtype.kind == "b":
        text = repr(bool(value))
    else:
        text = repr(int(value))
    return f"{np_type(dtype)}({text})"


class _Writer:
    def __init__(self):
        self.lines: list[str] = []
        self.depth = 1
        self.parallel = False   # whether the function this writes needs parallel=True

    def emit(self, line: str):
        self.lines.append("    " * self.depth + line)

    def open_loops(self, shape, prefix="i", parallel=False):
        """One loop per axis; an axis of length 1 is an index of 0, not a loop."""
        for d, n in enumerate(shape):
            if n == 1:
                self.emit(f"{prefix}{d} = 0")
                continue
            loop = "prange" if parallel and d == 0 else "range"
            self.emit(f"for {prefix}{d} in {loop}({n}):")
            self.depth += 1
        if parallel:
            self.parallel = True

    def close_loops(self, shape):
        self.depth -= sum(n != 1 for n in shape)


class CodeGenerator:
    """Writes the source of ``def <name>(<consts>, <inputs>): ... return (<outputs>,)``."""

    def __init__(self, program: Program, name: str = "program", parallel: bool = False,
                 body_compiled=None):
        self.program = program
        self.body_compiled = body_compiled or (lambda body: False)
        self.fn_name = name
        self.parallel = parallel
        self.w = _Writer()
        self.constants: dict[str, str] = {}        # module-level name -> source
        self._literal_names: dict[tuple, str] = {}
        self.names: dict[Var, str] = {}
        self.consumers: dict[Var, set] = defaultdict(set)   # var -> equations reading it
        self.outputs: set[Var] = set()                       # outputs of the program or of a body
        self.producers: dict[Var, object] = {}               # var -> the equation defining it (bodies too)
        self.bound: set[Var] = set()     # inputs and constants of the program and of every body
        self._walk(program, _names())
        self.index = {eqn: i for i, eqn in enumerate(program.eqns)}
        # one-element values held in scalar locals rather than 1-element arrays: var -> local's name.
        # An array copy is made only when an array-consuming equation needs one.
        self.held: dict[Var, str] = {}
        self.materialized: set[Var] = set()
        self._ids = 0
        self._hoists: list[_Hoist] = []   # the loop bodies being emitted, innermost last
        # (function name, argument specs) of each chunk function, filled by generate()
        self.chunk_signatures: list[tuple[str, list]] = []
        # bodies emitted as calls of a function of their own module: the k-th is
        # called as _body_<k> (the module loader binds the name, numba_backend.__init__)
        self.body_functions: list[Program] = []
        self.plan: FusionPlan | None = None    # the fusion plan rendered, made by generate()
        self.lanes: dict = {}    # reduction eqn -> its lane accumulators' name (LANES_MIN, LANES_MAX)

    def _walk(self, program, gen):
        """Name variables in the order the IR printer does (bodies after their
        equation), and record consumers and outputs of every (sub)program."""
        def assign(v):
            if v in self.names:
                return
            n = next(gen)
            while keyword.iskeyword(n) or n in _RESERVED:
                n = next(gen)
            self.names[v] = n
        for v in list(program.const_vars) + list(program.in_vars):
            assign(v)
            self.bound.add(v)
        for eqn in program.eqns:
            for o in eqn.outputs:
                assign(o)
                self.producers[o] = eqn
            for a in eqn.inputs:
                if type(a) is Var:
                    self.consumers[a].add(eqn)
            for sub in subprograms(eqn):
                self._walk(sub, gen)
        self.outputs.update(a for a in program.out_atoms if type(a) is Var)

    # ------------------------------------------------------------------ helpers
    def literal(self, lit: Literal) -> str:
        return self.literal_of(lit.value, lit.aval.dtype)

    def literal_of(self, value, dtype) -> str:
        """The module-level constant holding ``value`` as ``dtype``."""
        src = _literal_src(value, dtype)
        name = self._literal_names.get(src)
        if name is None:
            name = f"K{len(self._literal_names)}"
            self._literal_names[src] = name
            self.constants[name] = src
        return name

    def read(self, atom, loop_shape, scalars) -> str:
        """Scalar expression of ``atom`` at the current loop indices."""
        if type(atom) is Literal:
            return self.literal(atom)
        if atom in scalars:
            return scalars[atom]
        held = self.held.get(atom)
        if held is not None:
            return held
        if loop_shape is None:    # a fused run without loops (its shape has one element)
            return f"{self.name(atom)}[{zero_index(atom.aval)}]"
        return self.name(atom) + "[" + self.broadcast_index(atom.aval.shape, loop_shape) + "]"

    def scalar_of(self, atom) -> str:
        """Scalar expression of a one-element atom."""
        if type(atom) is Literal:
            return self.literal(atom)
        held = self.held.get(atom)
        return held if held is not None else f"{self.name(atom)}[{zero_index(atom.aval)}]"

    def hold(self, v: Var, expr: str):
        """Hold one-element ``v`` in a scalar local of its own (a chunk
        function's arguments and results are locals, never shared or constants),
        whose value is ``expr``."""
        local = "_" + self.name(v)
        self.w.emit(f"{local} = {expr}")
        self.held[v] = local

    def arr(self, atom) -> str:
        """Name of an array holding ``atom`` (values held as scalars get a
        1-element array here, once per scope)."""
        if type(atom) is Literal:
            return f"np.full((1,), {self.literal(atom)})"
        held = self.held.get(atom)
        if held is None or atom in self.materialized:
            return self.name(atom)
        name = self.name(atom)
        self.w.emit(f"{name} = np.empty({shape_src(ishape(atom.aval))}, {np_type(atom.aval.dtype)})")
        self.w.emit(f"{name}[{zero_index(atom.aval)}] = {held}")
        self.materialized.add(atom)
        return name

    def _iface(self, v: Var) -> str:
        """How ``v`` crosses a chunk function's boundary: its scalar local or its array."""
        return self.held.get(v) or self.name(v)

    def name(self, v: Var) -> str:
        return self.names[v]

    @staticmethod
    def broadcast_index(shape, loop_shape) -> str:
        if not shape:
            return "0"
        off = len(loop_shape) - len(shape)
        return ", ".join("0" if d == 1 and loop_shape[off + j] != 1 else f"i{off + j}"
                         for j, d in enumerate(shape))

    def alloc(self, v: Var, fill=None, dtype=None, name=None):
        """``np.empty`` (cheap for Numba to compile), then a fill loop if asked."""
        dt = np_type(dtype or v.aval.dtype)
        shape = ishape(v.aval)
        name = name or self.name(v)
        self._emit_empty(v, name, f"np.empty({shape_src(shape)}, {dt})")
        if fill is not None:
            self.w.open_loops(shape)
            self.w.emit(f"{name}[{', '.join(f'i{d}' for d in range(len(shape)))}] = {fill}")
            self.w.close_loops(shape)

    def owns(self, v: Var) -> bool:
        """Whether ``v``'s array was allocated by the equation defining it (or
        by an equation it updated in place): not an input or constant of the
        program or of a body (the caller's arrays, the outer values a body
        reads, loop carries), not a view (``views_operand``), not the result of
        a loop or branch (which can be its initial value or operand itself)."""
        if v in self.bound or not v.aval.shape or v in self.held:
            return False
        eqn = self.producers.get(v)
        return eqn is not None and eqn.primitive not in views_operand and not subprograms(eqn)

    def can_update_in_place(self, eqn, operand) -> bool:
        """Whether ``eqn`` may write its output into ``operand``'s array: an
        array ``operand`` owns, which no other equation reads, ``eqn`` reads
        once, and no program or body returns."""
        return (type(operand) is Var and self.owns(operand) and operand not in self.outputs
                and self.consumers[operand] == {eqn} and sum(a is operand for a in eqn.inputs) == 1)

    def update_target(self, eqn, operand) -> str:
        """The array ``eqn``'s output (``operand`` updated) is written in:
        ``operand``'s own array when :meth:`can_update_in_place`, else a copy."""
        out = eqn.outputs[0]
        if self.can_update_in_place(eqn, operand):
            self.w.emit(f"{self.name(out)} = {self.name(operand)}  # updated in place")
        elif type(operand) is Var:
            ix = ", ".join(f"i{d}" for d in range(len(ishape(out.aval))))
            self.alloc(out, fill=f"{self.arr(operand)}[{ix}]")
        else:
            self.alloc(out, fill=self.literal(operand))
        return self.name(out)

    # ------------------------------------------------------------------ driver
    def generate(self) -> str:
        """The module body: chunk functions (large programs only), then the
        program's function."""
        p = self.program
        params = []
        prologue = _Writer()
        for v in list(p.const_vars) + list(p.in_vars):
            if v.aval.shape:
                params.append(self.name(v))
            else:  # 0-d values cross the boundary as scalars: cheaper to pass than arrays
                params.append(self.name(v) + "_in")
                prologue.emit(f"_{self.name(v)} = {np_type(v.aval.dtype)}({self.name(v)}_in)")
                self.held[v] = "_" + self.name(v)
        n = len(p.eqns)
        chunks = _chunks(n)
        self.plan = fusion_plan(p, self.parallel)
        parts = []
        if chunks:
            # Numba's and LLVM's cost grows faster than linearly with a function's
            # size: large programs become a sequence of chunk functions.
            self.w = prologue
            for k, (lo, hi) in enumerate(chunks):
                ins, outs = self._chunk_interface(lo, hi)
                in_names = ", ".join(self._iface(v) for v in ins)
                # the argument types the caller will pass, so that chunks can be
                # compiled ahead in other processes (numba_backend.compile_chunks_ahead)
                self.chunk_signatures.append((f"{self.fn_name}_part{k}", [
                    ("scalar", v.aval.dtype.str) if v in self.held else
                    ("array", v.aval.dtype.str, len(ishape(v.aval))) for v in ins]))
                outer, saved = self.w, self.materialized
                self.w, self.materialized = _Writer(), set()
                self._emit_groups(self.plan.between(lo, hi))
                names = [self._iface(v) for v in outs]
                self.w.emit("return (" + ", ".join(names) + ("," if len(names) == 1 else "") + ")")
                header = f"def {self.fn_name}_part{k}({in_names}):"
                parts.append((self.w.parallel, "\n".join([header] + self.w.lines) + "\n"))
                self.w, self.materialized = outer, saved
                lhs = ", ".join(names) + ("," if len(names) == 1 else "")
                self.w.emit(f"{lhs} = {self.fn_name}_part{k}({in_names})"
                            if names else f"{self.fn_name}_part{k}({in_names})")
        else:
            self.w = prologue
            self._emit_groups(self.plan.groups)
        self._emit_return()
        header = [f"def {self.fn_name}({', '.join(params)}):"]
        main = (self.w.parallel, "\n".join(header + self.w.lines) + "\n")
        return "\n\n".join(
            (f"@njit({_NJIT_FLAGS}, parallel=True)\n" if par else f"@njit({_NJIT_FLAGS})\n") + part
            for par, part in parts + [main])

    def _emit_groups(self, groups):
        """Each group of the plan in turn: a fused loop nest, or one equation by its rule."""
        for g in groups:
            if g.fused:
                self._emit_group(g)
            else:
                emit_lowering[g.eqns[0].primitive](self, g.eqns[0])

    def _chunk_interface(self, lo: int, hi: int):
        """Variables a chunk reads from before it, and those it defines that
        later chunks or the outputs read."""
        eqns = self.program.eqns
        defined = {o for e in eqns[lo:hi] for o in e.outputs}
        ins, seen = [], set()
        for e in eqns[lo:hi]:
            for a in e.inputs:
                if type(a) is Var and a not in defined and a not in seen:
                    seen.add(a)
                    ins.append(a)
        outs = [v for e in eqns[lo:hi] for v in e.outputs
                if v in self.outputs or any(self.index[c] >= hi for c in self.consumers[v])]
        return ins, outs

    def _emit_return(self):
        p = self.program
        outs = []
        inputs = set(p.in_vars) | set(p.const_vars)
        seen = set()
        for a in p.out_atoms:
            if type(a) is Literal:
                outs.append(self.literal(a) if not a.aval.shape else f"np.full((1,), {self.literal(a)})")
            elif not a.aval.shape:
                outs.append(self.scalar_of(a))
            elif a in self.held and a not in self.materialized:
                outs.append(self.arr(a))    # a new array
            elif a in inputs or a in seen or self._may_alias_input(a):
                outs.append(f"{self.arr(a)}.copy()")  # outputs never alias inputs or each other
            else:
                outs.append(self.name(a))
            if type(a) is Var:
                seen.add(a)
        self.w.emit("return (" + ", ".join(outs) + ("," if len(outs) == 1 else "") + ")")

    def _may_alias_input(self, v: Var) -> bool:
        """Whether output ``v`` may share memory with an input: a reshape of
        one, or a loop carry or branch result (which can be an input itself)."""
        p = self.program
        inputs = set(p.in_vars) | set(p.const_vars)
        producers = {o: e for e in p.eqns for o in e.outputs}
        while v in producers:
            eqn = producers[v]
            if subprograms(eqn):    # a loop carry or branch result can be an input itself
                return True
            if eqn.primitive not in views_operand:
                break
            v = eqn.inputs[0]
            if type(v) is not Var:
                return False
        return v in inputs

    # ------------------------------------------------------------------ fused groups
    def _emit_group(self, g):
        """One fused group of the plan (``passes.fusion.FusionGroup``) as a loop
        nest over its loop shape, or as scalar statements when ``loop_free``."""
        w = self.w
        shape = g.loop_shape
        # A group over one element needs no loop: its values stay scalar locals
        # (loop bodies of scalar code allocate nothing).
        no_loop = g.loop_free
        assert not (no_loop and any(e.primitive in uses_loop_index for e in g.eqns))
        accumulated = g.accumulated
        stored = set(g.outputs)    # values read after the group
        scalars: dict[Var, str] = {}
        after: list[str] = []

        # arrays the loop stores into: values used outside the group, and reduction outputs
        if not no_loop:
            for eqn in g.eqns:
                if eqn in accumulated:
                    self._alloc_accumulator(eqn, after, shape, g.parallel)
                elif eqn.outputs[0] in stored:
                    self.alloc(eqn.outputs[0])
        w.emit(f"# fused: {', '.join(e.primitive.name for e in g.eqns)}")
        if not no_loop:
            w.open_loops(shape, parallel=g.parallel)
        loop_shape = None if no_loop else shape
        for eqn in g.eqns:
            out = eqn.outputs[0]
            s = "_" + self.name(out)
            acc = accumulated.get(eqn)
            if acc is not None:
                if no_loop:   # the reduction of one element is that element
                    w.emit(f"{s} = {np_type(out.aval.dtype)}({self.read(eqn.inputs[0], None, scalars)})")
                    scalars[out] = self.held[out] = s
                else:
                    self._emit_accumulate(acc, shape, scalars)
                continue
            expr = self._scalar_expr(eqn, loop_shape, scalars)
            w.emit(f"{s} = {expr}")
            scalars[out] = s
            if out not in stored:
                continue
            if no_loop:
                self.held[out] = s
            else:
                w.emit(f"{self.name(out)}[{self.broadcast_index(out.aval.shape, shape)}] = {s}")
        if not no_loop:
            w.close_loops(shape)
        for decl, loop_shape, body in after:   # float32 results of float64 accumulators
            if decl:
                self.alloc(decl)
            w.open_loops(loop_shape)
            w.emit(body)
            w.close_loops(loop_shape)

    # reductions inside a fused loop (their rules: lowering.reduction_lowering)
    def _acc_name(self, eqn) -> str:
        out = eqn.outputs[0]
        acc_dt = reduction_lowering[eqn.primitive].acc_dtype(out.aval.dtype)
        name = "_" + self.name(out) if is_scalar(out.aval) else self.name(out)
        return name if acc_dt == out.aval.dtype else name + "_acc"

    def _alloc_accumulator(self, eqn, after, shape=(), parallel=False):
        out = eqn.outputs[0]
        rule = reduction_lowering[eqn.primitive]
        dt = out.aval.dtype
        acc_dt = rule.acc_dtype(dt)
        acc = self._acc_name(eqn)
        if is_scalar(out.aval):   # one element: a scalar local, held after the loop
            init = rule.identity(acc_dt)
            init = init if init.startswith(np_type(acc_dt) + '(') else f'{np_type(acc_dt)}({init})'
            self.held[out] = "_" + self.name(out)
            n = shape[-1] if len(shape) >= 2 and not parallel else 0
            if LANES_MIN <= n <= LANES_MAX:
                lanes = Var(ShapedArray((n,), acc_dt))
                if self._hoists and self._hoists[-1].w is self.w:
                    self._hoists[-1].private.add(lanes)   # read within one iteration only
                self.lanes[eqn] = name = acc + "_lanes"
                self.alloc(lanes, fill=init, dtype=acc_dt, name=name)
                after.append((None, (), f"{acc} = {init}"))
                after.append((None, (n,), rule.update(acc, f"{name}[i0]")))
            else:
                self.w.emit(f"{acc} = {init}")
            if acc_dt != dt:
                after.append((None, (), f"_{self.name(out)} = {np_type(dt)}({acc})"))
            return
        self.alloc(out, fill=rule.identity(acc_dt), dtype=acc_dt, name=acc)
        if acc_dt != dt:
            shape = ishape(out.aval)
            idx = ", ".join(f"i{d}" for d in range(len(shape)))
            after.append((out, shape, f"{self.name(out)}[{idx}] = {np_type(dt)}({acc}[{idx}])"))

    def _emit_accumulate(self, acc, shape, scalars):
        eqn = acc.eqn
        out = eqn.outputs[0]
        x = eqn.inputs[0]
        axes, keepdims = acc.axes, acc.keepdims
        if is_scalar(out.aval):
            v = self.read(x, shape, scalars)
            target = self._acc_name(eqn)
            if eqn in self.lanes:
                target = f"{self.lanes[eqn]}[i{len(shape) - 1}]"
            self.w.emit(reduction_lowering[eqn.primitive].update(target, v))
            return
        if out.aval.shape == ():
            idx = "0"
        elif keepdims:
            idx = ", ".join("0" if d in axes else f"i{d}" for d in range(len(shape)))
        else:
            idx = ", ".join(f"i{d}" for d in range(len(shape)) if d not in axes)
        v = self.read(x, shape, scalars)
        self.w.emit(reduction_lowering[eqn.primitive].update(f"{self._acc_name(eqn)}[{idx}]", v))

    def _scalar_expr(self, eqn, shape, scalars) -> str:
        """An elementwise equation's output element (its rule: lowering.scalar_lowering)."""
        args = [self.read(a, shape, scalars) for a in eqn.inputs]
        return scalar_lowering[eqn.primitive](eqn, *args)

    # ------------------------------------------------------------------ allocations in loop bodies
    # An array a loop body allocates is allocated once, before the loop, when
    # no reference to it outlives its iteration (``private``); a loop carry the
    # body allocates gets two buffers before the loop, written in turn (the
    # carry read in an iteration is the other one), when no carry can be a
    # body input itself (which could keep a buffer alive for two iterations).
    # np.empty's contents are undefined: every rule fills what it allocates.

    def begin_loop_body(self, body: Program, carried) -> "_Hoist":
        """Called where the loop's header is about to be written; ``carried``:
        the body's outputs that outlive an iteration."""
        escaping = {a for a in carried if type(a) is Var}
        for eqn in reversed(body.eqns):   # what may share an array with what escapes
            if not any(o in escaping for o in eqn.outputs):
                continue
            if eqn.primitive in views_operand or eqn.primitive in updates_operand:
                if type(eqn.inputs[0]) is Var:
                    escaping.add(eqn.inputs[0])
            elif subprograms(eqn):   # a loop's or branch's result can be its operand
                escaping.update(a for a in eqn.inputs if type(a) is Var)
        defined = {o: e for e in body.eqns for o in e.outputs}
        double = set()
        if not escaping & set(body.in_vars):
            double = {a for a in carried if a in defined and not (
                defined[a].primitive in views_operand or defined[a].primitive in updates_operand
                or subprograms(defined[a]))}
        h = _Hoist(self.w, len(self.w.lines), self.w.depth, set(defined) - escaping, double)
        self._hoists.append(h)
        return h

    def end_loop_body(self, h: "_Hoist"):
        """Called after the body's carries are assigned, still inside the loop."""
        assert self._hoists[-1] is h
        self._hoists.pop()
        for name in h.swaps:
            self.w.emit(f"{name}_b0, {name}_b1 = {name}_b1, {name}_b0")

    def _emit_empty(self, v: Var, name: str, alloc: str):
        h = self._hoists[-1] if self._hoists else None
        if h is None or h.w is not self.w or name in h.hoisted or (
                v not in h.private and (v not in h.double or name != self.name(v))):
            self.w.emit(f"{name} = {alloc}")
            return
        h.hoisted.add(name)
        if v in h.private:
            self._insert_before_loop(h, [f"{name} = {alloc}  # hoisted"])
        else:
            self._insert_before_loop(h, [f"{name}_b0 = {alloc}  # carry buffers", f"{name}_b1 = {alloc}"])
            self.w.emit(f"{name} = {name}_b0")
            h.swaps.append(name)

    def _insert_before_loop(self, h: "_Hoist", lines):
        at = h.at
        h.w.lines[at:at] = ["    " * h.depth + line for line in lines]
        for other in self._hoists:   # the insertion points at or after this one move down
            if other.w is h.w and other.at >= at:
                other.at += len(lines)

    # ------------------------------------------------------------------ bodies of loops and branches
    # Used by the control-flow rules (lowering.py): bodies are emitted inline, their
    # inputs bound to the outer values without copies, loop carries held in the
    # equation's output variables.

    def new_id(self) -> int:
        self._ids += 1
        return self._ids

    def bind(self, var: Var, atom):
        """Make body input ``var`` stand for the outer ``atom``."""
        if not is_scalar(var.aval):
            self.names[var] = self.arr(atom)
        elif type(atom) is Var and atom in self.held:
            self.held[var] = self.held[atom]
        elif type(atom) is Literal:
            self.held[var] = self.literal(atom)
        else:
            local = "_" + self.name(var)
            self.w.emit(f"{local} = {self.scalar_of(atom)}")
            self.held[var] = local

    def bind_local(self, var: Var, local: str):
        if not is_scalar(var.aval):
            self.names[var] = local
        else:
            self.held[var] = local

    def carry_locals(self, outs, inits) -> list:
        """The outputs' locals, initialised from ``inits`` (no copy)."""
        locals_, values = [], []
        for o, a in zip(outs, inits):
            if not is_scalar(o.aval):
                locals_.append(self.name(o))
                values.append(self.arr(a))
            else:
                locals_.append("_" + self.name(o))
                values.append(f"{np_type(o.aval.dtype)}({self.scalar_of(a)})")
        self.assign(locals_, values)
        return locals_

    def result(self, atom, like: Var) -> str:
        """A body output as the value stored into a carry or result local."""
        if not is_scalar(like.aval):
            return self.arr(atom)
        return f"{np_type(like.aval.dtype)}({self.scalar_of(atom)})"

    def assign(self, targets, values):
        if len(targets) == 1:
            self.w.emit(f"{targets[0]} = {values[0]}")
        elif targets:   # one tuple assignment: a body may return its carries swapped
            self.w.emit(f"{', '.join(targets)} = {', '.join(values)}")

    def finish(self, outs, locals_):
        for o, local in zip(outs, locals_):
            if is_scalar(o.aval):
                self.held[o] = local
                self.materialized.discard(o)

    def scoped(self):
        """Arrays materialised inside a block exist only there."""
        saved = set(self.materialized)

        def restore():
            self.materialized = saved
        return restore

    def emit_body(self, program: Program):
        """The equations of a loop body or branch, as its fusion plan groups
        them; a large one compiled already as a call of its own function
        (``BODY_FUNCTION_EQNS``)."""
        if (BODY_FUNCTION_EQNS is not None and count_eqns(program) >= BODY_FUNCTION_EQNS
                and self.body_compiled(program)):
            self._emit_body_call(program)
            return
        plan = self.plan.plan_of(program) if self.plan is not None else None
        if plan is None:   # not a body of this program's equations: planned on its own
            plan = plan_fusion(program, parallel=self.parallel, parallel_min_elements=PARALLEL_MIN_ELEMENTS,
                               max_fused=MAX_FUSED, lookahead=LOOKAHEAD)
        self._emit_groups(plan.groups)


    def _emit_body_call(self, program: Program):
        """``program`` run by a call of the function generated for it alone
        (its inputs as that function takes them: 0-d ones as scalars; its
        outputs are new arrays, never its inputs), the results bound to its
        output variables."""
        k = len(self.body_functions)
        self.body_functions.append(program)
        args = [self.scalar_of(v) if not v.aval.shape else self.arr(v)
                for v in list(program.const_vars) + list(program.in_vars)]
        call = self.new_id()
        results = [f"r{call}_{j}" for j in range(len(program.out_atoms))]
        self.w.emit(f"{', '.join(results)}{',' if len(results) == 1 else ''} = _body_{k}({', '.join(args)})")
        bound = set(program.in_vars) | set(program.const_vars)
        for atom, local in zip(program.out_atoms, results):
            if type(atom) is not Var or atom in bound:
                continue      # a literal, or an input passed through: bound already
            bound.add(atom)
            if atom.aval.shape:
                self.names[atom] = local
                self.held.pop(atom, None)
            else:
                self.held[atom] = local


class _Hoist:
    """A loop body being emitted: where its allocations go (``w.lines[at]``, at ``depth``)."""

    def __init__(self, w, at, depth, private, double):
        self.w, self.at, self.depth = w, at, depth
        self.private, self.double = private, double
        self.hoisted: set[str] = set()
        self.swaps: list[str] = []


def count_eqns(program: Program) -> int:
    """Equations in ``program``, bodies of loops and branches included."""
    return sum(1 + sum(count_eqns(sub) for sub in subprograms(e)) for e in program.eqns)
