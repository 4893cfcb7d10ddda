"""DCE of control flow (funcgrad.passes.dce): unread ``ys``, carries and
operands of ``scan``, ``fori_loop``, ``while_loop`` and ``switch`` go, with
their body inputs and outputs; carries another needed output depends on
stay, as do the carries a ``while_loop``'s condition reads and whatever an
effect reads. Each pruned program is checked structurally (verify), the
input untouched, and its values equal to the traced program's (interpreter);
two cases run on the Numba backend too."""
from __future__ import annotations

import numpy as np
import pytest

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad import tree
from funcgrad.core.evaluate import eval_program
from funcgrad.core.ir import Eqn, Program, ShapedArray, Var
from funcgrad.core.trace import Primitive, primitives
from funcgrad.passes import dce, default_pipeline, verify
from funcgrad.primitives import elementwise as E
from funcgrad.primitives.control import fori_loop_p, scan_p, switch_p, while_loop_p

RNG = np.random.default_rng(0)


# ----------------------------------------------------------------------------- helpers

def snapshot(program):
    """What a pure pass leaves as it was: the text, each equation's lists and params, bodies included."""
    eqns = []

    def walk(p):
        for e in p.eqns:
            eqns.append((e, list(e.inputs), list(e.outputs), dict(e.params)))
            for v in e.params.values():
                for sub in (v if isinstance(v, tuple) else (v,)):
                    if isinstance(sub, Program):
                        eqns.append((sub, list(sub.in_vars), list(sub.eqns), list(sub.out_atoms)))
                        walk(sub)
    walk(program)
    return str(program), eqns


def assert_unchanged(program, snap):
    text, eqns = snap
    assert str(program) == text
    for obj, a, b, c in eqns:
        if isinstance(obj, Eqn):
            assert obj.inputs == a and obj.outputs == b and obj.params == c
        else:
            assert obj.in_vars == a and obj.eqns == b and obj.out_atoms == c


def assert_same_values(got, want, rtol=0.0):
    assert len(got) == len(want)
    for u, v in zip(got, want):
        u, v = np.asarray(u), np.asarray(v)
        assert u.dtype == v.dtype and u.shape == v.shape
        if rtol:
            np.testing.assert_allclose(u, v, rtol=rtol, atol=1e-12)
        else:
            np.testing.assert_array_equal(u, v)


def pruned(fun, *args, pass_fn=dce):
    """(traced program, ``pass_fn`` of it, flat args), checked: well formed,
    input untouched, inputs kept, the same values."""
    program = fg.make_ir(fun)(*args)
    flat = tree.flatten(args)[0]
    snap = snapshot(program)
    out = pass_fn(program)
    assert_unchanged(program, snap)
    verify(out)
    assert out.in_vars == program.in_vars
    assert_same_values(eval_program(out, flat), eval_program(program, flat))
    return program, out, flat


def the(program, prim):
    (e,) = [e for e in program.eqns if e.primitive is prim]
    return e


def body_prims(body):
    return sorted(e.primitive.name for e in body.eqns)


# ----------------------------------------------------------------------------- scan

def test_scan_unread_ys_go():
    def f(c, xs):
        def body(c, x):
            return c * 0.5 + x, (fnp.sin(x) * c, fnp.cos(x))
        c, (ys1, ys2) = fg.scan(body, c, xs)
        return c, ys2
    program, out, _ = pruned(f, RNG.normal(size=3), RNG.normal(size=(5, 3)))
    before, after = the(program, scan_p), the(out, scan_p)
    assert len(before.outputs) == 3 and len(after.outputs) == 2
    assert after.outputs == [before.outputs[0], before.outputs[2]]
    body = after.params["body"]
    assert len(body.out_atoms) == 2 and body_prims(body) == ["add", "cos", "mul"]   # sin and its mul gone
    assert after.params["num_carry"] == 1 and after.params["num_consts"] == 0


def test_scan_unread_independent_carry_goes_with_its_operand_and_xs():
    w = RNG.normal(size=3)

    def f(a, b, xs, zs):
        def body(c, xz):
            a, b = c
            x, z = xz
            return (a * 2.0 + x, b * w + z), a * x
        (a, b), ys = fg.scan(body, (a, b), (xs, zs))
        return a, ys
    args = (RNG.normal(size=3), RNG.normal(size=3), RNG.normal(size=(4, 3)), RNG.normal(size=(4, 3)))
    program, out, _ = pruned(f, *args)
    before, after = the(program, scan_p), the(out, scan_p)
    assert before.params["num_carry"] == 2 and before.params["num_consts"] == 1
    # b, its constant w and the xs z are read only by b's update
    assert after.params["num_carry"] == 1 and after.params["num_consts"] == 0
    assert after.inputs == [program.in_vars[0], program.in_vars[2]]
    assert after.outputs == [before.outputs[0], before.outputs[2]]
    body = after.params["body"]
    assert len(body.in_vars) == 2 and len(body.out_atoms) == 2


def test_scan_carry_a_needed_carry_reads_stays():
    def f(a, b, xs):
        def body(c, x):
            a, b = c
            return (a + b * x, b * 0.9), a
        (a, _), _ = fg.scan(body, (a, b), xs)
        return a
    program, out, _ = pruned(f, RNG.normal(size=3), RNG.normal(size=3), RNG.normal(size=(4, 3)))
    after = the(out, scan_p)
    # b's final value and the ys are unread, but a's update reads b
    assert after.params["num_carry"] == 2 and len(after.outputs) == 2
    assert len(after.params["body"].out_atoms) == 2


def test_scan_needed_carries_are_a_fixed_point():
    # a <- b <- c (each reads the next one's body input); d is free
    def f(a, b, c, d):
        def body(s, _):
            a, b, c, d = s
            return (a + b, b * c, c + 1.0, d * 2.0), a
        (a, b, c, d), _ = fg.scan(body, (a, b, c, d), None, length=3)
        return a
    program, out, _ = pruned(f, *(RNG.normal(size=2) for _ in range(4)))
    after = the(out, scan_p)
    assert after.params["num_carry"] == 3 and len(after.outputs) == 3
    assert after.inputs == program.in_vars[:3]


def test_scan_swapped_carries_need_each_other():
    def f(a, b):
        def body(s, _):
            a, b = s
            return (b, a), a
        (a, _), _ = fg.scan(body, (a, b), None, length=3)
        return a
    program, out, _ = pruned(f, RNG.normal(size=2), RNG.normal(size=2))
    assert the(out, scan_p).params["num_carry"] == 2


@pytest.mark.parametrize("seed", range(12))
def test_scan_random_dependencies_keep_the_fixed_point(seed):
    rng = np.random.default_rng(seed)
    n, ny = 4, 2
    reads = [sorted(rng.choice(n, size=rng.integers(0, 3), replace=False)) for _ in range(n + ny)]
    out_mask = rng.random(n + ny) < 0.4
    out_mask[rng.integers(n + ny)] = True

    def f(*args):
        init, xs = args[:n], args[n]

        def body(c, x):
            new = [sum((c[j] for j in reads[k]), x * (k + 1.0)) for k in range(n + ny)]
            return tuple(fnp.tanh(v) for v in new[:n]), tuple(new[n:])
        c, ys = fg.scan(body, tuple(init), xs)
        return tuple(o for o, m in zip(list(c) + list(ys), out_mask) if m)
    args = [rng.normal(size=2) for _ in range(n)] + [rng.normal(size=(3, 2))]
    program, out, _ = pruned(f, *args)
    need = {k for k in range(n) if out_mask[k]}
    roots = set(need) | {n + j for j in range(ny) if out_mask[n + j]}
    while True:
        grown = {j for k in roots for j in reads[k]} - need
        if not grown:
            break
        need |= grown
        roots |= grown
    after = the(out, scan_p)
    assert after.params["num_carry"] == len(need)
    assert after.inputs[:len(need)] == [program.in_vars[k] for k in sorted(need)]
    assert len(after.outputs) == len(need) + int(out_mask[n:].sum())


def test_scan_with_nothing_read_goes():
    def f(c, xs):
        _ = fg.scan(lambda c, x: (c + x, x * 2.0), c, xs)
        return c * 2.0
    program, out, _ = pruned(f, RNG.normal(size=3), RNG.normal(size=(4, 3)))
    assert [e.primitive for e in out.eqns] == [E.mul_p]


# ----------------------------------------------------------------------------- fori_loop

def test_fori_unread_carry_and_constant_go():
    w = RNG.normal(size=3)

    def f(a, b):
        def body(i, c):
            a, b = c
            return a * 0.5 + i, b * w
        a, b = fg.fori_loop(0, 4, body, (a, b))
        return a
    program, out, _ = pruned(f, RNG.normal(size=3), RNG.normal(size=3))
    before, after = the(program, fori_loop_p), the(out, fori_loop_p)
    assert before.params["num_consts"] == 1 and len(before.outputs) == 2
    assert after.params["num_consts"] == 0 and after.outputs == before.outputs[:1]
    assert after.inputs[:2] == before.inputs[:2] and after.inputs[2:] == [program.in_vars[0]]
    body = after.params["body"]
    assert len(body.in_vars) == 2 and body.in_vars[0] is before.params["body"].in_vars[1]   # the index stays
    assert len(body.out_atoms) == 1


def test_fori_carry_needed_by_another_stays():
    def f(a, b):
        def body(i, c):
            a, b = c
            return a + b, b * 1.5
        return fg.fori_loop(0, 3, body, (a, b))[0]
    program, out, _ = pruned(f, RNG.normal(size=3), RNG.normal(size=3))
    assert len(the(out, fori_loop_p).outputs) == 2


def test_fori_with_traced_bounds_keeps_them():
    def f(n, a, b):
        return fg.fori_loop(0, n, lambda i, c: (c[0] + 1.0, c[1] * 2.0), (a, b))[1]
    program, out, flat = pruned(f, np.int64(3), RNG.normal(size=2), RNG.normal(size=2))
    after = the(out, fori_loop_p)
    assert len(after.inputs) == 3 and after.inputs[1] is program.in_vars[0]


# ----------------------------------------------------------------------------- while_loop

def test_while_carry_only_the_condition_reads_stays():
    w = RNG.normal(size=3)
    v = RNG.normal(size=3)

    def f(x, y):
        def cond(s):
            i, x, y = s
            return i < 5

        def body(s):
            i, x, y = s
            return i + 1, x * 0.5 + 1.0, y * w + v
        i, x, y = fg.while_loop(cond, body, (0, x, y))
        return x
    program, out, _ = pruned(f, RNG.normal(size=3), RNG.normal(size=3))
    before, after = the(program, while_loop_p), the(out, while_loop_p)
    assert len(before.outputs) == 3 and before.params["body_nconsts"] == 2
    # the counter stays (the condition reads it); y and its constants go
    assert after.outputs == before.outputs[:2]
    assert after.params["body_nconsts"] == 0 and after.params["cond_nconsts"] == 0
    assert len(after.params["cond"].in_vars) == 2 and len(after.params["body"].in_vars) == 2


def test_while_condition_dependencies_stay():
    # the condition reads k; k's update reads m; x is what is returned
    def f(x, m):
        def body(s):
            k, m, x, junk = s
            return k + m, m * 1.0 + 1.0, x * 0.5, junk * 3.0
        k, m, x, junk = fg.while_loop(lambda s: s[0] < 20.0, body, (0.0, m, x, x))
        return x
    program, out, _ = pruned(f, RNG.normal(size=3), np.float64(1.0))
    after = the(out, while_loop_p)
    assert len(after.outputs) == 3   # k, m, x; junk gone


def test_while_unread_condition_and_body_constants_go():
    # tracing drops the constants a body does not read; here they are added by hand
    lim = np.float64(3.0)
    program = fg.make_ir(lambda x, y: fg.while_loop(lambda s: s[0] < lim, lambda s: (s[0] + 1.0, s[1] * 2.0),
                                                    (x, y))[0])(np.float64(0.0), RNG.normal(size=2))
    e = the(program, while_loop_p)
    cond, body = e.params["cond"], e.params["body"]
    ncc = e.params["cond_nconsts"]
    f64 = ShapedArray((2,), np.float64)
    extra_c, extra_b = Var(f64), Var(f64)     # operands
    cond2 = Program(cond.in_vars[:ncc] + [Var(f64)] + cond.in_vars[ncc:], [], [], cond.eqns, cond.out_atoms)
    body2 = Program([Var(f64)] + body.in_vars, [], [], body.eqns, body.out_atoms)
    nbc = e.params["body_nconsts"]
    inputs = e.inputs[:ncc] + [extra_c] + [extra_b] + e.inputs[ncc:]
    e2 = Eqn(while_loop_p, inputs, [Var(o.aval) for o in e.outputs],
             dict(cond=cond2, body=body2, cond_nconsts=ncc + 1, body_nconsts=nbc + 1))
    hand = Program(program.in_vars + [extra_c, extra_b], program.const_vars, program.consts, [e2], [e2.outputs[0]])
    verify(hand)
    snap = snapshot(hand)
    out = dce(hand)
    assert_unchanged(hand, snap)
    verify(out)
    (kept,) = out.eqns
    assert kept.params["cond_nconsts"] == ncc and kept.params["body_nconsts"] == nbc
    assert kept.inputs == e.inputs[:ncc] + e.inputs[ncc:ncc + nbc] + e.inputs[ncc + nbc:][:1]   # y goes too
    assert len(kept.params["cond"].in_vars) == ncc + 1 and len(kept.params["body"].in_vars) == nbc + 1
    args = [np.float64(0.5), RNG.normal(size=2), RNG.normal(size=2), RNG.normal(size=2)]
    assert_same_values(eval_program(out, args), eval_program(hand, args))


# ----------------------------------------------------------------------------- switch

def test_switch_unread_outputs_and_operands_go():
    def f(k, x, y, z):
        branches = [lambda x, y, z: (x * 2.0, fnp.sin(y), z + 1.0),
                    lambda x, y, z: (x + 1.0, fnp.cos(y), z * 3.0),
                    lambda x, y, z: (x - 1.0, y, z)]
        a, b, c = fg.switch(k, branches, x, y, z)
        return a, c
    for k in (0, 1, 2, 7):
        program, out, _ = pruned(f, np.int32(k), RNG.normal(size=3), RNG.normal(size=3), RNG.normal(size=3))
    before, after = the(program, switch_p), the(out, switch_p)
    assert after.outputs == [before.outputs[0], before.outputs[2]]
    assert after.inputs == [before.inputs[0], before.inputs[1], before.inputs[3]]   # y goes, the index stays
    for br in after.params["branches"]:
        assert len(br.in_vars) == 2 and len(br.out_atoms) == 2
    assert [body_prims(b) for b in after.params["branches"]] == [["add", "mul"], ["add", "mul"], ["sub"]]


def test_switch_operand_one_branch_reads_stays():
    def f(k, x, y):
        a, b = fg.switch(k, [lambda x, y: (x * y, y), lambda x, y: (x, y * 2.0)], x, y)
        return a
    program, out, _ = pruned(f, np.int32(0), RNG.normal(size=2), RNG.normal(size=2))
    after = the(out, switch_p)
    assert len(after.outputs) == 1 and len(after.inputs) == 3


# ----------------------------------------------------------------------------- nesting

def test_nested_loops_are_pruned_inside():
    def f(c, d, xs):
        def inner(c, x):
            return c + x, (x * c, fnp.sin(x))

        def outer(i, s):
            c, d = s
            c2, (ys, zs) = fg.scan(inner, c, xs)
            return c2 * 0.5, d + fnp.sum(zs)
        c, d = fg.fori_loop(0, 3, outer, (c, d))
        return c
    program, out, _ = pruned(f, RNG.normal(size=3), np.float64(0.0), RNG.normal(size=(4, 3)))
    fori = the(out, fori_loop_p)
    assert len(fori.outputs) == 1
    body = fori.params["body"]
    inner = the(body, scan_p)
    assert len(inner.outputs) == 1 and inner.params["num_carry"] == 1   # both ys unread
    assert body_prims(inner.params["body"]) == ["add"]


def test_nested_scan_inner_carry_needed_through_the_outer_one():
    def f(a, b, xs):
        def outer(s, x):
            a, b = s

            def inner(t, _):
                p, q = t
                return (p + q, q * 0.5), p

            (p, q), ps = fg.scan(inner, (a, b), None, length=2)
            return (p + x, q), fnp.sum(ps)
        (a, b), tot = fg.scan(outer, (a, b), xs)
        return a
    program, out, _ = pruned(f, RNG.normal(size=3), RNG.normal(size=3), RNG.normal(size=(4, 3)))
    outer = the(out, scan_p)
    assert len(outer.outputs) == 2 and outer.params["num_carry"] == 2   # a reads b (through the inner p + q)
    inner = the(outer.params["body"], scan_p)
    assert len(inner.outputs) == 2 and inner.params["num_carry"] == 2   # ps unread, carries needed


# ----------------------------------------------------------------------------- sharing, purity, effects

def _scan_eqn(body, inputs, nc, ncar, length):
    avals = scan_p.abstract_eval(*[a.aval for a in inputs], body=body, num_consts=nc, num_carry=ncar,
                                 length=length, reverse=False)
    outs = [Var(a) for a in avals]
    return Eqn(scan_p, inputs, outs, dict(body=body, num_consts=nc, num_carry=ncar, length=length,
                                          reverse=False)), outs


def _shared_body_program():
    traced = fg.make_ir(lambda c, xs: fg.scan(lambda c, x: (c * x, c + x), c, xs))(np.ones(3), np.ones((4, 3)))
    body = the(traced, scan_p).params["body"]
    c, xs = Var(ShapedArray((3,), np.float64)), Var(ShapedArray((4, 3), np.float64))
    e1, (c1, y1) = _scan_eqn(body, [c, xs], 0, 1, 4)
    e2, (c2, y2) = _scan_eqn(body, [c1, xs], 0, 1, 4)
    e3, (c3, y3) = _scan_eqn(body, [c2, xs], 0, 1, 4)
    return Program([c, xs], [], [], [e1, e2, e3], [c3, y2]), body


def test_shared_body_stays_shared_when_pruned_alike():
    program, body = _shared_body_program()
    verify(program)
    snap = snapshot(program)
    out = dce(program)
    assert_unchanged(program, snap)
    verify(out)
    args = [RNG.normal(size=3), RNG.normal(size=(4, 3))]
    assert_same_values(eval_program(out, args), eval_program(program, args))
    e1, e2, e3 = out.eqns
    assert len(e1.outputs) == 1 and len(e3.outputs) == 1 and len(e2.outputs) == 2
    assert e1.params["body"] is e3.params["body"]          # pruned alike: one body
    assert e2.params["body"] is body                       # nothing to prune: the body itself
    assert e1.params["body"] is not body and len(e1.params["body"].out_atoms) == 1


def test_unchanged_program_keeps_its_equations():
    def f(c, xs):
        return fg.scan(lambda c, x: (c * x, c + x), c, xs)
    program, out, _ = pruned(f, RNG.normal(size=3), RNG.normal(size=(4, 3)))
    assert out is not program and out.eqns == program.eqns
    assert all(a is b for a, b in zip(out.eqns, program.eqns))


_noisy = Primitive("_test_dce_loops_effect")
_noisy.has_effect = True
_noisy.def_abstract_eval(lambda x: x)
_noisy.def_impl(lambda x: np.asarray(x))
del primitives["_test_dce_loops_effect"]   # out of the registry the lowering conformance test walks


def test_effects_in_a_body_keep_the_loop_and_what_they_read():
    # body(a, b, x) -> (a + x, noisy(b) * 2, sin(x)); nothing of the scan is read outside
    f64 = ShapedArray((3,), np.float64)
    a, b, x = Var(f64), Var(f64), Var(f64)
    na, nb, y, s = Var(f64), Var(f64), Var(f64), Var(f64)
    n = Var(f64)
    body = Program([a, b, x], [], [], [
        Eqn(E.add_p, [a, x], [na], {}),
        Eqn(_noisy, [b], [n], {}),
        Eqn(E.mul_p, [n, n], [nb], {}),
        Eqn(E.sin_p, [x], [s], {}),
    ], [na, nb, s])
    a0, b0, xs = Var(f64), Var(f64), Var(ShapedArray((4, 3), np.float64))
    e, outs = _scan_eqn(body, [a0, b0, xs], 0, 2, 4)
    program = Program([a0, b0, xs], [], [], [e], [a0])
    out = dce(program)
    verify(out)
    (kept,) = out.eqns
    # b's carry stays (the effect reads its body input, and its update feeds b next step),
    # a and the ys go; xs goes (only a and the ys read it)
    assert kept.params["num_carry"] == 1 and kept.inputs == [b0]
    assert [p.primitive for p in kept.params["body"].eqns] == [_noisy, E.mul_p]
    args = [RNG.normal(size=3), RNG.normal(size=3), RNG.normal(size=(4, 3))]
    assert_same_values(eval_program(out, args), eval_program(program, args))


# ----------------------------------------------------------------------------- an RNN's gradient

T, B, I, Hd = 5, 2, 3, 4


def rnn_loss(params, h0, xs):
    W, U, b = params

    def cell(h, x):
        h = fnp.tanh(x @ W + h @ U + b)
        return h, h
    h, hs = fg.scan(cell, h0, xs)
    return fnp.sum(hs * hs) + fnp.sum(h)


def rnn_args(seed=1):
    rng = np.random.default_rng(seed)
    params = (rng.normal(size=(I, Hd)) * 0.5, rng.normal(size=(Hd, Hd)) * 0.5, rng.normal(size=(Hd,)))
    return params, rng.normal(size=(B, Hd)), rng.normal(size=(T, B, I))


def _backward_scan(program):
    return [e for e in program.eqns if e.primitive is scan_p and e.params["reverse"]]


def test_rnn_gradient_backward_scan_drops_the_xs_cotangent():
    program, out, flat = pruned(fg.grad(rnn_loss), *rnn_args(), pass_fn=default_pipeline.run)
    (bwd_before,) = _backward_scan(program)
    (bwd,) = _backward_scan(out)
    txs = (T, B, I)
    assert any(o.aval.shape == txs for o in bwd_before.outputs[bwd_before.params["num_carry"]:])
    ys = bwd.outputs[bwd.params["num_carry"]:]
    assert not any(o.aval.shape == txs for o in ys)
    assert not any(a.aval.shape == (B, I) for a in bwd.params["body"].out_atoms)
    assert len(bwd.outputs) < len(bwd_before.outputs)
    # the gradient itself, against the unpruned program and plain dce
    assert_same_values(eval_program(dce(program), flat), eval_program(program, flat))


# ----------------------------------------------------------------------------- the Numba backend

def _numba_matches_interpreter(f, *args):
    pytest.importorskip("numba")
    got = fg.jit(f, backend="numba")(*args)
    want = fg.jit(f, backend="interpret")(*args)
    got, want = tree.flatten(got)[0], tree.flatten(want)[0]
    assert_same_values(got, want, rtol=1e-12)
    return fg.jit(f, backend="numba").lower(*args)


def test_numba_rnn_gradient():
    lowered = _numba_matches_interpreter(fg.grad(rnn_loss), *rnn_args(2))
    (bwd,) = _backward_scan(lowered.ir)
    assert not any(o.aval.shape == (T, B, I) for o in bwd.outputs)


def test_numba_loops_and_switch_pruned():
    w = RNG.normal(size=3)

    def f(k, a, b, xs):
        def body(c, x):
            a, b = c
            return (a * 0.5 + x, b * w + x), (fnp.sin(x) * a, fnp.cos(x))
        (a, b), (ys, zs) = fg.scan(body, (a, b), xs)

        def fbody(i, c):
            p, q = c
            return p + zs[i], q * 2.0
        p, q = fg.fori_loop(0, 4, fbody, (a, a))
        u, v = fg.switch(k, [lambda p, a: (p * 2.0, a), lambda p, a: (p + 1.0, a * a)], p, a)
        i, r, junk = fg.while_loop(lambda s: s[0] < 3, lambda s: (s[0] + 1, s[1] * 0.5 + u, s[2] + 1.0),
                                   (0, u, u))
        return r, zs
    args = (np.int32(1), RNG.normal(size=3), RNG.normal(size=3), RNG.normal(size=(4, 3)))
    lowered = _numba_matches_interpreter(f, *args)
    ir = lowered.ir
    assert the(ir, scan_p).params["num_carry"] == 1 and len(the(ir, scan_p).outputs) == 2
    assert len(the(ir, fori_loop_p).outputs) == 1
    assert len(the(ir, switch_p).outputs) == 1
    assert len(the(ir, while_loop_p).outputs) == 2
    assert_same_values(fg.jit(f, backend="numba")(np.int32(0), *args[1:]),
                       fg.jit(f, backend="interpret")(np.int32(0), *args[1:]), rtol=1e-12)
