"""Finite-difference references for funcgrad's gradients (float64).

``numerical_vjp(f, args, argnums, cotangent)`` differentiates
``<cotangent, f(*args)>`` with a fourth-order central difference,
evaluating ``f`` on plain NumPy arrays only. ``check_grads`` compares
``fg.grad`` and ``fg.vjp`` of a funcgrad function against it, with the
finite differences taken on an independent NumPy reference function when one
is given (so that a wrong forward pass cannot hide a wrong gradient).
"""
from __future__ import annotations

import numpy as np

import funcgrad as fg
import funcgrad.numpy as fnp

__all__ = ["numerical_vjp", "numerical_grad", "check_grads", "rel_error", "random_cotangent"]


def _leaves(out):
    """The outputs of ``f`` as a list of float64 arrays (a tuple/list of outputs, or one)."""
    if isinstance(out, (tuple, list)):
        return [np.asarray(o, dtype=np.float64) for o in out]
    return [np.asarray(out, dtype=np.float64)]


def _pairing(f, args, cotangent):
    cts = cotangent if isinstance(cotangent, (tuple, list)) else [cotangent]

    def scalar_fn(*a):
        outs = _leaves(f(*a))
        assert len(outs) == len(cts), "cotangent structure does not match the outputs"
        return float(sum(np.sum(np.asarray(c, np.float64) * o) for c, o in zip(cts, outs)))
    return scalar_fn


def numerical_vjp(f, args, argnums, cotangent, h=1e-4):
    """Gradient of ``sum(cotangent * f(*args))`` with respect to ``args[i]`` for
    ``i`` in ``argnums``, by the central stencil
    ``(-g(x+2h) + 8 g(x+h) - 8 g(x-h) + g(x-2h)) / 12h`` (error O(h^4)).

    ``f`` must accept float64 NumPy arrays; differentiated arguments are
    converted to float64 first, so float32 inputs get float64 references.
    """
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    base = [np.array(a, dtype=np.float64, order="C") if i in nums else a for i, a in enumerate(args)]  # C: reshape views it
    g = _pairing(f, base, cotangent)
    grads = []
    for i in nums:
        x = base[i]
        flat = x.reshape(-1)  # a view: perturbations show in `base[i]`
        out = np.zeros(x.size, dtype=np.float64)
        for k in range(x.size):
            orig = flat[k]
            vals = []
            for step in (2, 1, -1, -2):
                flat[k] = orig + step * h
                vals.append(g(*base))
            flat[k] = orig
            out[k] = (-vals[0] + 8 * vals[1] - 8 * vals[2] + vals[3]) / (12 * h)
        grads.append(out.reshape(x.shape))
    return grads[0] if isinstance(argnums, int) else tuple(grads)


def numerical_grad(f, args, argnums=0, h=1e-4):
    """Finite-difference gradient of a scalar-valued ``f``."""
    return numerical_vjp(f, args, argnums, np.float64(1.0), h)


def rel_error(actual, expected, floor=1e-3) -> float:
    """``max|actual - expected| / max(max|expected|, max|actual|, floor)``.

    The floor keeps the round-off of finite differences (about 1e-12) from
    counting as a relative error where the exact gradient is zero: gradients
    smaller than ``floor`` are compared with the absolute tolerance
    ``rtol * floor``."""
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    if actual.size == 0:
        return 0.0
    scale = max(np.max(np.abs(expected)), np.max(np.abs(actual)), floor)
    if not np.isfinite(scale):
        return np.inf
    return float(np.max(np.abs(actual - expected)) / scale)


def random_cotangent(out, rng):
    """A standard-normal cotangent shaped like ``out`` (same tuple/list structure)."""
    if isinstance(out, (tuple, list)):
        return type(out)(random_cotangent(o, rng) for o in out)
    return rng.standard_normal(np.shape(out))


def check_grads(f, args, argnums=0, ref=None, rtol=1e-6, seed=0, h=1e-4, value_rtol=1e-12):
    """Check ``fg.grad``/``fg.vjp`` of ``f`` against finite differences.

    - ``f``: the function under test, written with ``funcgrad.numpy``.
    - ``ref``: the same function written with NumPy (default ``f``), used
      for the forward value and the finite differences.
    - Scalar outputs: ``fg.grad(f)``. Other outputs (arrays, or a tuple or
      list of them): ``fg.vjp(f)`` with a random cotangent, and ``fg.grad`` of
      the pairing ``sum(ct * f)``.

    Each gradient must have the argument's shape and dtype, and a relative
    error (see :func:`rel_error`) at most ``rtol``.
    """
    ref = f if ref is None else ref
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    args = tuple(np.asarray(a) for a in args)
    rng = np.random.default_rng(seed)

    ref_out = ref(*args)
    is_tree = isinstance(ref_out, (tuple, list))
    scalar_out = not is_tree and np.ndim(ref_out) == 0
    ct = np.float64(1.0) if scalar_out else random_cotangent(ref_out, rng)
    expected = numerical_vjp(ref, args, nums, ct, h)
    if not all(np.all(np.isfinite(e)) for e in expected):
        raise AssertionError(f"finite differences are not finite: {expected}")

    def compare(got, label):
        for i, g, e in zip(nums, got, expected):
            g_arr = np.asarray(g)
            a = args[i]
            assert g_arr.shape == a.shape, f"{label}: gradient {i} has shape {g_arr.shape}, argument {a.shape}"
            assert g_arr.dtype == a.dtype, f"{label}: gradient {i} has dtype {g_arr.dtype}, argument {a.dtype}"
            err = rel_error(g_arr, e)
            assert err <= rtol, (f"{label}: gradient wrt argument {i}: relative error {err:.3g} > {rtol:g}\n"
                                 f"funcgrad:\n{g_arr}\nfinite differences:\n{e}")

    # vjp (forward value + cotangent pulled back)
    out, vjp_fn = fg.vjp(f, *args)
    for o, r in zip(_leaves(out), _leaves(ref_out)):
        np.testing.assert_allclose(o, r, rtol=value_rtol, atol=value_rtol, err_msg="forward value")
    if is_tree:
        vjp_ct = type(ref_out)(np.asarray(c, dtype=np.asarray(o).dtype) for c, o in zip(ct, out))
    else:
        vjp_ct = np.asarray(ct, dtype=np.asarray(out).dtype)
    cts = vjp_fn(vjp_ct)
    compare([cts[i] for i in nums], "vjp")

    # grad (of f itself when scalar, else of the pairing with the cotangent)
    if scalar_out:
        loss = f
    else:
        def loss(*a):
            outs = f(*a)
            outs = outs if is_tree else [outs]
            cs = ct if is_tree else [ct]
            total = None
            for c, o in zip(cs, outs):
                term = fnp.sum(o * np.asarray(c, dtype=o.dtype))
                total = term if total is None else total + term
            return total
    g = fg.grad(loss, argnums=nums)(*args)
    compare(g, "grad")
    return expected
