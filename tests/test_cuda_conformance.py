"""The CUDA backend against the primitive registry (on Numba's CUDA simulator
here, on the device where there is one).

Every example call of every primitive (``primitive_cases.CASES``), as a
one-equation program compiled for ``backend="cuda"``, matches the interpreter
(float64 to 1e-12, float32 to a few ulps: the device's libm is not NumPy's);
and it runs on the device (its plan has no host step) unless its primitive is
listed in ``funcgrad.backends.cuda.host_only()`` with the reason, so a new
primitive that silently falls back to the host fails here, and so does a list
entry whose primitive has meanwhile moved to the device.
"""
import numpy as np
import pytest

from funcgrad.backends import cuda as fcuda
from funcgrad.backends.interpreter import compile_program as interpret
from funcgrad.core.ir import ShapedArray
from funcgrad.core.trace import primitives, trace_flat

from primitive_cases import CASES, static_operands

pytestmark = pytest.mark.skipif(not fcuda.available(), reason="no CUDA GPU and no simulator")


def _program(prim, args, params):
    static = static_operands(args)

    def f(*xs):
        out = prim.bind(*[args[i] if i in static else x for i, x in enumerate(xs)], **params)
        return list(out) if prim.multiple_results else [out]
    return trace_flat(f, [ShapedArray(np.shape(a), np.asarray(a).dtype) for a in args], dce=False)


_cases = [pytest.param(prim, args, params, id=f"{prim.name}-{k}")
          for prim, cases in CASES.items() for k, (args, params) in enumerate(cases)]


@pytest.mark.parametrize("prim,args,params", _cases)
def test_case_matches_the_interpreter(prim, args, params):
    program = _program(prim, args, params)
    run = fcuda.compile_program(program)
    got, want = run(*args), interpret(program)(*args)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        g, w = np.asarray(g), np.asarray(w)
        assert g.dtype == w.dtype and g.shape == w.shape, (g.dtype, g.shape, w.dtype, w.shape)
        tol = 4e-7 if w.dtype == np.float32 else 1e-12 if w.dtype.kind in "fc" else 0
        np.testing.assert_allclose(g, w, rtol=tol, atol=tol, equal_nan=True)
    on_host = [[e.primitive.name for e in group.eqns] for kind, group in zip(run.where, run.plan.groups)
               if kind == "host"]
    if prim in fcuda.host_only():
        assert on_host, f"{prim.name} runs on the device now: remove it from host_only()"
    else:
        assert not on_host, f"{prim.name}: these groups run on the host: {on_host}"
        assert not run.ran_on_host, f"{prim.name}: a device rule left these to the host: {run.ran_on_host}"


def test_host_only_names_registered_primitives_with_reasons():
    registered = set(primitives.values())
    for prim, why in fcuda.host_only().items():
        assert prim in registered and isinstance(why, str) and why.strip(), prim
        assert prim in CASES, f"{prim.name} has no cases to check it against"
