"""Program -> the Python source of ONE Numba function.

The generated function reads like code a careful person would write: its
variables carry the IR's names (as printed by ``make_ir``), one statement per
line, shapes as constants (a program is specialised to its input shapes).

- Runs of elementwise equations over one loop shape fuse into a single loop
  nest; values used only inside the run stay scalars (no temporaries).
  Broadcasting is an index expression. Reductions over that shape join the
  loop as accumulations into their (small) output.
- ``matmul`` calls BLAS ``gemm`` with its transpose flags (no transposed copy).
- Structural primitives (transpose, slice, pad, rev, concatenate, take,
  scatter_add, argmax) are plain loops: Numba compiles loops several times
  faster than array expressions or NumPy calls, and runs them as fast.

All arrays inside are C-contiguous; a 0-d value is held as a 1-element
array, and crosses the function's boundary (inputs and outputs) as a scalar.
The caller (``__init__.py``) makes array inputs contiguous.
"""
from __future__ import annotations

import keyword
from collections import defaultdict

import numpy as np

from ...core.ir import Literal, Program, Var, _names
from ...primitives.control import subprograms

ELEMENTWISE = {
    "neg", "exp", "log", "log1p", "expm1", "sqrt", "sin", "cos", "tan", "asin", "acos", "atan",
    "sinh", "cosh", "tanh", "logistic", "abs", "sign", "floor", "ceil", "round", "not", "is_finite",
    "integer_pow", "add", "sub", "mul", "div", "pow", "max", "min", "atan2", "rem", "floordiv",
    "and", "or", "xor", "lt", "le", "gt", "ge", "eq", "ne", "select", "convert_element_type",
    "stop_gradient", "broadcast_to", "iota", "shift_left", "shift_right_logical",
}
REDUCTIONS = {"reduce_sum", "reduce_max", "reduce_min", "reduce_prod"}
CONTROL = {"fori_loop", "while_loop", "scan", "switch"}   # bodies emitted inline as loops/branches

# Primitives with branch-free implementations in fastmath.py that LLVM vectorizes
# (libm's scalar calls do not vectorize).
FASTMATH = {"exp": "exp", "expm1": "expm1", "log": "log", "log1p": "log1p", "tanh": "tanh",
            "logistic": "logistic"}

MAX_FUSED = 64      # equations in one fused loop body (LLVM's cost is superlinear in a block's size)
LOOKAHEAD = 128     # equations searched past a fused run for more of its loop shape
CHUNK_EQNS = 200    # equations in one generated function, for large programs
PARALLEL_MIN_ELEMENTS = 1 << 17   # fused loops this large run on several threads (when enabled)

# error_model="numpy": IEEE floating-point division (x / 0 is inf or nan, as in
# NumPy and the interpreter) instead of Python's ZeroDivisionError, whose check
# on every division also kept LLVM from vectorizing loops that divide.
_NJIT_FLAGS = 'cache=True, nogil=True, error_model="numpy"'

_RESERVED = {"np", "range", "max", "min", "abs", "int", "float", "len", "fmax", "fmin", "sign"}

_NP_TYPES = {"float32": "np.float32", "float64": "np.float64", "float16": "np.float16",
             "int8": "np.int8", "int16": "np.int16", "int32": "np.int32", "int64": "np.int64",
             "uint8": "np.uint8", "uint16": "np.uint16", "uint32": "np.uint32", "uint64": "np.uint64",
             "bool": "np.bool_"}


def np_type(dtype) -> str:
    return _NP_TYPES[np.dtype(dtype).name]


def ishape(aval) -> tuple:
    """Internal shape: 0-d values are held as shape (1,)."""
    return aval.shape if aval.shape else (1,)


def _shape_src(shape) -> str:
    return "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"


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
        for d, n in enumerate(shape):
            loop = "prange" if parallel and d == 0 else "range"
            self.emit(f"for {prefix}{d} in {loop}({n}):")
            self.depth += 1
        if parallel:
            self.parallel = True

    def close_loops(self, shape):
        self.depth -= len(shape)


class CodeGenerator:
    """Writes the source of ``def <name>(<consts>, <inputs>): ... return (<outputs>,)``."""

    def __init__(self, program: Program, name: str = "program", parallel: bool = False):
        self.program = program
        self.fn_name = name
        self.parallel = parallel
        self.w = _Writer()
        self.constants: dict[str, str] = {}        # module-level name -> source
        self._literal_names: dict[tuple, str] = {}
        self.names: dict[Var, str] = {}
        self.consumers: dict[Var, set] = defaultdict(set)   # var -> equations reading it
        self.outputs: set[Var] = set()                       # outputs of the program or of a body
        self._walk(program, _names())
        self.index = {eqn: i for i, eqn in enumerate(program.eqns)}
        # 0-d values held in scalar locals rather than 1-element arrays: var -> local's name.
        # An array copy is made only when an array-consuming equation needs one.
        self.held: dict[Var, str] = {}
        self.materialized: set[Var] = set()
        self._ids = 0

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
        for eqn in program.eqns:
            for o in eqn.outputs:
                assign(o)
            for a in eqn.inputs:
                if type(a) is Var:
                    self.consumers[a].add(eqn)
            for sub in subprograms(eqn):
                self._walk(sub, gen)
        self.outputs.update(a for a in program.out_atoms if type(a) is Var)

    # ------------------------------------------------------------------ helpers
    def literal(self, lit: Literal) -> str:
        key = (lit.aval.dtype.name, repr(lit.value))
        name = self._literal_names.get(key)
        if name is None:
            name = f"K{len(self._literal_names)}"
            self._literal_names[key] = name
            self.constants[name] = _literal_src(lit.value, lit.aval.dtype)
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
        if loop_shape is None:    # a fused run without loops (its shape is (1,))
            return self.name(atom) + "[0]"
        return self.name(atom) + "[" + self.broadcast_index(atom.aval.shape, loop_shape) + "]"

    def scalar_of(self, atom) -> str:
        """Scalar expression of a 0-d atom."""
        if type(atom) is Literal:
            return self.literal(atom)
        held = self.held.get(atom)
        return held if held is not None else f"{self.name(atom)}[0]"

    def arr(self, atom) -> str:
        """Name of an array holding ``atom`` (0-d values held as scalars get a
        1-element array here, once per scope)."""
        if type(atom) is Literal:
            return f"np.full((1,), {self.literal(atom)})"
        held = self.held.get(atom)
        if held is None or atom in self.materialized:
            return self.name(atom)
        name = self.name(atom)
        self.w.emit(f"{name} = np.empty((1,), {np_type(atom.aval.dtype)})")
        self.w.emit(f"{name}[0] = {held}")
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
        self.w.emit(f"{name} = np.empty({_shape_src(shape)}, {dt})")
        if fill is not None:
            self.w.open_loops(shape)
            self.w.emit(f"{name}[{', '.join(f'i{d}' for d in range(len(shape)))}] = {fill}")
            self.w.close_loops(shape)

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
        chunks = [(i, min(i + CHUNK_EQNS, n)) for i in range(0, n, CHUNK_EQNS)] if n > CHUNK_EQNS else []
        parts = []
        if chunks:
            # Numba's and LLVM's cost grows faster than linearly with a function's
            # size: large programs become a sequence of chunk functions.
            self.w = prologue
            for k, (lo, hi) in enumerate(chunks):
                ins, outs = self._chunk_interface(lo, hi)
                in_names = ", ".join(self._iface(v) for v in ins)
                outer, saved = self.w, self.materialized
                self.w, self.materialized = _Writer(), set()
                self._emit_eqns(self.program.eqns, lo, hi)
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
            self._emit_eqns(self.program.eqns, 0, n)
        self._emit_return()
        header = [f"def {self.fn_name}({', '.join(params)}):"]
        main = (self.w.parallel, "\n".join(header + self.w.lines) + "\n")
        return "\n\n".join(
            (f"@njit({_NJIT_FLAGS}, parallel=True)\n" if par else f"@njit({_NJIT_FLAGS})\n") + part
            for par, part in parts + [main])

    def _emit_eqns(self, eqns, lo: int, hi: int):
        pulled: set[int] = set()    # equations already emitted inside an earlier fused loop
        i = lo
        while i < hi:
            if i in pulled:
                i += 1
                continue
            name = eqns[i].primitive.name
            if name in ELEMENTWISE or name in REDUCTIONS:
                i = self._fused_group(eqns, i, hi, pulled)
                continue
            getattr(self, "_emit_" + name)(eqns[i])
            i += 1

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
            elif a in inputs or a in seen or self._may_alias_input(a):
                outs.append(f"{self.name(a)}.copy()")  # outputs never alias inputs or each other
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
            name = producers[v].primitive.name
            if name in CONTROL:
                return True
            if name != "reshape":
                break
            v = producers[v].inputs[0]
            if type(v) is not Var:
                return False
        return v in inputs

    # ------------------------------------------------------------------ fusion
    def _loop_shape(self, eqn):
        if eqn.primitive.name in REDUCTIONS:
            return ishape(eqn.inputs[0].aval) if type(eqn.inputs[0]) is Var else (1,)
        return ishape(eqn.outputs[0].aval)

    def _fusable(self, eqn, shape, reduced_here) -> bool:
        name = eqn.primitive.name
        return ((name in ELEMENTWISE or name in REDUCTIONS) and self._loop_shape(eqn) == shape
                and not any(type(a) is Var and a in reduced_here for a in eqn.inputs))

    def _fused_group(self, eqns, start: int, stop: int, pulled: set) -> int:
        """Emit one fused loop: the run of fusable equations of one loop shape
        from ``start``, then later ones of that shape whose inputs are ready
        (pulled forward past the equations between: programs apply one
        operation to every leaf of a pytree in turn, so one leaf's chain of
        operations is spread out). Returns where the run stopped."""
        shape = self._loop_shape(eqns[start])
        members, reduced_here = [], set()

        def take(i, eqn):
            members.append((i, eqn))
            if eqn.primitive.name in REDUCTIONS:
                reduced_here.update(eqn.outputs)

        i = start
        while i < stop and len(members) < MAX_FUSED:
            if i in pulled:
                i += 1
                continue
            if not self._fusable(eqns[i], shape, reduced_here):
                break
            take(i, eqns[i])
            i += 1
        waiting = set()    # outputs of the equations passed over: not computed yet
        for j in range(i, min(stop, i + LOOKAHEAD)):
            if len(members) >= MAX_FUSED:
                break
            if j in pulled:
                continue
            eqn = eqns[j]
            if self._fusable(eqn, shape, reduced_here) and not any(
                    type(a) is Var and a in waiting for a in eqn.inputs):
                take(j, eqn)
                pulled.add(j)
            else:
                waiting.update(eqn.outputs)
        self._emit_group(members, shape)
        return i

    def _emit_group(self, members, shape):
        w = self.w
        member_eqns = {eqn for _, eqn in members}
        # A run over one element whose reductions give 0-d results needs no loop:
        # its 0-d values stay scalar locals (loop bodies of scalar code allocate nothing).
        no_loop = shape == (1,) and all(
            not e.outputs[0].aval.shape for _, e in members if e.primitive.name in REDUCTIONS) and not any(
            e.primitive.name == "iota" for _, e in members)
        scalars: dict[Var, str] = {}
        after: list[str] = []

        def needed_outside(out):
            return out in self.outputs or any(c not in member_eqns for c in self.consumers[out])

        # arrays the loop stores into: values used outside the run, and reduction outputs
        for i, eqn in members:
            out = eqn.outputs[0]
            if no_loop and not out.aval.shape:
                continue
            if eqn.primitive.name in REDUCTIONS:
                self._alloc_accumulator(eqn, after)
            elif needed_outside(out):
                self.alloc(out)
        w.emit(f"# fused: {', '.join(e.primitive.name for _, e in members)}")
        if not no_loop:
            w.open_loops(shape, parallel=self._parallel_loop(members, shape))
        loop_shape = None if no_loop else shape
        for i, eqn in members:
            out = eqn.outputs[0]
            name = eqn.primitive.name
            s = "_" + self.name(out)
            if name in REDUCTIONS:
                if no_loop:   # the reduction of one element is that element
                    w.emit(f"{s} = {np_type(out.aval.dtype)}({self.read(eqn.inputs[0], None, scalars)})")
                    scalars[out] = self.held[out] = s
                else:
                    self._emit_accumulate(eqn, shape, scalars)
                continue
            expr = self._scalar_expr(eqn, loop_shape, scalars)
            w.emit(f"{s} = {expr}")
            scalars[out] = s
            if not needed_outside(out):
                continue
            if no_loop and not out.aval.shape:
                self.held[out] = s
            elif no_loop:
                w.emit(f"{self.name(out)}[0] = {s}")
            else:
                w.emit(f"{self.name(out)}[{self.broadcast_index(out.aval.shape, shape)}] = {s}")
        if not no_loop:
            w.close_loops(shape)
        for decl, loop_shape, body in after:   # float32 results of float64 accumulators
            w.emit(decl)
            w.open_loops(loop_shape)
            w.emit(body)
            w.close_loops(loop_shape)

    def _parallel_loop(self, members, shape) -> bool:
        """Split the outer loop across threads when the loop is large and no two
        iterations of it write the same element (reductions keep axis 0)."""
        if not self.parallel or shape[0] < 2 or int(np.prod(shape)) < PARALLEL_MIN_ELEMENTS:
            return False
        for _, eqn in members:
            if eqn.primitive.name in REDUCTIONS and (0 in eqn.params["axes"]
                                                     or not eqn.outputs[0].aval.shape):
                return False
        return True

    # reductions inside a fused loop
    _INIT = {"reduce_sum": "0", "reduce_prod": "1"}

    def _acc_dtype(self, eqn):
        dt = eqn.outputs[0].aval.dtype
        if eqn.primitive.name in ("reduce_sum", "reduce_prod") and dt == np.float32:
            return np.dtype(np.float64)  # accumulate float32 sums in float64
        return dt

    def _alloc_accumulator(self, eqn, after):
        out = eqn.outputs[0]
        name = eqn.primitive.name
        acc_dt = self._acc_dtype(eqn)
        dt = out.aval.dtype
        if name == "reduce_sum":
            fill = 0
        elif name == "reduce_prod":
            fill = 1
        elif dt.kind == "f":
            fill = "-np.inf" if name == "reduce_max" else "np.inf"
        else:
            info = np.iinfo(dt) if dt.kind in "iu" else None
            fill = str(info.min if name == "reduce_max" else info.max) if info else ("False" if name == "reduce_max" else "True")
        acc = self.name(out) if acc_dt == dt else self.name(out) + "_acc"
        self.alloc(out, fill=fill if isinstance(fill, str) else f"{np_type(acc_dt)}({fill})",
                   dtype=acc_dt, name=acc)
        if acc_dt != dt:
            shape = ishape(out.aval)
            idx = ", ".join(f"i{d}" for d in range(len(shape)))
            after.append((f"{self.name(out)} = np.empty({_shape_src(shape)}, {np_type(dt)})", shape,
                          f"{self.name(out)}[{idx}] = {np_type(dt)}({acc}[{idx}])"))

    def _emit_accumulate(self, eqn, shape, scalars):
        out = eqn.outputs[0]
        x = eqn.inputs[0]
        axes, keepdims = eqn.params["axes"], eqn.params["keepdims"]
        acc = self.name(out) if self._acc_dtype(eqn) == out.aval.dtype else self.name(out) + "_acc"
        if out.aval.shape == ():
            idx = "0"
        elif keepdims:
            idx = ", ".join("0" if d in axes else f"i{d}" for d in range(len(shape)))
        else:
            idx = ", ".join(f"i{d}" for d in range(len(shape)) if d not in axes)
        v = self.read(x, shape, scalars)
        target = f"{acc}[{idx}]"
        op = eqn.primitive.name
        if op == "reduce_sum":
            self.w.emit(f"{target} += {v}")
        elif op == "reduce_prod":
            self.w.emit(f"{target} *= {v}")
        elif op == "reduce_max":
            self.w.emit(f"{target} = fmax({target}, {v})")
        else:
            self.w.emit(f"{target} = fmin({target}, {v})")

    # scalar expressions of elementwise primitives
    def _scalar_expr(self, eqn, shape, scalars) -> str:
        name = eqn.primitive.name
        out_dt = eqn.outputs[0].aval.dtype
        if name == "iota":
            return f"{np_type(out_dt)}(i{eqn.params['dimension']})"
        args = [self.read(a, shape, scalars) for a in eqn.inputs]
        if name == "broadcast_to" or name == "stop_gradient":
            return args[0]
        a = args[0]
        b = args[1] if len(args) > 1 else None
        in_dt = eqn.inputs[0].aval.dtype
        simple = {
            "neg": f"-{a}", "exp": f"np.exp({a})", "log": f"np.log({a})", "log1p": f"np.log1p({a})",
            "expm1": f"np.expm1({a})", "sqrt": f"np.sqrt({a})", "sin": f"np.sin({a})",
            "cos": f"np.cos({a})", "tan": f"np.tan({a})", "asin": f"np.arcsin({a})",
            "acos": f"np.arccos({a})", "atan": f"np.arctan({a})", "sinh": f"np.sinh({a})",
            "cosh": f"np.cosh({a})", "tanh": f"np.tanh({a})", "logistic": f"logistic({a})",
            "abs": f"abs({a})", "sign": f"sign({a})", "floor": f"np.floor({a})",
            "ceil": f"np.ceil({a})", "round": f"rint({a})", "is_finite": f"np.isfinite({a})",
            "add": f"{a} + {b}", "sub": f"{a} - {b}", "mul": f"{a} * {b}", "div": f"{a} / {b}",
            "pow": f"{a} ** {b}", "max": f"fmax({a}, {b})", "min": f"fmin({a}, {b})",
            "atan2": f"np.arctan2({a}, {b})", "lt": f"{a} < {b}", "le": f"{a} <= {b}",
            "gt": f"{a} > {b}", "ge": f"{a} >= {b}", "eq": f"{a} == {b}", "ne": f"{a} != {b}",
        }
        sfx = {"float32": "f32", "float64": "f64"}.get(in_dt.name)
        if name in FASTMATH and sfx:
            expr = f"{FASTMATH[name]}_{sfx}({a})"   # vectorizable, <= 2 ulp (fastmath.py)
        elif name in simple:
            expr = simple[name]
        elif name == "rem":
            expr = f"remainder_{'float' if in_dt.kind == 'f' else 'int'}({a}, {b})"
        elif name == "floordiv":
            expr = f"floordiv_{'float' if in_dt.kind == 'f' else 'int'}({a}, {b})"
        elif name in ("shift_left", "shift_right_logical"):
            # Numba computes uint32 arithmetic in 64 bits: cast the operand and the
            # result back; shifts by the width or more give 0 (LLVM leaves them undefined)
            t, op = np_type(out_dt), "<<" if name == "shift_left" else ">>"
            return f"({t}({t}({a}) {op} {b}) if {b} < {t}({in_dt.itemsize * 8}) else {t}(0))"
        elif name == "not":
            expr = f"not {a}" if in_dt == bool else f"~{a}"
        elif name in ("and", "or", "xor"):
            op = {"and": "&", "or": "|", "xor": "^"}[name]
            expr = f"{a} {op} {b}"
        elif name == "select":
            return f"{args[1]} if {a} else {args[2]}"
        elif name == "convert_element_type":
            if out_dt == bool:
                return f"{a} != 0"
            return f"{np_type(out_dt)}({a})"
        elif name == "integer_pow":
            n = eqn.params["y"]
            if n == 0:
                return f"{np_type(out_dt)}(1)"
            base = " * ".join([a] * abs(n)) if abs(n) <= 4 else f"{a} ** {abs(n)}"
            expr = f"{np_type(out_dt)}(1) / ({base})" if n < 0 else base
        else:  # pragma: no cover - every ELEMENTWISE name is handled above
            raise NotImplementedError(name)
        # Operands and literals already have the output's dtype, so Numba keeps it;
        # ** and sign (scalar.sign adds an integer 1) can widen float32 to float64.
        if out_dt.kind == "f" and name in ("pow", "sign"):
            return f"{np_type(out_dt)}({expr})"
        return expr

    # ------------------------------------------------------------------ control flow
    # Bodies are emitted inline. A body's inputs are not copied: array inputs are
    # renamed to the arrays they stand for, 0-d inputs read the scalar locals.
    # Loop carries live in the equation's output variables (arrays, or scalar
    # locals for 0-d values), updated by one tuple assignment per iteration.

    def _new_id(self) -> int:
        self._ids += 1
        return self._ids

    def _bind(self, var: Var, atom):
        """Make body input ``var`` stand for the outer ``atom``."""
        if var.aval.shape:
            self.names[var] = self.arr(atom)
        elif type(atom) is Var and atom in self.held:
            self.held[var] = self.held[atom]
        elif type(atom) is Literal:
            self.held[var] = self.literal(atom)
        else:
            local = "_" + self.name(var)
            self.w.emit(f"{local} = {self.scalar_of(atom)}")
            self.held[var] = local

    def _bind_local(self, var: Var, local: str):
        if var.aval.shape:
            self.names[var] = local
        else:
            self.held[var] = local

    def _carry_locals(self, outs, inits) -> list:
        """The outputs' locals, initialised from ``inits`` (no copy)."""
        locals_, values = [], []
        for o, a in zip(outs, inits):
            if o.aval.shape:
                locals_.append(self.name(o))
                values.append(self.arr(a))
            else:
                locals_.append("_" + self.name(o))
                values.append(f"{np_type(o.aval.dtype)}({self.scalar_of(a)})")
        self._assign(locals_, values)
        return locals_

    def _result(self, atom, like: Var) -> str:
        """A body output as the value stored into a carry or result local."""
        if like.aval.shape:
            return self.arr(atom)
        return f"{np_type(like.aval.dtype)}({self.scalar_of(atom)})"

    def _assign(self, targets, values):
        if len(targets) == 1:
            self.w.emit(f"{targets[0]} = {values[0]}")
        elif targets:   # one tuple assignment: a body may return its carries swapped
            self.w.emit(f"{', '.join(targets)} = {', '.join(values)}")

    def _finish(self, outs, locals_):
        for o, local in zip(outs, locals_):
            if not o.aval.shape:
                self.held[o] = local
                self.materialized.discard(o)

    def _scoped(self):
        """Arrays materialised inside a block exist only there."""
        saved = set(self.materialized)

        def restore():
            self.materialized = saved
        return restore

    def _emit_body(self, program: Program):
        self._emit_eqns(program.eqns, 0, len(program.eqns))

    def _emit_fori_loop(self, eqn):
        body, nc = eqn.params["body"], eqn.params["num_consts"]
        lo, hi, *rest = eqn.inputs
        consts, inits = rest[:nc], rest[nc:]
        k = self._new_id()
        self.w.emit(f"# fori_loop {k}")
        carry = self._carry_locals(eqn.outputs, inits)
        restore = self._scoped()
        for v, a in zip(body.in_vars[:nc], consts):
            self._bind(v, a)
        self.w.emit(f"for it{k}_ in range({self.scalar_of(lo)}, {self.scalar_of(hi)}):")
        self.w.depth += 1
        index = body.in_vars[nc]
        self._bind_local(index, f"{np_type(index.aval.dtype)}(it{k}_)")
        for v, local in zip(body.in_vars[nc + 1:], carry):
            self._bind_local(v, local)
        self._emit_body(body)
        self._assign(carry, [self._result(a, o) for a, o in zip(body.out_atoms, eqn.outputs)])
        self.w.depth -= 1
        restore()
        self._finish(eqn.outputs, carry)

    def _emit_while_loop(self, eqn):
        cond, body = eqn.params["cond"], eqn.params["body"]
        ncc, nbc = eqn.params["cond_nconsts"], eqn.params["body_nconsts"]
        cond_consts = eqn.inputs[:ncc]
        body_consts = eqn.inputs[ncc:ncc + nbc]
        inits = eqn.inputs[ncc + nbc:]
        k = self._new_id()
        self.w.emit(f"# while_loop {k}")
        carry = self._carry_locals(eqn.outputs, inits)
        restore = self._scoped()
        for v, a in zip(cond.in_vars[:ncc], cond_consts):
            self._bind(v, a)
        for v, a in zip(body.in_vars[:nbc], body_consts):
            self._bind(v, a)
        self.w.emit("while True:")
        self.w.depth += 1
        for v, local in zip(cond.in_vars[ncc:], carry):
            self._bind_local(v, local)
        self._emit_body(cond)
        self.w.emit(f"if not {self.scalar_of(cond.out_atoms[0])}:")
        self.w.emit("    break")
        for v, local in zip(body.in_vars[nbc:], carry):
            self._bind_local(v, local)
        self._emit_body(body)
        self._assign(carry, [self._result(a, o) for a, o in zip(body.out_atoms, eqn.outputs)])
        self.w.depth -= 1
        restore()
        self._finish(eqn.outputs, carry)

    def _emit_scan(self, eqn):
        body = eqn.params["body"]
        nc, ncar = eqn.params["num_consts"], eqn.params["num_carry"]
        length, reverse = eqn.params["length"], eqn.params["reverse"]
        consts = eqn.inputs[:nc]
        inits = eqn.inputs[nc:nc + ncar]
        xs = eqn.inputs[nc + ncar:]
        carry_outs, ys = eqn.outputs[:ncar], eqn.outputs[ncar:]
        k = self._new_id()
        self.w.emit(f"# scan {k}")
        carry = self._carry_locals(carry_outs, inits)
        for y in ys:
            self.alloc(y)
        restore = self._scoped()
        for v, a in zip(body.in_vars[:nc], consts):
            self._bind(v, a)
        x_arrays = [self.arr(x) for x in xs]
        self.w.emit(f"for t{k}_ in range({length}):")
        self.w.depth += 1
        at = f"ix{k}_"
        self.w.emit(f"{at} = {length - 1} - t{k}_" if reverse else f"{at} = t{k}_")
        for v, local in zip(body.in_vars[nc:nc + ncar], carry):
            self._bind_local(v, local)
        for v, x in zip(body.in_vars[nc + ncar:], x_arrays):
            local = self.name(v) if v.aval.shape else "_" + self.name(v)
            self.w.emit(f"{local} = {x}[{at}]")
            self._bind_local(v, local)
        self._emit_body(body)
        for y, atom in zip(ys, body.out_atoms[ncar:]):
            inner = y.aval.shape[1:]
            if not inner:
                self.w.emit(f"{self.name(y)}[{at}] = {self.scalar_of(atom)}")
                continue
            src = self.arr(atom)
            self.w.open_loops(inner)
            idx = ", ".join(f"i{d}" for d in range(len(inner)))
            self.w.emit(f"{self.name(y)}[{at}, {idx}] = {src}[{idx}]")
            self.w.close_loops(inner)
        self._assign(carry, [self._result(a, o) for a, o in zip(body.out_atoms[:ncar], carry_outs)])
        self.w.depth -= 1
        restore()
        self._finish(carry_outs, carry)

    def _emit_switch(self, eqn):
        branches = eqn.params["branches"]
        index, *operands = eqn.inputs
        k = self._new_id()
        self.w.emit(f"# switch {k}")
        locals_ = [self.name(o) if o.aval.shape else "_" + self.name(o) for o in eqn.outputs]
        op_arrays = [self.arr(a) if a.aval.shape else None for a in operands]
        idx = f"br{k}_"
        self.w.emit(f"{idx} = {self.scalar_of(index)}")
        last = len(branches) - 1
        for b, program in enumerate(branches):
            if b == last:
                self.w.emit("else:" if last else "if True:")
            else:
                self.w.emit(f"{'if' if b == 0 else 'elif'} {idx} {'<=' if b == 0 else '=='} {b}:")
            self.w.depth += 1
            restore = self._scoped()
            for v, a, array in zip(program.in_vars, operands, op_arrays):
                if array is not None:
                    self.names[v] = array
                else:
                    self._bind(v, a)
            self._emit_body(program)
            self._assign(locals_, [self._result(a, o) for a, o in zip(program.out_atoms, eqn.outputs)])
            restore()
            self.w.depth -= 1
        self._finish(eqn.outputs, locals_)

    # ------------------------------------------------------------------ standalone primitives
    def _emit_reshape(self, eqn):
        x, out = eqn.inputs[0], eqn.outputs[0]
        src = self.arr(x)
        self.w.emit(f"{self.name(out)} = {src}.reshape({_shape_src(ishape(out.aval))})")

    def _emit_matmul(self, eqn):
        a, b = eqn.inputs
        out = eqn.outputs[0]
        ta, tb = eqn.params["transpose_a"], eqn.params["transpose_b"]
        dt = out.aval.dtype
        fn = {"float32": "gemm_f32", "float64": "gemm_f64"}.get(dt.name, "gemm_loops")
        A, B = self.arr(a), self.arr(b)
        self.alloc(out)
        C = self.name(out)
        batch = out.aval.shape[:-2]
        ta_s, tb_s = str(ta), str(tb)
        if not batch:
            self.w.emit(f"{fn}({ta_s}, {tb_s}, {A}, {B}, {C})")
            return
        nb = int(np.prod(batch))
        sa, sb, sc = a.aval.shape[-2:], b.aval.shape[-2:], out.aval.shape[-2:]
        self.w.emit(f"{A}_3 = {A}.reshape({_shape_src((nb,) + sa)})")
        self.w.emit(f"{B}_3 = {B}.reshape({_shape_src((nb,) + sb)})")
        self.w.emit(f"{C}_3 = {C}.reshape({_shape_src((nb,) + sc)})")
        self.w.emit(f"for ib_ in range({nb}):")
        self.w.emit(f"    {fn}({ta_s}, {tb_s}, {A}_3[ib_], {B}_3[ib_], {C}_3[ib_])")

    def _copy_loop(self, out, src_index_of, src_name, shape=None):
        """out[i...] = src[src_index_of(i...)] over out's shape."""
        shape = shape or ishape(out.aval)
        self.alloc(out)
        self.w.open_loops(shape)
        dst = ", ".join(f"i{d}" for d in range(len(shape)))
        self.w.emit(f"{self.name(out)}[{dst}] = {src_name}[{src_index_of()}]")
        self.w.close_loops(shape)

    def _emit_transpose(self, eqn):
        x, out = eqn.inputs[0], eqn.outputs[0]
        perm = eqn.params["permutation"]
        inv = [0] * len(perm)
        for k, p in enumerate(perm):
            inv[p] = k
        self._copy_loop(out, lambda: ", ".join(f"i{inv[d]}" for d in range(len(perm))), self.arr(x))

    def _emit_slice(self, eqn):
        x, out = eqn.inputs[0], eqn.outputs[0]
        starts, strides = eqn.params["starts"], eqn.params["strides"]

        def idx():
            return ", ".join(
                (f"{b} + i{d}" if s == 1 else f"{b} + i{d} * {s}") if b else (f"i{d}" if s == 1 else f"i{d} * {s}")
                for d, (b, s) in enumerate(zip(starts, strides)))
        if not out.aval.shape:
            self._copy_loop(out, lambda: "0", self.arr(x))
        else:
            self._copy_loop(out, idx, self.arr(x))

    def _emit_rev(self, eqn):
        x, out = eqn.inputs[0], eqn.outputs[0]
        axes = eqn.params["axes"]
        shape = out.aval.shape
        self._copy_loop(out, lambda: ", ".join(f"{shape[d] - 1} - i{d}" if d in axes else f"i{d}"
                                               for d in range(len(shape))), self.arr(x))

    def _emit_pad(self, eqn):
        x, out = eqn.inputs[0], eqn.outputs[0]
        low, interior = eqn.params["low"], eqn.params["interior"]
        self.alloc(out, fill=f"{np_type(out.aval.dtype)}(0)")
        shape = ishape(x.aval)
        if not x.aval.shape:
            self.w.emit(f"{self.name(out)}[0] = {self.scalar_of(x)}")
            return
        self.w.open_loops(shape)
        dst = ", ".join(f"{l} + i{d} * {i + 1}" for d, (l, i) in enumerate(zip(low, interior)))
        src = ", ".join(f"i{d}" for d in range(len(shape)))
        self.w.emit(f"{self.name(out)}[{dst}] = {self.arr(x)}[{src}]")
        self.w.close_loops(shape)

    def _emit_concatenate(self, eqn):
        out = eqn.outputs[0]
        axis = eqn.params["axis"]
        self.alloc(out)
        offset = 0
        for x in eqn.inputs:
            shape = x.aval.shape
            if 0 in shape:
                continue
            src = self.read_array(x)
            self.w.open_loops(shape)
            dst = ", ".join(f"{offset} + i{d}" if d == axis and offset else f"i{d}" for d in range(len(shape)))
            self.w.emit(f"{self.name(out)}[{dst}] = {src}[{', '.join(f'i{d}' for d in range(len(shape)))}]")
            self.w.close_loops(shape)
            offset += shape[axis]

    def read_array(self, atom) -> str:
        return self.arr(atom)

    def _gather_indices(self, x, idx, axis, loop_prefix="i"):
        """Index expressions into x for a loop over take's output shape."""
        n_idx = len(idx.aval.shape)
        idx_ix = ", ".join(f"i{axis + k}" for k in range(n_idx)) if n_idx else "0"
        pre = [f"i{d}" for d in range(axis)]
        post = [f"i{axis + n_idx + d}" for d in range(len(x.aval.shape) - axis - 1)]
        return idx_ix, pre, post

    def _emit_take(self, eqn):
        x, idx = eqn.inputs
        out = eqn.outputs[0]
        axis = eqn.params["axis"]
        n = x.aval.shape[axis]
        idx_ix, pre, post = self._gather_indices(x, idx, axis)
        X = self.arr(x)
        if not out.aval.shape:   # one element of a vector: a scalar local
            local = "_" + self.name(out)
            self.w.emit(f"{local} = {X}[min(max({self.scalar_of(idx)}, 0), {n - 1})]")
            self.held[out] = local
            return
        I = self.read_array(idx)
        self.alloc(out)
        shape = ishape(out.aval)
        self.w.open_loops(shape)
        self.w.emit(f"j_ = min(max({I}[{idx_ix}], 0), {n - 1})")
        dst = ", ".join(f"i{d}" for d in range(len(shape)))
        self.w.emit(f"{self.name(out)}[{dst}] = {X}[{', '.join(pre + ['j_'] + post)}]")
        self.w.close_loops(shape)

    def _emit_scatter_add(self, eqn):
        operand, idx, updates = eqn.inputs
        out = eqn.outputs[0]
        axis = eqn.params["axis"]
        n = operand.aval.shape[axis]
        fill_shape = ishape(out.aval)
        ix = ", ".join(f"i{d}" for d in range(len(fill_shape)))
        I, U = self.read_array(idx), self.read_array(updates)
        self.alloc(out, fill=f"{self.arr(operand)}[{ix}]" if type(operand) is Var else self.literal(operand))
        idx_ix, pre, post = self._gather_indices(operand, idx, axis)
        shape = updates.aval.shape
        # out-of-range indices drop their updates (XLA's scatter; take clamps instead)
        if not shape or 0 in shape:
            if not shape:
                self.w.emit(f"j_ = {I}[0]")
                self.w.emit(f"if 0 <= j_ < {n}: {self.name(out)}[j_] += {U}[0]")
            return
        self.w.open_loops(shape)
        self.w.emit(f"j_ = {I}[{idx_ix}]")
        src = ", ".join(f"i{d}" for d in range(len(shape)))
        self.w.emit(f"if 0 <= j_ < {n}: {self.name(out)}[{', '.join(pre + ['j_'] + post)}] += {U}[{src}]")
        self.w.close_loops(shape)

    def _emit_argmax(self, eqn, better=">"):
        x, out = eqn.inputs[0], eqn.outputs[0]
        axis = eqn.params["axis"]
        xs = x.aval.shape
        outer = tuple(d for i, d in enumerate(xs) if i != axis) or (1,)
        X = self.arr(x)
        self.alloc(out)
        names = [f"i{d}" for d in range(len(outer))]
        self.w.open_loops(outer)
        others = iter(names)
        src = ", ".join("k_" if d == axis else next(others) for d in range(len(xs)))
        src0 = src.replace("k_", "0")
        self.w.emit(f"best_ = {X}[{src0}]")
        self.w.emit("arg_ = 0")
        self.w.emit(f"for k_ in range(1, {xs[axis]}):")
        self.w.emit(f"    v_ = {X}[{src}]")
        self.w.emit(f"    if v_ {better} best_ or (v_ != v_ and best_ == best_):")
        self.w.emit("        best_ = v_")
        self.w.emit("        arg_ = k_")
        if not out.aval.shape:
            dst = "0"
        elif eqn.params["keepdims"]:
            others = iter(names)
            dst = ", ".join("0" if d == axis else next(others) for d in range(len(xs)))
        else:
            dst = ", ".join(names)
        self.w.emit(f"{self.name(out)}[{dst}] = arg_")
        self.w.close_loops(outer)

    def _emit_argmin(self, eqn):
        self._emit_argmax(eqn, better="<")

    def _emit_threefry2x32(self, eqn):
        # one Threefry-2x32 encryption per element (scalar.threefry2x32, which casts every
        # step to uint32 so that the bits equal the NumPy implementation's)
        self.constants["threefry2x32"] = ('__import__("funcgrad.backends.numba_backend.scalar", '
                                          'fromlist=["threefry2x32"]).threefry2x32')
        y0, y1 = eqn.outputs
        shape = ishape(y0.aval)
        args = [self.read(a, shape, {}) for a in eqn.inputs]
        self.alloc(y0)
        self.alloc(y1)
        self.w.emit("# threefry2x32")
        self.w.open_loops(shape)
        dst = ", ".join(f"i{d}" for d in range(len(shape)))
        self.w.emit(f"{self.name(y0)}[{dst}], {self.name(y1)}[{dst}] = threefry2x32({', '.join(args)})")
        self.w.close_loops(shape)

    def _emit_argsort(self, eqn):
        # a stable merge sort along the last axis (scalar.argsort_stable), one row at a time
        self.constants["argsort_stable"] = ('__import__("funcgrad.backends.numba_backend.scalar", '
                                            'fromlist=["argsort_stable"]).argsort_stable')
        x, out = eqn.inputs[0], eqn.outputs[0]
        X = self.arr(x)
        self.alloc(out)
        outer = x.aval.shape[:-1]
        if not outer:
            self.w.emit(f"argsort_stable({X}, {self.name(out)})")
            return
        self.w.open_loops(outer)
        idx = ", ".join(f"i{d}" for d in range(len(outer)))
        self.w.emit(f"argsort_stable({X}[{idx}], {self.name(out)}[{idx}])")
        self.w.close_loops(outer)


def unsupported(program: Program):
    """Names of primitives in ``program`` (bodies included) this generator cannot compile."""
    names = set()
    for e in program.eqns:
        n = e.primitive.name
        if n not in ELEMENTWISE and n not in REDUCTIONS and not hasattr(CodeGenerator, "_emit_" + n):
            names.add(n)
        for sub in subprograms(e):
            names |= unsupported(sub)
    return names


def count_eqns(program: Program) -> int:
    """Equations in ``program``, bodies of loops and branches included."""
    return sum(1 + sum(count_eqns(sub) for sub in subprograms(e)) for e in program.eqns)
