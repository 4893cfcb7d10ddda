"""Fusion planning: which equations of a program share one loop nest.

:func:`plan_fusion` reads a Program and returns a :class:`FusionPlan`, plain
data that a code generator renders (the Numba backend's ``codegen.py`` does;
a GPU backend can render the same plan). The plan is not a pass of the
pipeline (it does not rewrite the program) and knows no backend's source: it
knows only which primitives are elementwise and which are reductions
(:data:`ELEMENTWISE`, :data:`REDUCTIONS`), and the program's shapes.

Every equation is in exactly one :class:`FusionGroup`, and the groups are in
an order the program may run in (each group reads only what earlier groups,
or its own earlier members, define):

- ``"elementwise"``: elementwise equations over one loop shape (their output
  shape; broadcasting is the operands' index). Their values used only inside
  the group need no array: a backend keeps them in registers.
- ``"reduction"``: the same, with reductions over that shape (their operand's
  shape) accumulated inside the loop into their small outputs
  (:class:`Accumulator`). No member reads an accumulator of its own group.
- ``"single"``: any other equation (matmul, structural, indexing, control
  flow), written by its own rule. The plans of its bodies (loops, branches)
  are ``bodies``, planned the same way.

A fused group starts at an equation and takes the run of fusable equations of
its loop shape that follows, then later ones of that shape whose inputs are
ready and that are related to it (pulled forward past the equations between:
programs apply one operation to every leaf of a pytree in turn, so a leaf's
chain of operations is spread out), ``max_fused`` members at most, looking
``lookahead`` equations past the run. Related: reading a value the group
reads or computes, or an equation that reads only the program's inputs and
literals and is read by such a one. Equal loop shapes alone never pull an
equation in, so the plan follows the computation and not a coincidence of
sizes (a batch of 64 and a 64 x 128 weight): programs that differ only in
sizes get the same plan, and share compiled code (``numba_backend/lift.py``).

Loop shapes: a 0-d value loops over shape ``(1,)``; a group whose loop has
one element (and no member reading its index, :data:`READS_INDEX`) is
``loop_free``: its values are scalars and it needs no loop at all.

Threads: a group is ``parallel_ok`` when its outer axis has several
iterations and no member accumulates across that axis (each iteration writes
its own elements). With ``parallel=True`` the plan splits the outer loop of
groups of ``parallel_min_elements`` elements or more (``group.parallel``), and
keeps reductions over the outer axis out of such groups (they get a loop nest
of their own rather than making a large loop serial).

``print(plan)`` lists the groups, their loop shapes, members (named as the IR
printer names them) and accumulators; ``fg.jit(f).lower(*args).fusion_plan``
is the plan of a jitted function's IR.
"""
from __future__ import annotations

import math
from bisect import bisect_left
from collections import defaultdict
from dataclasses import dataclass, field

from ..core.ir import Eqn, Literal, Program, Var, _format_param, _names, subprograms
from ..primitives.bitwise import shift_left_p, shift_right_logical_p
from ..primitives.elementwise import (abs_p, acos_p, add_p, and_p, asin_p, atan2_p, atan_p, ceil_p, convert_p,
                                      cos_p, cosh_p, div_p, eq_p, exp_p, expm1_p, floor_p, floordiv_p, ge_p,
                                      gt_p, integer_pow_p, isfinite_p, le_p, log1p_p, log_p, logistic_p, lt_p,
                                      max_p, min_p, mul_p, ne_p, neg_p, not_p, or_p, pow_p, rem_p, round_p,
                                      select_p, sign_p, sin_p, sinh_p, sqrt_p, stop_gradient_p, sub_p, tan_p,
                                      tanh_p, xor_p)
from ..primitives.reduction import reduce_max_p, reduce_min_p, reduce_prod_p, reduce_sum_p
from ..primitives.linalg import matmul_p
from ..primitives.shape import broadcast_to_p, iota_p, reshape_p, transpose_p

__all__ = ["plan_fusion", "FusionPlan", "FusionGroup", "Accumulator", "ELEMENTWISE", "REDUCTIONS",
           "READS_INDEX", "MAX_FUSED", "LOOKAHEAD"]

# Primitives whose output element is a function of the operands' elements at
# the same index (operands broadcast to the output's shape): they fuse.
ELEMENTWISE = frozenset({
    neg_p, exp_p, log_p, log1p_p, expm1_p, sqrt_p, sin_p, cos_p, tan_p, asin_p, acos_p, atan_p, sinh_p, cosh_p,
    tanh_p, logistic_p, abs_p, sign_p, floor_p, ceil_p, round_p, not_p, isfinite_p, integer_pow_p,
    add_p, sub_p, mul_p, div_p, pow_p, max_p, min_p, atan2_p, rem_p, floordiv_p, and_p, or_p, xor_p,
    lt_p, le_p, gt_p, ge_p, eq_p, ne_p, select_p, convert_p, stop_gradient_p,
    broadcast_to_p,                     # the operand read at a broadcast index
    iota_p,                             # the element's index along one axis (READS_INDEX)
    shift_left_p, shift_right_logical_p,
})

# Reductions over static axes (params ``axes``, ``keepdims``): they join a
# loop over their operand's shape as accumulations into their output.
REDUCTIONS = frozenset({reduce_sum_p, reduce_prod_p, reduce_max_p, reduce_min_p})

# Elementwise primitives whose element depends on its index, not only on
# operands: a group holding one keeps its loop even over one element.
READS_INDEX = frozenset({iota_p})

MAX_FUSED = 64      # equations in one fused group (a compiler's cost is superlinear in a loop body's size)
LOOKAHEAD = 128     # equations searched past a fused run for more of its loop shape

KINDS = ("elementwise", "reduction", "single")


@dataclass(frozen=True, eq=False)
class Accumulator:
    """A reduction of a fused group: its output accumulates inside the loop
    over the group's loop shape (the reduction's operand shape)."""
    eqn_index: int        # in the program's equations
    eqn: Eqn
    axes: tuple           # the loop axes reduced
    keepdims: bool
    outer: bool           # accumulates across the outer loop axis (its iterations all write it)

    @property
    def out(self) -> Var:
        return self.eqn.outputs[0]


@dataclass(frozen=True, eq=False)
class FusionGroup:
    """Equations written together: one loop nest (fused kinds) or one rule (``"single"``)."""
    kind: str                      # "elementwise" | "reduction" | "single"
    eqn_indices: tuple             # positions in the program's equations, in the order they run
    eqns: tuple                    # the equations themselves
    loop_shape: tuple | None       # the fused loop's shape; None for "single"
    outputs: tuple                 # values members define that are read after the group (or returned)
    accumulators: tuple = ()       # the reductions accumulated in the loop
    parallel_ok: bool = False      # the outer axis's iterations are independent (and more than one)
    parallel: bool = False         # the plan splits the outer loop across threads
    loop_free: bool = False        # one element, no index read: scalars, no loop
    bodies: tuple = ()             # a "single" control-flow equation: the plan of each body

    @property
    def fused(self) -> bool:
        return self.kind != "single"

    @property
    def start(self) -> int:
        """Where the group runs: the position of its first equation."""
        return self.eqn_indices[0]

    @property
    def accumulated(self) -> dict:
        """Equation -> its :class:`Accumulator`."""
        return {a.eqn: a for a in self.accumulators}

    def __len__(self):
        return len(self.eqns)


@dataclass(frozen=True, eq=False)
class FusionPlan:
    """The groups of one program (bodies' plans in their groups), in order."""
    program: Program
    groups: tuple
    parallel: bool = False
    parallel_min_elements: int = 0
    split_at: tuple = ()           # positions no group spans (where a backend splits the program)
    _by_program: dict | None = field(init=False, default=None, repr=False)   # id -> the plans of bodies
    _starts: list = field(init=False, repr=False)

    def __post_init__(self):
        # where each group runs, increasing (groups are in the order they run)
        object.__setattr__(self, "_starts", [g.eqn_indices[0] for g in self.groups])

    def __iter__(self):
        return iter(self.groups)

    def __len__(self):
        return len(self.groups)

    @property
    def loop_nests(self) -> int:
        """Fused groups that need a loop (not ``loop_free``), this program's alone."""
        return sum(g.fused and not g.loop_free for g in self.groups)

    def group_of(self, eqn_index: int) -> FusionGroup:
        for g in self.groups:
            if eqn_index in g.eqn_indices:
                return g
        raise IndexError(eqn_index)

    def between(self, lo: int, hi: int) -> tuple:
        """The groups that run at positions ``lo`` to ``hi`` (exclusive)."""
        return self.groups[bisect_left(self._starts, lo):bisect_left(self._starts, hi)]

    def plan_of(self, program: Program) -> "FusionPlan | None":
        """The plan of ``program``: this one, or a body's at any depth (None if not found)."""
        if program is self.program:
            return self
        index = self._by_program
        if index is None:
            index = {}
            stack = [self]
            while stack:
                p = stack.pop()
                index.setdefault(id(p.program), p)
                for g in p.groups:
                    stack.extend(g.bodies)
            object.__setattr__(self, "_by_program", index)
        found = index.get(id(program))
        return found if found is not None and found.program is program else None

    def as_text(self) -> str:
        names = _printed_names(self.program)
        return "\n".join(_plan_lines(self, names, 0))

    __str__ = as_text

    def __repr__(self):
        n = sum(len(g) for g in self.groups)
        return f"<FusionPlan: {n} equations in {len(self.groups)} groups, {self.loop_nests} loop nests>"

    def _repr_pretty_(self, p, cycle):   # IPython
        p.text(self.as_text())


# ----------------------------------------------------------------------------- planning

def plan_fusion(program: Program, *, parallel: bool = False, parallel_min_elements: int = 1 << 17,
                split_at=(), max_fused: int | None = None, lookahead: int | None = None,
                uniform_reductions: bool = False) -> FusionPlan:
    """The :class:`FusionPlan` of ``program`` (bodies of control flow planned
    too, with the same options).

    ``parallel``: whether outer loops of ``parallel_min_elements`` elements
    or more may run on several threads (see the module's doc). ``split_at``:
    positions in ``program.eqns`` where a backend starts a new function; no
    group spans one (bodies are not split). ``max_fused`` / ``lookahead``:
    default :data:`MAX_FUSED` / :data:`LOOKAHEAD`. ``uniform_reductions``: a
    group's reductions all reduce the same loop axes (a GPU kernel splits
    its loop into the kept and the reduced axes; a CPU loop nest needs no
    such rule)."""
    opts = _Options(parallel, parallel_min_elements, MAX_FUSED if max_fused is None else max_fused,
                    LOOKAHEAD if lookahead is None else lookahead, uniform_reductions)
    return _plan(program, opts, tuple(sorted(set(split_at))), {})


@dataclass(frozen=True)
class _Options:
    parallel: bool
    parallel_min_elements: int
    max_fused: int
    lookahead: int
    uniform_reductions: bool = False

    def may_parallel(self, shape) -> bool:
        return self.parallel and shape[0] >= 2 and math.prod(shape) >= self.parallel_min_elements


def _plan(program: Program, opts: _Options, split_at: tuple, memo: dict) -> FusionPlan:
    eqns = program.eqns
    n = len(eqns)
    consumers = defaultdict(set)    # var -> positions of the equations reading it
    for k, e in enumerate(eqns):
        for a in e.inputs:
            if type(a) is Var:
                consumers[a].add(k)
    returned = {a for a in program.out_atoms if type(a) is Var}
    computed = {o for e in eqns for o in e.outputs}
    classes = dim_classes(program)

    def needed_outside(v, members) -> bool:
        return v in returned or any(c not in members for c in consumers[v])

    bounds = [0] + [s for s in split_at if 0 < s < n] + [n]
    groups = []
    for lo, hi in zip(bounds, bounds[1:]):
        pulled: set[int] = set()    # positions already taken by an earlier group (pulled forward)
        i = lo
        while i < hi:
            if i in pulled:
                i += 1
                continue
            if fuses(eqns[i]):
                members, i = _collect(eqns, i, hi, pulled, opts, computed, classes)
                groups.append(_fused_group(eqns, members, opts, needed_outside))
                continue
            eqn = eqns[i]
            bodies = tuple(_body_plan(sub, opts, memo) for sub in subprograms(eqn))
            groups.append(FusionGroup("single", (i,), (eqn,), None,
                                      tuple(o for o in eqn.outputs if needed_outside(o, {i})), bodies=bodies))
            i += 1
    return FusionPlan(program, tuple(groups), opts.parallel, opts.parallel_min_elements,
                      tuple(s for s in split_at if 0 < s < n))


def _body_plan(body: Program, opts: _Options, memo: dict) -> FusionPlan:
    hit = memo.get(id(body))   # one body shared by several equations: one plan
    if hit is None or hit.program is not body:
        hit = memo[id(body)] = _plan(body, opts, (), memo)
    return hit


def fuses(eqn) -> bool:
    """Whether ``eqn`` joins fused groups: an elementwise primitive or a reduction."""
    return eqn.primitive in ELEMENTWISE or eqn.primitive in REDUCTIONS


def loop_shape(eqn) -> tuple:
    """The loop shape a fusable ``eqn`` runs over: a reduction's operand
    shape, else its output shape (0-d: ``(1,)``)."""
    aval = eqn.inputs[0].aval if eqn.primitive in REDUCTIONS else eqn.outputs[0].aval
    return aval.shape or (1,)


def reduces_outer_axis(eqn) -> bool:
    """A reduction whose every iteration of the outer loop axis writes one accumulator."""
    return eqn.primitive in REDUCTIONS and (0 in eqn.params["axes"] or not eqn.outputs[0].aval.shape)


def _collect(eqns, start: int, stop: int, pulled: set, opts: _Options, computed: set, classes: dict):
    """The members (positions) of the fused group starting at ``start``, and
    where its run stopped."""
    shape = loop_shape(eqns[start])
    members, reduced_here, reduced_axes = [], set(), set()
    # a loop that could run on several threads keeps reductions over its outer axis out
    keep_parallel = opts.may_parallel(shape) and not reduces_outer_axis(eqns[start])

    def fits(eqn):
        return (fuses(eqn) and loop_shape(eqn) == shape
                and not any(type(a) is Var and a in reduced_here for a in eqn.inputs)
                and not (keep_parallel and reduces_outer_axis(eqn))
                and not (opts.uniform_reductions and eqn.primitive in REDUCTIONS and reduced_axes
                         and reduced_axes != {tuple(sorted(eqn.params["axes"]))}))

    def take(k, eqn):
        members.append(k)
        related.update(a for a in (*eqn.inputs, *eqn.outputs) if type(a) is Var)
        if eqn.primitive in REDUCTIONS:
            reduced_here.update(eqn.outputs)
            reduced_axes.add(tuple(sorted(eqn.params["axes"])))

    # Equations join when they are related to the group: reading a value the
    # group reads or computes, or looping over the same dimensions (by
    # dim_classes: the batch axis, not a weight's axis of equal length), or
    # read by one that joins. Equal loop shapes alone would join equations by a
    # coincidence of sizes (a batch of 64 and a 64 x 128 weight), and the plan
    # would change with the sizes.
    group_dims = _loop_classes(eqns[start], classes)
    related: set = set()

    def joins(eqn):
        return (any(type(a) is Var and a in related for a in eqn.inputs)
                or _loop_classes(eqn, classes) == group_dims)

    i = start
    while i < stop and len(members) < opts.max_fused:
        if i in pulled:
            i += 1
            continue
        if not fits(eqns[i]) or (members and not joins(eqns[i])):
            break
        take(i, eqns[i])
        i += 1
    waiting = set()    # outputs of the equations passed over: not computed yet
    free = {}          # output -> (position, eqn) of a fitting equation that reads nothing computed
    for j in range(i, min(stop, i + opts.lookahead)):
        if len(members) >= opts.max_fused:
            break
        if j in pulled:
            continue
        eqn = eqns[j]
        reads = [a for a in eqn.inputs if type(a) is Var]
        if not fits(eqn) or any(a in waiting for a in reads):
            waiting.update(eqn.outputs)
            continue
        if joins(eqn):
            for a in reads:               # the free equations it reads join first
                if a in free and len(members) < opts.max_fused - 1:
                    k, e = free.pop(a)
                    take(k, e)
                    pulled.add(k)
            if any(a in free for a in reads):
                waiting.update(eqn.outputs)
                continue
            take(j, eqn)
            pulled.add(j)
        elif not any(a in computed for a in reads):
            for o in eqn.outputs:
                free[o] = (j, eqn)
        else:
            waiting.update(eqn.outputs)
    members.sort()     # program order: free equations pulled in late run where they stood
    return members, i


def dim_classes(program: Program) -> dict:
    """Var -> one class per axis: axes that the program's equations tie
    together (an elementwise result's axis and its operands', the axes a
    reduction keeps, a matrix product's rows, columns and inner axis, the
    axes a transpose moves or a reshape keeps) share a class, so the batch
    axis of every activation is one class and a weight's rows another, even
    when their lengths are equal. Axes of length 1 are never tied."""
    parent: dict = {}

    def find(k):
        root = k
        while parent.setdefault(root, root) != root:
            root = parent[root]
        while parent[k] != root:
            parent[k], k = root, parent[k]
        return root

    def tie(a, i, b, j):
        if a.aval.shape[i] == b.aval.shape[j] != 1:
            ra, rb = find((a, i)), find((b, j))
            if ra != rb:
                parent[ra] = rb

    for e in program.eqns:
        prim, out = e.primitive, e.outputs[0]
        ins = [a for a in e.inputs if type(a) is Var]
        if prim in ELEMENTWISE:
            r = len(out.aval.shape)
            for a in ins:
                off = r - len(a.aval.shape)
                for j in range(len(a.aval.shape)):
                    if j + off >= 0:
                        tie(a, j, out, j + off)
        elif prim in REDUCTIONS and ins:
            axes, kept = set(e.params["axes"]), 0
            for j in range(len(ins[0].aval.shape)):
                if j in axes:
                    kept += bool(e.params["keepdims"])
                    continue
                tie(ins[0], j, out, kept)
                kept += 1
        elif prim is matmul_p and len(ins) == 2:
            a, b = ins
            ra, rb, r = len(a.aval.shape), len(b.aval.shape), len(out.aval.shape)
            am, ak = (ra - 1, ra - 2) if e.params["transpose_a"] else (ra - 2, ra - 1)
            bk, bn = (rb - 1, rb - 2) if e.params["transpose_b"] else (rb - 2, rb - 1)
            tie(a, am, out, r - 2)
            tie(b, bn, out, r - 1)
            tie(a, ak, b, bk)
            for j in range(r - 2):
                tie(a, j, out, j)
                tie(b, j, out, j)
        elif prim is transpose_p and ins:
            for i, j in enumerate(e.params["permutation"]):
                tie(ins[0], j, out, i)
        elif prim is reshape_p and ins:
            # axes kept as they are when only axes of length 1 come or go
            src = [j for j, d in enumerate(ins[0].aval.shape) if d != 1]
            dst = [i for i, d in enumerate(out.aval.shape) if d != 1]
            if [ins[0].aval.shape[j] for j in src] == [out.aval.shape[i] for i in dst]:
                for j, i in zip(src, dst):
                    tie(ins[0], j, out, i)
    classes = {}
    for e in program.eqns:
        for v in (*[a for a in e.inputs if type(a) is Var], *e.outputs):
            if v not in classes:
                classes[v] = tuple(find((v, i)) if d != 1 else None for i, d in enumerate(v.aval.shape))
    return classes


def _loop_classes(eqn, classes) -> tuple:
    """The dimension classes of ``eqn``'s loop axes (None where nothing ties one)."""
    v = eqn.inputs[0] if eqn.primitive in REDUCTIONS else eqn.outputs[0]
    if type(v) is not Var:
        return ()
    return classes.get(v, ())


def _fused_group(eqns, members, opts: _Options, needed_outside) -> FusionGroup:
    shape = loop_shape(eqns[members[0]])
    group_eqns = tuple(eqns[k] for k in members)
    member_set = set(members)
    accs = tuple(Accumulator(k, e, tuple(e.params["axes"]), bool(e.params["keepdims"]), reduces_outer_axis(e))
                 for k, e in zip(members, group_eqns) if e.primitive in REDUCTIONS)
    outputs = tuple(o for e in group_eqns for o in e.outputs if needed_outside(o, member_set))
    parallel_ok = shape[0] >= 2 and not any(a.outer for a in accs)
    loop_free = all(d == 1 for d in shape) and not any(e.primitive in READS_INDEX for e in group_eqns)
    return FusionGroup("reduction" if accs else "elementwise", tuple(members), group_eqns, tuple(shape),
                       outputs, accs, parallel_ok,
                       parallel_ok and opts.may_parallel(shape), loop_free)


# ----------------------------------------------------------------------------- printing

def _printed_names(program: Program) -> dict:
    """Var -> name, as ``str(program)`` (core.ir.pretty_print) names them."""
    names: dict = {}
    gen = _names()

    def name(v):
        if type(v) is Var and v not in names:
            names[v] = next(gen)

    def block(p):
        for v in list(p.const_vars) + list(p.in_vars):
            name(v)
        for e in p.eqns:
            for v in e.outputs:
                name(v)
            for a in e.inputs:
                name(a)
        for e in p.eqns:
            for sub in subprograms(e):
                block(sub)
        for a in p.out_atoms:
            name(a)
    block(program)
    return names


def _atom(a, names) -> str:
    return repr(a) if type(a) is Literal else names.get(a, "?")


def _eqn_text(eqn, names) -> str:
    lhs = " ".join(f"{_atom(v, names)}:{v.aval}" for v in eqn.outputs)
    shown = {k: v for k, v in eqn.params.items()
             if not isinstance(v, Program) and not (isinstance(v, tuple) and v and isinstance(v[0], Program))}
    params = "[" + ", ".join(f"{k}={_format_param(v)}" for k, v in shown.items()) + "]" if shown else ""
    return f"{lhs} = {eqn.primitive.name}{params} " + " ".join(_atom(a, names) for a in eqn.inputs)


def _plan_lines(plan: FusionPlan, names, depth) -> list:
    pad = "    " * depth
    n = sum(len(g) for g in plan.groups)
    fused = sum(g.fused for g in plan.groups)
    lines = [f"{pad}fusion plan: {n} equations in {len(plan.groups)} groups "
             f"({fused} fused, {plan.loop_nests} loop nests)"
             + (f", split at {list(plan.split_at)}" if plan.split_at else "")]
    for k, g in enumerate(plan.groups):
        if g.fused:
            flags = ["no loop (one element)" if g.loop_free else f"loop {g.loop_shape}"]
            if g.parallel:
                flags.append("parallel")
            elif g.parallel_ok:
                flags.append("parallel_ok")
            head = f"group {k}: {g.kind}, {', '.join(flags)}"
        else:
            head = f"group {k}: single {g.eqns[0].primitive.name}"
        lines.append(f"{pad}  {head}")
        accs = g.accumulated
        for i, e in zip(g.eqn_indices, g.eqns):
            text = f"{pad}    [{i}] {_eqn_text(e, names)}"
            a = accs.get(e)
            if a is not None:
                text += f"    # accumulates over axes {a.axes}" + (" (outer)" if a.outer else "")
            lines.append(text)
        if g.fused:
            lines.append(f"{pad}    outputs: {', '.join(_atom(v, names) for v in g.outputs) or '(none)'}")
        for j, body in enumerate(g.bodies):
            lines.append(f"{pad}    body {j}:")
            lines.extend(_plan_lines(body, names, depth + 2))
    return lines
