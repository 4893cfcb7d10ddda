"""The fusion plan (``funcgrad.passes.plan_fusion``): which equations share a
loop nest, their loop shapes, accumulators and thread flags, checked by hand
on small traced programs; the invariants (every equation in exactly one
group, groups in an order the program may run in) on larger ones; printing;
and that the Numba code generator renders the plan (its tables cover the
plan's classification, one ``# fused`` loop per fused group)."""
from __future__ import annotations

import ast
import functools
import os
import sys

import numpy as np
import pytest

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad import nn
from funcgrad import primitives as P
from funcgrad.core.ir import Eqn, Literal, Program, ShapedArray, Var
from funcgrad.passes import FusionPlan, optimize, plan_fusion
from funcgrad.passes import fusion
from funcgrad.primitives.control import fori_loop_p, subprograms
from funcgrad.primitives.elementwise import exp_p, mul_p
from funcgrad.primitives.reduction import reduce_sum_p

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks"))
from bench_scalar_graph import funcgrad_loss  # noqa: E402

F32 = np.float32


def ir(f, *args):
    return fg.make_ir(f)(*args)


def members(plan: FusionPlan) -> list:
    """Each group's equations as primitive names."""
    return [[e.primitive.name for e in g.eqns] for g in plan.groups]


def check_invariants(plan: FusionPlan):
    """Every equation in exactly one group; groups (and members within) in an
    order the program may run in; no member reads its own group's
    accumulator; ``outputs`` are exactly the members' values read after the
    group; the same for every body's plan."""
    p = plan.program
    seen = sorted(i for g in plan.groups for i in g.eqn_indices)
    assert seen == list(range(len(p.eqns)))
    defined = set(p.in_vars) | set(p.const_vars)
    for k, g in enumerate(plan.groups):
        assert g.kind in fusion.KINDS
        assert all(p.eqns[i] is e for i, e in zip(g.eqn_indices, g.eqns))
        assert list(g.eqn_indices) == sorted(g.eqn_indices)
        accumulated = {a.out for a in g.accumulators}
        for e in g.eqns:
            for a in e.inputs:
                if type(a) is Var:
                    assert a in defined, f"group {k}: {e.primitive.name} reads a value not yet defined"
                    assert a not in accumulated, f"group {k}: {e.primitive.name} reads its group's accumulator"
            defined.update(e.outputs)
        if g.fused:
            assert g.loop_shape and all(fusion.loop_shape(e) == g.loop_shape for e in g.eqns)
            assert g.kind == ("reduction" if g.accumulators else "elementwise")
            assert [a.eqn for a in g.accumulators] == [e for e in g.eqns if e.primitive in fusion.REDUCTIONS]
        else:
            assert len(g.eqns) == 1 and not fusion.fuses(g.eqns[0]) and g.loop_shape is None
            assert len(g.bodies) == len(subprograms(g.eqns[0]))
    returned = {a for a in p.out_atoms if type(a) is Var}
    for g in plan.groups:
        inside = set(g.eqn_indices)
        read_after = {a for i, e in enumerate(p.eqns) if i not in inside for a in e.inputs if type(a) is Var}
        want = [o for e in g.eqns for o in e.outputs if o in returned or o in read_after]
        assert list(g.outputs) == want
        for body, sub in zip(g.bodies, subprograms(g.eqns[0]) if not g.fused else []):
            assert body.program is sub and plan.plan_of(sub) is body
            check_invariants(body)


# ----------------------------------------------------------------------------- by hand

def test_elementwise_then_sum_is_one_group_with_one_accumulator():
    x = np.ones((3, 4), F32)
    prog = ir(lambda x: fnp.sum(fnp.exp(x) + 1.0), x)
    plan = plan_fusion(prog)
    check_invariants(plan)
    assert members(plan) == [["exp", "add", "reduce_sum"]]
    (g,) = plan.groups
    assert g.kind == "reduction" and g.loop_shape == (3, 4) and not g.loop_free
    (acc,) = g.accumulators
    assert acc.eqn is prog.eqns[2] and acc.eqn_index == 2 and acc.axes == (0, 1) and acc.outer
    assert acc.out is prog.out_atoms[0]
    assert g.outputs == (prog.out_atoms[0],)      # exp and add stay inside the loop
    assert not g.parallel_ok                      # a full reduction: every iteration writes it


def test_uniform_reductions_keep_each_group_to_one_set_of_axes():
    x = np.ones((3, 4), F32)
    prog = ir(lambda x: (fnp.sum(fnp.exp(x), axis=1), fnp.max(fnp.exp(x), axis=1), fnp.sum(x * 2.0)), x)
    mixed = plan_fusion(prog)
    check_invariants(mixed)
    assert [len({a.axes for a in g.accumulators}) for g in mixed.groups if g.accumulators] == [2]
    uniform = plan_fusion(prog, uniform_reductions=True)
    check_invariants(uniform)
    axes = [{a.axes for a in g.accumulators} for g in uniform.groups if g.accumulators]
    assert sorted(map(sorted, axes)) == [[(0, 1)], [(1,)]]


def test_matmul_is_its_own_group():
    x, m = np.ones((3, 4), F32), np.ones((4, 5), F32)
    prog = ir(lambda x, m: fnp.tanh(fnp.exp(x) @ m) * 2.0, x, m)
    plan = plan_fusion(prog)
    check_invariants(plan)
    assert members(plan) == [["exp"], ["matmul"], ["tanh", "mul"]]
    kinds = [(g.kind, g.loop_shape) for g in plan.groups]
    assert kinds == [("elementwise", (3, 4)), ("single", None), ("elementwise", (3, 5))]
    assert plan.groups[0].outputs == (prog.eqns[0].outputs[0],)   # exp's array, read by matmul
    assert plan.loop_nests == 2


def test_row_reduction_is_parallel_ok_an_outer_axis_reduction_is_not():
    x = np.ones((16, 12))
    rows = plan_fusion(ir(lambda x: fnp.sum(x * x, axis=1), x)).groups[0]
    cols = plan_fusion(ir(lambda x: fnp.sum(x * x, axis=0), x)).groups[0]
    assert rows.kind == cols.kind == "reduction"
    assert rows.parallel_ok and rows.accumulators[0].axes == (1,) and not rows.accumulators[0].outer
    assert not cols.parallel_ok and cols.accumulators[0].outer
    assert not rows.parallel                       # threads not asked for
    one_row = plan_fusion(ir(lambda x: x * 2.0, np.ones((1, 12)))).groups[0]
    assert not one_row.parallel_ok                 # one iteration of the outer axis: nothing to split


def test_parallel_plans_keep_outer_reductions_out_of_large_loops():
    def f(x):
        y = x * 0.5
        return fnp.sum(fnp.tanh(y), axis=1), fnp.max(y)
    prog = ir(f, np.ones((16, 12)))
    serial = plan_fusion(prog)
    assert members(serial) == [["mul", "tanh", "reduce_sum", "reduce_max"]]
    assert not serial.groups[0].parallel_ok
    par = plan_fusion(prog, parallel=True, parallel_min_elements=64)
    check_invariants(par)
    assert members(par) == [["mul", "tanh", "reduce_sum"], ["reduce_max"]]
    assert par.groups[0].parallel_ok and par.groups[0].parallel
    assert not par.groups[1].parallel_ok and not par.groups[1].parallel
    small = plan_fusion(prog, parallel=True, parallel_min_elements=1000)   # 192 elements: not split
    assert members(small) == members(serial) and not small.groups[0].parallel


def test_later_equations_of_the_loop_shape_are_pulled_forward():
    def f(x, m):
        a = fnp.exp(x)
        b = x @ m              # (3, 4) too, but not elementwise
        c = b * 2.0            # reads b: waits for the matmul
        d = a * 3.0            # ready: joins exp's loop
        return c, d
    prog = ir(f, np.ones((3, 4), F32), np.ones((4, 4), F32))
    plan = plan_fusion(prog)
    check_invariants(plan)
    assert [g.eqn_indices for g in plan.groups] == [(0, 3), (1,), (2,)]
    assert members(plan) == [["exp", "mul"], ["matmul"], ["mul"]]
    assert plan.group_of(3) is plan.groups[0]
    assert plan.groups[0].outputs == (prog.eqns[3].outputs[0],)   # exp's value stays inside the loop


def test_a_reduction_and_its_readers_are_in_different_groups():
    x = np.ones((5, 7), F32)
    prog = ir(lambda x: fnp.exp(x - fnp.max(x, axis=1, keepdims=True)), x)
    plan = plan_fusion(prog)
    check_invariants(plan)
    assert [g.kind for g in plan.groups] == ["reduction", "elementwise"]
    assert plan.groups[0].accumulators[0].keepdims
    assert all(g.loop_shape == (5, 7) for g in plan.groups)


def test_one_element_groups_need_no_loop_unless_a_member_reads_the_index():
    s = np.float32(0.5)
    plan = plan_fusion(ir(lambda s: fnp.sum(s * 2.0 + 1.0), s))
    (g,) = plan.groups
    assert g.loop_shape == (1,) and g.loop_free and plan.loop_nests == 0
    with_iota = plan_fusion(ir(lambda s: P.iota((1,), 0, F32) + s, s))
    (g,) = with_iota.groups
    assert g.loop_shape == (1,) and not g.loop_free and with_iota.loop_nests == 1


def test_max_fused_lookahead_and_split_points():
    def chain(x):
        for _ in range(10):
            x = x * 1.5
        return x
    prog = ir(chain, np.ones(4))
    assert members(plan_fusion(prog)) == [["mul"] * 10]
    assert [len(g) for g in plan_fusion(prog, max_fused=3).groups] == [3, 3, 3, 1]
    split = plan_fusion(prog, split_at=[4, 7])
    check_invariants(split)
    assert [g.eqn_indices for g in split.groups] == [(0, 1, 2, 3), (4, 5, 6), (7, 8, 9)]
    assert split.split_at == (4, 7) and [len(split.between(0, 4)), len(split.between(4, 10))] == [1, 2]

    def spread(x, m):   # an independent exp far after the first: found only within the lookahead
        a = fnp.exp(x)
        y = x @ m
        for _ in range(5):
            y = y @ m
        return a, fnp.exp(x) * 2.0, y
    prog = ir(spread, np.ones((3, 3)), np.ones((3, 3)))
    assert len(plan_fusion(prog).groups[0]) == 3
    assert len(plan_fusion(prog, lookahead=3).groups[0]) == 1


def test_bodies_of_control_flow_have_plans():
    def f(x):
        def inner(j, c):
            return c * 0.5 + fnp.sin(c + j.astype(c.dtype))

        def outer(i, c):
            z = fnp.concatenate([c[1:], c[:1]]) * 1.5
            return fg.fori_loop(0, 3, inner, z - c)
        a = fg.fori_loop(0, 4, outer, x)
        b = fg.while_loop(lambda c: c[1] < 5.0, lambda c: (c[0] * 0.9, c[1] + fnp.sum(c[0])), (x, x[0]))
        c, ys = fg.scan(lambda c, xi: (c * 0.5 + xi, fnp.exp(c)), x[0], x)
        s = fg.switch(fnp.argmax(x), [lambda v: v * 2.0, lambda v: fnp.exp(v) - 1.0], x)
        return a, b[0], c, ys, s
    prog = ir(f, np.ones(4))
    plan = plan_fusion(prog)
    check_invariants(plan)
    loops = [g for g in plan.groups if g.bodies]
    assert [g.eqns[0].primitive.name for g in loops] == ["fori_loop", "while_loop", "scan", "switch"]
    assert [len(g.bodies) for g in loops] == [1, 2, 1, 2]
    inner_loop = [g for g in loops[0].bodies[0].groups if g.bodies]
    assert len(inner_loop) == 1 and inner_loop[0].eqns[0].primitive.name == "fori_loop"
    inner = inner_loop[0].bodies[0]
    assert plan.plan_of(inner.program) is inner
    # the 0-d index conversion loops over (1,): the (4,) run stops there; what reads it waits
    assert members(inner) == [["mul"], ["convert_element_type"], ["add", "sin", "add"]]
    assert [g.loop_free for g in inner.groups] == [False, True, False]
    assert plan.plan_of(prog) is plan and plan.plan_of(ir(lambda x: x, np.ones(2))) is None


def test_a_body_shared_by_two_equations_has_one_plan():
    f64 = ShapedArray((3,), np.float64)
    i = ShapedArray((), np.int64)
    k, c, d = Var(i), Var(f64), Var(f64)
    body = Program([k, c], [], [], [Eqn(mul_p, [c, Literal(np.float64(2.0))], [d], {})], [d])
    x, y, z = Var(f64), Var(f64), Var(f64)
    lo, hi = Literal(np.int64(0)), Literal(np.int64(3))
    prog = Program([x], [], [], [Eqn(fori_loop_p, [lo, hi, x], [y], {"body": body, "num_consts": 0}),
                                 Eqn(fori_loop_p, [lo, hi, y], [z], {"body": body, "num_consts": 0})], [z])
    plan = plan_fusion(prog)
    assert plan.groups[0].bodies[0] is plan.groups[1].bodies[0]
    assert plan.groups[0].outputs == (y,) and plan.groups[1].outputs == (z,)


def test_hand_built_program_with_a_literal_operand():
    f64 = ShapedArray((2, 3), np.float64)
    a, b, c = Var(f64), Var(f64), Var(ShapedArray((2,), np.float64))
    prog = Program([a], [], [], [Eqn(exp_p, [a], [b], {}),
                                 Eqn(reduce_sum_p, [b], [c], {"axes": (1,), "keepdims": False})], [c, b])
    (g,) = plan_fusion(prog).groups
    assert g.outputs == (b, c) and g.accumulators[0].axes == (1,) and g.parallel_ok


# ----------------------------------------------------------------------------- invariants on larger programs

@functools.lru_cache(maxsize=None)
def _programs() -> dict:
    """name -> program after the passes (traced once per session)."""
    return dict(_traced_programs())


def _traced_programs():
    from funcgrad import optim

    yield "scalar graph 50", optimize(ir(fg.value_and_grad(funcgrad_loss(50)), np.linspace(-2, 2, 100, dtype=F32)))
    params = nn.mlp_init(fg.random.key(0), [64, 32, 10], dtype=F32)
    tx = optim.adam(1e-3)

    def step(state, x, y):
        p, s = state
        loss, g = fg.value_and_grad(lambda p: nn.cross_entropy(nn.mlp_apply(p, x), y))(p)
        u, s = tx.update(g, s, p)
        return (optim.apply_updates(p, u), s), loss
    x = np.random.default_rng(0).random((16, 64)).astype(F32)
    y = np.arange(16) % 10
    yield "mlp adam step", optimize(ir(step, (params, tx.init(params)), x, y))

    def epoch(state, xs, ys):
        return fg.scan(lambda s, b: step(s, *b), state, (xs, ys))
    yield "scanned steps", optimize(ir(epoch, (params, tx.init(params)), x.reshape(4, 4, 64), y.reshape(4, 4)))


@pytest.mark.parametrize("name", ["scalar graph 50", "mlp adam step", "scanned steps"])
@pytest.mark.parametrize("opts", [{}, {"parallel": True, "parallel_min_elements": 16}, {"max_fused": 2},
                                  {"split_at": (3, 10, 11, 40)}], ids=["default", "parallel", "max2", "split"])
def test_invariants_on_larger_programs(name, opts):
    plan = plan_fusion(_programs()[name], **opts)
    check_invariants(plan)
    for s in opts.get("split_at", ()):
        assert all(not (g.eqn_indices[0] < s <= g.eqn_indices[-1]) for g in plan.groups)
    if "max_fused" in opts:
        assert all(len(g) <= 2 for g in plan.groups)


# ----------------------------------------------------------------------------- printing

def test_plan_prints_groups_shapes_members_and_accumulators():
    def f(x, m):
        def body(i, c):
            return c * 0.5 + fnp.sum(c)
        return fnp.sum(fnp.exp(x) + 1.0), fg.fori_loop(0, 3, body, fnp.sum(x @ m, axis=1))
    prog = ir(f, np.ones((3, 4), F32), np.ones((4, 5), F32))
    plan = plan_fusion(prog)
    text = str(plan)
    assert text == plan.as_text()
    lines = text.splitlines()
    assert lines[0] == "fusion plan: 6 equations in 4 groups (2 fused, 2 loop nests)"
    assert "  group 0: reduction, loop (3, 4)" in lines
    assert "    [0] c:f32[3,4] = exp a" in lines        # the IR printer's names (str(prog))
    assert any(line.startswith("    [2] e:f32[] = reduce_sum") and "accumulates over axes (0, 1)" in line
               for line in lines)
    assert "    outputs: e" in lines
    assert "  group 1: single matmul" in lines
    assert "  group 2: reduction, loop (3, 5), parallel_ok" in lines
    assert "    body 0:" in lines and any(line.startswith("        fusion plan: 3 equations") for line in lines)
    for name in ("c:f32[3,4]", "e:f32[]", "f:f32[3,5]"):
        assert name in str(prog)
    assert repr(plan) == "<FusionPlan: 6 equations in 4 groups, 2 loop nests>"
    par = plan_fusion(ir(lambda x: x * 2.0, np.ones((8, 8))), parallel=True, parallel_min_elements=1)
    assert "loop (8, 8), parallel" in str(par)
    assert "no loop (one element)" in str(plan_fusion(ir(lambda s: s * 2.0, np.float32(1))))


def test_lowered_has_the_fusion_plan_of_its_ir():
    def f(x):
        return fnp.sum(fnp.tanh(x) * 2.0, axis=1)
    x = np.ones((4, 3))
    lowered = fg.jit(f, backend="interpret").lower(x)
    plan = lowered.fusion_plan
    assert isinstance(plan, FusionPlan) and plan.program is lowered.ir
    assert members(plan) == [["tanh", "mul", "reduce_sum"]]


# ----------------------------------------------------------------------------- the Numba backend renders the plan

def test_the_plan_is_backend_neutral():
    tree = ast.parse(open(fusion.__file__).read())
    imported = [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    imported += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    assert not any("backends" in m or "numba" in m for m in imported), imported


def test_numba_tables_cover_the_plans_classification():
    pytest.importorskip("numba")
    from funcgrad.backends.numba_backend import lowering

    assert set(lowering.scalar_lowering) == fusion.ELEMENTWISE
    assert set(lowering.reduction_lowering) == fusion.REDUCTIONS
    assert lowering.uses_loop_index <= fusion.READS_INDEX
    assert not (fusion.ELEMENTWISE | fusion.REDUCTIONS) & set(lowering.emit_lowering)


def _fused_groups(plan):
    return sum(g.fused for g in plan.groups) + sum(_fused_groups(b) for g in plan.groups for b in g.bodies)


def test_generated_code_has_one_fused_block_per_fused_group(monkeypatch):
    pytest.importorskip("numba")
    from funcgrad.backends.numba_backend import codegen, generated_source

    progs = _programs()
    for name in ("scalar graph 50", "mlp adam step"):
        prog = progs[name]
        plan = codegen.fusion_plan(prog)
        assert generated_source(prog).count("# fused: ") == _fused_groups(plan), name
    monkeypatch.setattr(codegen, "CHUNK_EQNS", 30)   # chunk functions: no group spans one
    monkeypatch.setattr(codegen, "MAX_FUSED", 4)
    prog = progs["scalar graph 50"]
    plan = codegen.fusion_plan(prog)
    assert plan.split_at == tuple(range(30, len(prog.eqns), 30))
    assert all(len(g) <= 4 for g in plan.groups)
    src = generated_source(prog)
    assert "def program_part1(" in src and src.count("# fused: ") == _fused_groups(plan)
    check_invariants(plan)


def test_numba_lowered_fusion_plan_is_the_rendered_one():
    pytest.importorskip("numba")

    def f(x):
        return fnp.exp(x) @ x + fnp.sum(x * 3.0)
    x = np.ones((3, 3))
    lowered = fg.jit(f, backend="numba").lower(x)
    plan = lowered.fusion_plan
    assert plan.program is lowered.ir
    assert lowered.source.count("# fused: ") == _fused_groups(plan) == 2
    np.testing.assert_allclose(fg.jit(f, backend="numba")(x), np.exp(x) @ x + 27.0)
