"""Conformance of the rule tables with the primitive registry.

For every primitive of ``funcgrad.core.trace.primitives`` (ids are the
primitives' names):

- it has example calls in ``primitive_cases.CASES``, so a new primitive
  without cases fails here;
- the JVP table (``funcgrad.transforms.jvp.jvp_rules``) and the VJP table
  (``funcgrad.transforms.vjp.vjp_rules``) have a rule for it whenever it
  takes and returns floats (the interpreters would ask for one), and a
  primitive that never does says why in ``NON_DIFFERENTIABLE``;

and for every case (ids ``name-k``, ``name-special-k``):

- the JVP (``jvp_program`` on the one-equation program, run on NumPy arrays
  and also traced and then evaluated) agrees with a fourth-order central
  difference of the primitive's NumPy implementation along a random tangent
  (float64 cases);
- the VJP (``backward_pass``, concrete and traced) is the transpose of the
  JVP: ``<u, J v> == <J^T u, v>`` for random ``u`` and ``v``, including the
  points where the derivative is a convention (``SPECIAL``);
- float32 cases give float32 tangents and cotangents, close to the float64
  ones;
- the traced JVP program differentiates again (``jvp`` of ``jvp``), matching
  finite differences of the JVP.

Each check runs with tangents on all float operands and then on each alone
(the others symbolic zeros). Rules of control flow and of the call
primitives belong to other modules, but they are checked here like the
others; what raises ``UnsupportedError`` by design is an expected error, not
a failure:

- ``REVERSE_ONLY`` (``custom_vjp_call``, as in JAX): the JVP must raise, and
  the VJP is checked against central differences instead
  (``<u, J v> == <J^T u, v>`` with ``J v`` from finite differences);
- ``FORWARD_ONLY`` (``while_loop``): the VJP must raise, the JVP is checked;
- ``STATIC_FOR_REVERSE`` (``fori_loop``'s bounds): a case whose bound is an
  operand (not a static Python int, see ``primitive_cases``) has a concrete
  VJP (checked) but its traced VJP must raise.

Batching (``funcgrad.transforms.batching``): every primitive has a batch
rule (or says why not in ``NO_BATCH_RULE``), and every case with operands,
control flow and calls included, is batched over 3 examples (perturbed
copies of the case's operands, in range for indices) in several layouts
(all operands batched at axis 0, all at their last axis, the first alone
at 0, the others alone at a middle axis; static operands never batched) and
compared with a Python loop over the batch
(``test_batching_rules.check_examples``: concrete and traced).

Everything runs on the NumPy interpreter (no compilation).
"""
import os
import sys
import zlib

import numpy as np
import pytest

from funcgrad.core.evaluate import eval_program
from funcgrad.core.ir import ShapedArray
from funcgrad.core.trace import primitives, trace_flat
from funcgrad.errors import UnsupportedError
from funcgrad.primitives.control import switch_p
from funcgrad.primitives.elementwise import stop_gradient_p
from funcgrad.primitives.indexing import scatter_add_p, take_p
from funcgrad.transforms.batching import batch_rules
from funcgrad.transforms.jvp import jvp_program, jvp_rules
from funcgrad.transforms.vjp import backward_pass, vjp_rules

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from primitive_cases import (CALLS, CASES, CONTROL, FORWARD_ONLY, NO_BATCH_RULE,  # noqa: E402
                             NO_CASES, NON_DIFFERENTIABLE, REVERSE_ONLY, SPECIAL,
                             STATIC_FOR_REVERSE, is_float32_case, static_operands)
from test_batching_rules import check_examples  # noqa: E402

FD_RTOL = 1e-7      # fourth-order differences with h = 1e-4 err by about 1e-10 here
ALL = sorted(primitives.values(), key=lambda p: p.name)
# primitives with typed bodies (control flow, calls): no float64 twin of a float32 case
CONTROL_PRIMS = {primitives[n] for n in CONTROL + CALLS if n in primitives}


def _has_vjp(prim) -> bool:
    return prim in vjp_rules


def _traced_vjp_raises(prim, args) -> bool:
    """Whether a traced VJP of the case must raise (an operand that must be
    static is not: ``STATIC_FOR_REVERSE``)."""
    if prim not in STATIC_FOR_REVERSE:
        return False
    static = static_operands(args)
    return any(i not in static for i in STATIC_FOR_REVERSE[prim][0])


# ----------------------------------------------------------------------------- helpers

def _aval(x) -> ShapedArray:
    return ShapedArray(np.shape(x), np.asarray(x).dtype)


def _is_float(x) -> bool:
    return np.asarray(x).dtype.kind == "f"


def _out_avals(prim, args, params):
    out = prim.abstract_eval(*[_aval(a) for a in args], **params)
    return list(out) if prim.multiple_results else [out]


def _bind(prim, args, params):
    """The primitive on concrete arrays (its NumPy implementation), as a list."""
    out = prim.bind(*args, **params)
    return [np.asarray(o) for o in (out if prim.multiple_results else [out])]


def _program(prim, args, params):
    """The one-equation program of a case: an input per operand; static
    operands (Python ints) stay literals (their inputs are unused)."""
    static = static_operands(args)

    def f(*xs):
        out = prim.bind(*[args[i] if i in static else x for i, x in enumerate(xs)], **params)
        return list(out) if prim.multiple_results else [out]
    return trace_flat(f, [_aval(a) for a in args], dce=False)


def _rng(*key):
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def _tangents(args, rng):
    """A standard-normal tangent for each float operand, None for the others."""
    return [np.asarray(rng.standard_normal(np.shape(a)), np.asarray(a).dtype) if _is_float(a) else None
            for a in args]


def _tangent_sets(args, rng):
    """``(label, tangents)``: every float operand with a tangent, then (when
    there are several) each one alone, the others symbolic zeros."""
    full = _tangents(args, rng)
    which = [i for i, t in enumerate(full) if t is not None]
    sets = [("all operands", full)]
    if len(which) > 1:
        for i in which:
            sets.append((f"operand {i}", [t if j == i else None for j, t in enumerate(full)]))
    return sets


def _jvp_concrete(program, args, tangents):
    outs, tans = jvp_program(program, list(args), list(tangents))
    return [np.asarray(o) for o in outs], [None if t is None else np.asarray(t) for t in tans]


def _jvp_traced(program, args, tangents):
    """``jvp_program`` traced into a program of (primals, tangents), then evaluated."""
    n = len(args)
    which = [i for i, t in enumerate(tangents) if t is not None]
    box = {}

    def f(*xt):
        ts = [None] * n
        for i, t in zip(which, xt[n:]):
            ts[i] = t
        outs, tans = jvp_program(program, list(xt[:n]), ts)
        box["has"] = [t is not None for t in tans]
        return list(outs) + [t for t in tans if t is not None]

    p = trace_flat(f, [_aval(a) for a in args] + [_aval(tangents[i]) for i in which])
    res = eval_program(p, list(args) + [tangents[i] for i in which])
    outs, rest = res[:len(box["has"])], iter(res[len(box["has"]):])
    return [np.asarray(o) for o in outs], [np.asarray(next(rest)) if h else None for h in box["has"]]


def _vjp_concrete(program, args, wrt, cts):
    _, grads = backward_pass(program, list(args), wrt, list(cts))
    return [np.asarray(g) for g in grads]


def _vjp_traced(program, args, wrt, cts):
    n = len(args)
    which = [k for k, c in enumerate(cts) if c is not None]

    def f(*xc):
        cs = [None] * len(cts)
        for k, c in zip(which, xc[n:]):
            cs[k] = c
        return backward_pass(program, list(xc[:n]), wrt, cs)[1]

    p = trace_flat(f, [_aval(a) for a in args] + [_aval(cts[k]) for k in which])
    return [np.asarray(g) for g in eval_program(p, list(args) + [cts[k] for k in which])]


def _dense(t, aval):
    return np.zeros(aval.shape, aval.dtype) if t is None else t


def _fd_jvp(prim, args, params, tangents, h=1e-4):
    """Fourth-order central difference of the primitive along ``tangents``
    (float outputs; None for the others)."""
    def at(s):
        moved = [a if t is None else a + s * h * t for a, t in zip(args, tangents)]
        return _bind(prim, moved, params)

    g2, g1, m1, m2 = at(2), at(1), at(-1), at(-2)
    return [(-a + 8 * b - 8 * c + d) / (12 * h) if _is_float(b) else None
            for a, b, c, d in zip(g2, g1, m1, m2)]


def _rel_err(got, want, floor=1e-3) -> float:
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    assert got.shape == want.shape, (got.shape, want.shape)
    if not got.size:
        return 0.0
    scale = max(np.max(np.abs(want)), np.max(np.abs(got)), floor)
    return float(np.max(np.abs(got - want)) / scale)


def _needs_rule(prim) -> bool:
    """Whether some case of ``prim`` takes and returns floats (so that an
    interpreter would ask for its rule)."""
    return any(any(_is_float(a) for a in args)
               and any(o.dtype.kind == "f" for o in _out_avals(prim, args, params))
               for args, params in CASES.get(prim, ()))


def _require_jvp(prim):
    if prim not in jvp_rules:
        pytest.fail(f"{prim.name} has no JVP rule")


# ----------------------------------------------------------------------------- registry

@pytest.mark.parametrize("prim", ALL, ids=lambda p: p.name)
def test_has_cases(prim):
    if prim in NO_CASES and not CASES.get(prim):
        assert NO_CASES[prim], f"{prim.name}: give a reason for having no cases"
        pytest.xfail(f"{prim.name} has no cases yet: {NO_CASES[prim]}")
    cases = CASES.get(prim)
    assert cases, f"{prim.name} has no example calls in tests/primitive_cases.py: add some to CASES"
    for args, params in cases + SPECIAL.get(prim, []):
        outs = _bind(prim, args, params)
        avals = _out_avals(prim, args, params)
        assert [(o.shape, o.dtype) for o in outs] == [(a.shape, a.dtype) for a in avals]


@pytest.mark.parametrize("prim", ALL, ids=lambda p: p.name)
def test_jvp_rule_registered(prim):
    if prim in NO_CASES and not CASES.get(prim):
        pytest.xfail(f"{prim.name} has no cases yet")
    if _needs_rule(prim):
        _require_jvp(prim)
    else:
        assert NON_DIFFERENTIABLE.get(prim), (
            f"{prim.name} never takes and returns floats in its cases: say why in NON_DIFFERENTIABLE "
            "(or add a case where it does)")


@pytest.mark.parametrize("prim", ALL, ids=lambda p: p.name)
def test_vjp_rule_registered(prim):
    if prim in NO_CASES and not CASES.get(prim):
        pytest.xfail(f"{prim.name} has no cases yet")
    if _needs_rule(prim):
        assert _has_vjp(prim), f"{prim.name} has no VJP rule"
    else:
        assert NON_DIFFERENTIABLE.get(prim)


@pytest.mark.parametrize("prim", ALL, ids=lambda p: p.name)
def test_batch_rule_registered(prim):
    if prim not in batch_rules:
        assert NO_BATCH_RULE.get(prim), (
            f"{prim.name} has no batching rule (funcgrad.transforms.batching.batch_rules): add one, "
            "or say why not in NO_BATCH_RULE (tests/primitive_cases.py)")


def test_reasons_are_for_known_primitives():
    assert set(NON_DIFFERENTIABLE) <= set(ALL) and set(SPECIAL) <= set(CASES)
    for table in (REVERSE_ONLY, FORWARD_ONLY, STATIC_FOR_REVERSE, NO_BATCH_RULE, NO_CASES):
        assert set(table) <= set(ALL) and all(table.values())
    assert not set(REVERSE_ONLY) & set(FORWARD_ONLY)
    # the expected errors are for rules that exist and raise, not for missing ones
    for prim in set(REVERSE_ONLY) | set(FORWARD_ONLY) | set(STATIC_FOR_REVERSE):
        assert CASES.get(prim) and prim in jvp_rules and _has_vjp(prim), prim.name
    # ... and the cases exercise both sides of STATIC_FOR_REVERSE
    for prim, (where, _) in STATIC_FOR_REVERSE.items():
        kinds = {all(i in static_operands(args) for i in where) for args, _ in CASES[prim]}
        assert kinds == {True, False}, f"{prim.name}: cases with static and with traced operands {where}"


# ----------------------------------------------------------------------------- per case

def _case_params(include_special=False):
    out = []
    for prim in ALL:
        for k, (args, params) in enumerate(CASES.get(prim, [])):
            out.append(pytest.param(prim, args, params, id=f"{prim.name}-{k}"))
        if include_special:
            for k, (args, params) in enumerate(SPECIAL.get(prim, [])):
                out.append(pytest.param(prim, args, params, id=f"{prim.name}-special-{k}"))
    return out


def _differentiable_case(prim, args, params):
    if not any(_is_float(a) for a in args):
        pytest.skip("no float operand")
    if _needs_rule(prim):
        _require_jvp(prim)


@pytest.mark.parametrize("prim,args,params", _case_params())
def test_jvp_matches_finite_differences(prim, args, params):
    _differentiable_case(prim, args, params)
    if is_float32_case(args, params):
        pytest.skip("float32: see test_float32_tangents")
    program = _program(prim, args, params)
    avals = _out_avals(prim, args, params)
    expected_out = _bind(prim, args, params)
    for label, tangents in _tangent_sets(args, _rng(prim.name, "fd", repr(params))):
        if prim in REVERSE_ONLY:        # forward mode raises by design
            _expect_unsupported(f"the JVP of {prim.name} (tangents of {label})", REVERSE_ONLY[prim],
                                _jvp_concrete, program, args, tangents)
            _expect_unsupported(f"the traced JVP of {prim.name} (tangents of {label})",
                                REVERSE_ONLY[prim], _jvp_traced, program, args, tangents)
            continue
        if prim is stop_gradient_p:     # the identity, whose derivative is zero by definition
            assert _jvp_concrete(program, args, tangents)[1] == [None]
            assert _jvp_traced(program, args, tangents)[1] == [None]
            continue
        fd = _fd_jvp(prim, args, params, tangents)
        for path, (outs, tans) in (("concrete", _jvp_concrete(program, args, tangents)),
                                   ("traced", _jvp_traced(program, args, tangents))):
            where = f"{path}, tangents of {label}"
            for o, e in zip(outs, expected_out):
                np.testing.assert_array_equal(o, e, err_msg=f"{where}: primal output")
            for k, (t, f, a) in enumerate(zip(tans, fd, avals)):
                if a.dtype.kind != "f":
                    assert t is None, f"{where}: output {k} ({a}) is not float but got a tangent"
                    continue
                t = _dense(t, a)
                assert (t.shape, t.dtype) == (a.shape, a.dtype), (
                    f"{where}: tangent {k} is {_aval(t)}, output {a}")
                assert np.all(np.isfinite(f)), f"finite differences are not finite: {f}"
                err = _rel_err(t, f)
                assert err <= FD_RTOL, (f"{where}: tangent {k}: relative error {err:.3g}\njvp:\n{t}\n"
                                        f"finite differences:\n{f}")


@pytest.mark.parametrize("prim,args,params", _case_params(include_special=True))
def test_vjp_is_transpose_of_jvp(prim, args, params):
    _differentiable_case(prim, args, params)
    avals = _out_avals(prim, args, params)
    if not any(a.dtype.kind == "f" for a in avals):
        pytest.skip("no float output")
    program = _program(prim, args, params)
    rng = _rng(prim.name, "transpose", repr(params), repr(args))
    for label, tangents in _tangent_sets(args, rng):
        _check_transpose(prim, program, args, params, avals, tangents, rng, label)


def _expect_unsupported(what, why, fn, *args):
    """``fn(*args)`` must raise UnsupportedError (by design: ``why``)."""
    with pytest.raises(UnsupportedError):
        fn(*args)
        pytest.fail(f"{what} should raise UnsupportedError ({why}) but returned")


def _check_transpose(prim, program, args, params, avals, tangents, rng, label):
    """``<u, J v> == <J^T u, v>``: ``J v`` from the JVP, or from central
    differences for a REVERSE_ONLY primitive; the VJP must raise for a
    FORWARD_ONLY one (and, traced, for STATIC_FOR_REVERSE with a traced operand)."""
    wrt = [i for i, t in enumerate(tangents) if t is not None]
    cts = [np.asarray(rng.standard_normal(a.shape), a.dtype) if a.dtype.kind == "f" else None
           for a in avals]

    if prim in FORWARD_ONLY:
        _expect_unsupported(f"the VJP of {prim.name} wrt {label}", FORWARD_ONLY[prim],
                            _vjp_concrete, program, args, wrt, cts)
        _expect_unsupported(f"the traced VJP of {prim.name} wrt {label}", FORWARD_ONLY[prim],
                            _vjp_traced, program, args, wrt, cts)
        return
    grads = _vjp_concrete(program, args, wrt, cts)
    if _traced_vjp_raises(prim, args):
        _expect_unsupported(f"the traced VJP of {prim.name} wrt {label}", STATIC_FOR_REVERSE[prim][1],
                            _vjp_traced, program, args, wrt, cts)
    else:
        grads_traced = _vjp_traced(program, args, wrt, cts)
        for g, gt in zip(grads, grads_traced):
            np.testing.assert_allclose(gt, g, rtol=1e-12, atol=1e-12, err_msg=f"traced VJP wrt {label}")

    f32 = is_float32_case(args, params)
    if prim in REVERSE_ONLY:            # no JVP: J v by central differences
        tans = _fd_jvp(prim, args, params, tangents, h=1e-2 if f32 else 1e-4)
        tol = 1e-3 if f32 else FD_RTOL
    else:
        _, tans = _jvp_concrete(program, args, tangents)
        tol = 1e-5 if f32 else 1e-12
    lhs = sum(float(np.sum(c.astype(np.float64) * _dense(t, a).astype(np.float64)))
              for c, t, a in zip(cts, tans, avals) if c is not None)
    rhs = sum(float(np.sum(g.astype(np.float64) * tangents[i].astype(np.float64)))
              for i, g in zip(wrt, grads))
    assert all(np.all(np.isfinite(_dense(t, a))) for t, a in zip(tans, avals) if a.dtype.kind == "f"), (
        f"JVP wrt {label} not finite: {tans}")
    assert all(np.all(np.isfinite(g)) for g in grads), f"VJP wrt {label} not finite: {grads}"
    scale = (sum(float(np.sum(np.abs(c) * np.abs(_dense(t, a)))) for c, t, a in zip(cts, tans, avals)
                 if c is not None)
             + sum(float(np.sum(np.abs(g) * np.abs(tangents[i]))) for i, g in zip(wrt, grads)) + 1e-300)
    assert abs(lhs - rhs) <= tol * scale, f"wrt {label}: <u, J v> = {lhs!r} but <J^T u, v> = {rhs!r}"


def _upcast(args, params):
    args = [np.asarray(a, np.float64) if np.asarray(a).dtype == np.float32 else a for a in args]
    params = dict(params)
    if params.get("dtype") is not None and np.dtype(params["dtype"]) == np.float32:
        params["dtype"] = np.dtype(np.float64)
    return args, params


@pytest.mark.parametrize("prim,args,params",
                         [p for p in _case_params() if is_float32_case(p.values[1], p.values[2])])
def test_float32_tangents(prim, args, params):
    _differentiable_case(prim, args, params)
    avals = _out_avals(prim, args, params)
    program = _program(prim, args, params)
    tangents = _tangents(args, _rng(prim.name, "f32", repr(params)))
    if prim in REVERSE_ONLY:
        _expect_unsupported(f"the JVP of {prim.name}", REVERSE_ONLY[prim],
                            _jvp_concrete, program, args, tangents)
    else:
        if prim in CONTROL_PRIMS:       # the bodies are typed: no float64 twin to compare with
            tans64 = [None] * len(avals)
        else:
            args64, params64 = _upcast(args, params)
            tangents64 = [None if t is None else t.astype(np.float64) for t in tangents]
            _, tans64 = _jvp_concrete(_program(prim, args64, params64), args64, tangents64)
        for path, (_, tans) in (("concrete", _jvp_concrete(program, args, tangents)),
                                ("traced", _jvp_traced(program, args, tangents))):
            for k, (t, t64, a) in enumerate(zip(tans, tans64, avals)):
                if t is None:
                    continue
                assert (t.shape, t.dtype) == (a.shape, a.dtype), f"{path}: tangent {k} is {_aval(t)}, output {a}"
                if prim not in CONTROL_PRIMS:
                    assert _rel_err(t, _dense(t64, a)) <= 1e-5, f"{path}: tangent {k}: {t} vs float64 {t64}"
    # the cotangents keep the operands' dtypes too
    wrt = [i for i, t in enumerate(tangents) if t is not None]
    cts = [np.ones(a.shape, a.dtype) if a.dtype.kind == "f" else None for a in avals]
    if prim in FORWARD_ONLY:
        _expect_unsupported(f"the VJP of {prim.name}", FORWARD_ONLY[prim], _vjp_concrete, program, args, wrt, cts)
        return
    grads = _vjp_concrete(program, args, wrt, cts)
    for i, g in zip(wrt, grads):
        assert g.dtype == np.asarray(args[i]).dtype and g.shape == np.shape(args[i])


@pytest.mark.parametrize("prim,args,params", _case_params())
def test_jvp_of_jvp(prim, args, params):
    """The rules are written with differentiable primitives: the traced JVP
    program differentiates again (forward over forward), matching finite
    differences of the JVP along the primal direction."""
    _differentiable_case(prim, args, params)
    if is_float32_case(args, params):
        pytest.skip("float32")
    program = _program(prim, args, params)
    rng = _rng(prim.name, "jvp2", repr(params))
    tangents = _tangents(args, rng)
    which = [i for i, t in enumerate(tangents) if t is not None]
    box = {}

    def jvp_fn(*xt):
        ts = [None] * len(args)
        for i, t in zip(which, xt[len(args):]):
            ts[i] = t
        _, tans = jvp_program(program, list(xt[:len(args)]), ts)
        box["has"] = [t is not None for t in tans]
        return [t for t in tans if t is not None]

    inner_avals = [_aval(a) for a in args] + [_aval(tangents[i]) for i in which]
    if prim in REVERSE_ONLY:
        _expect_unsupported(f"the traced JVP of {prim.name}", REVERSE_ONLY[prim], trace_flat, jvp_fn, inner_avals)
        return
    inner = trace_flat(jvp_fn, inner_avals)
    if not inner.out_atoms:
        return
    xt = list(args) + [tangents[i] for i in which]
    dirs = _tangents(args, rng) + [None] * len(which)      # move the primals only
    _, second = jvp_program(inner, xt, dirs)

    h = 1e-4
    def at(s):
        moved = [a if d is None else a + s * h * d for a, d in zip(xt, dirs)]
        return [np.asarray(o) for o in eval_program(inner, moved)]
    g2, g1, m1, m2 = at(2), at(1), at(-1), at(-2)
    for k, (t, a, b, c, d) in enumerate(zip(second, g2, g1, m1, m2)):
        fd = (-a + 8 * b - 8 * c + d) / (12 * h)
        t = np.zeros_like(b) if t is None else np.asarray(t)
        assert t.shape == b.shape and t.dtype == b.dtype
        err = _rel_err(t, fd)
        assert err <= 1e-6, f"second-order tangent {k}: relative error {err:.3g}\n{t}\nvs\n{fd}"


# ----------------------------------------------------------------------------- batching

BATCH = 3


def _index_bound(prim, args, params, i):
    """The number of valid values of integer operand ``i`` when it is an index
    (perturbed in range), else None."""
    if prim in (take_p, scatter_add_p) and i == 1:
        return np.shape(args[0])[params["axis"]]
    if prim is switch_p and i == 0:
        return len(params["branches"])
    return None


def _example(prim, args, params, i, rng):
    """A perturbed copy of operand ``i``: floats moved by up to 0.01, booleans
    flipped at random, indices moved within their range (out-of-range ones,
    which test clamping, kept), other integers moved by 0 or 1 away from zero
    (no sign change: divisors stay nonzero, small indices in ``checkpoint``
    bodies and loop bounds stay valid)."""
    x = np.asarray(args[i])
    kind = x.dtype.kind
    if kind == "f":
        return (x + 0.01 * rng.uniform(-1.0, 1.0, x.shape)).astype(x.dtype)
    if kind == "b":
        return x ^ (rng.random(x.shape) < 0.5)
    n = _index_bound(prim, args, params, i)
    if n is not None:
        if n and x.size and np.all((x >= 0) & (x < n)):
            return ((x.astype(np.int64) + rng.integers(0, n, x.shape)) % n).astype(x.dtype)
        return x
    return (x.astype(np.int64) + np.sign(x).astype(np.int64) * rng.integers(0, 2, x.shape)).astype(x.dtype)


def _layouts(args):
    """``(label, dims)``: the batch dimension of each operand (None: unbatched)."""
    dyn = [i for i in range(len(args)) if i not in static_operands(args)]
    if not dyn:
        return []

    def dims(where):
        return [where(i) if i in dyn else None for i in range(len(args))]

    out = [("all at 0", dims(lambda i: 0)),
           ("all at the last axis", dims(lambda i: np.ndim(args[i])))]
    if len(dyn) > 1:
        first = dyn[0]
        out.append(("the first alone", dims(lambda i: 0 if i == first else None)))
        out.append(("all but the first", dims(lambda i: None if i == first else np.ndim(args[i]) // 2)))
    return out


@pytest.mark.parametrize("prim,args,params", _case_params())
def test_batching_matches_loop(prim, args, params):
    """``batch_program`` of the case's one-equation program on a batch of 3
    perturbed examples, against a Python loop (concrete and traced)."""
    layouts = _layouts(args)
    if not layouts:
        pytest.skip("no operand to batch")
    program = _program(prim, args, params)
    rng = _rng(prim.name, "vmap", repr(params), repr(args))
    static = static_operands(args)
    elems = [[a] * BATCH if i in static else [a] + [_example(prim, args, params, i, rng) for _ in range(BATCH - 1)]
             for i, a in enumerate(args)]
    for label, dims in layouts:
        if prim in NO_BATCH_RULE:
            _expect_unsupported(f"vmap of {prim.name}", NO_BATCH_RULE[prim], check_examples,
                                prim, params, elems, dims, BATCH, program, True)
            continue
        try:
            check_examples(prim, params, elems, dims, BATCH, program, allow_unbatched=True)
        except Exception as e:
            raise AssertionError(f"{prim.name}, operands batched {label} (dims {dims}): "
                                 f"{type(e).__name__}: {e}") from e
