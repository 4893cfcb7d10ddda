"""Transformations (issue 11): funcgrad against JAX, measured in the same run.

Parts (``--part``, default all):

1. ``per-example``: per-example gradients of the digits MLP (64-128-64-10, tanh,
   softmax cross-entropy, float32), ``jit(vmap(grad(loss), in_axes=(None, 0, 0)))``,
   batch 32 and 256.
2. ``hessian``: ``jit(hessian(f))`` of a 100-parameter function
   (``f(x) = sum(log1p(exp(A x))) + 0.5 |x|^2``, A 50x100, float64), and
   ``hvp`` (forward-over-reverse) of the 784-100-10 MLP's loss at batch 128
   (float32), with the cost of one ``grad`` of the same loss for the ratio
   hvp / grad.
3. ``scan``: reverse mode through a 1,000-step ``scan`` of a vanilla RNN cell
   (hidden 128, batch 32, input 32, float32): ``jit(grad(loss))`` per call and
   per step, and the first call (trace + compile) of each.

Every figure is a median over many calls (round-robin between funcgrad and
JAX, so that the shared machine's load hits both alike), with the load
average printed. Steady state runs with ``FUNCGRAD_COMPILE=sync``. Results are
checked against each other before timing.

Run:  python benchmarks/bench_transforms.py [--part 1|2|3] [--repeats N]
"""
from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("FUNCGRAD_COMPILE", "sync")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np

import funcgrad as fg
import funcgrad.numpy as fnp
from _timing import load_average, medians

fg.config.compile_mode = "sync"

try:
    import jax
    import jax.numpy as jnp
    jax.config.update("jax_enable_x64", True)
except ImportError:  # pragma: no cover
    jax = None


def _first_call(fn, *args):
    t = time.perf_counter()
    out = fn(*args)
    _block(out)
    return time.perf_counter() - t, out


def _block(out):
    if jax is not None:
        jax.tree_util.tree_map(lambda a: a.block_until_ready() if hasattr(a, "block_until_ready") else a, out)


def _close(a, b, rtol, what):
    la, lb = fg.tree.leaves(a), jax.tree_util.tree_leaves(b)
    for x, y in zip(la, lb):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=rtol, atol=rtol, err_msg=what)


def _row(name, ours, ref, extra=""):
    print(f"| {name} | {ours * 1e6:,.0f} us | {ref * 1e6:,.0f} us | {ours / ref:.2f}x |{extra}")


# ----------------------------------------------------------------------------- 1. per-example grads

def _mlp_params(rng, sizes, dtype):
    params = {}
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        params[f"w{i}"] = (rng.standard_normal((a, b)) / np.sqrt(a)).astype(dtype)
        params[f"b{i}"] = np.zeros(b, dtype)
    return params


def part_per_example(repeats):
    from sklearn.datasets import load_digits

    digits = load_digits()
    X = (digits.data / 16.0).astype(np.float32)
    Y = digits.target.astype(np.int64)
    rng = np.random.default_rng(0)
    params = _mlp_params(rng, (64, 128, 64, 10), np.float32)
    n_layers = 3

    def loss(p, x, y):         # one example: x (64,), y ()
        h = x
        for i in range(n_layers - 1):
            h = fnp.tanh(h @ p[f"w{i}"] + p[f"b{i}"])
        z = h @ p[f"w{n_layers - 1}"] + p[f"b{n_layers - 1}"]
        return -(z[y] - fnp.log(fnp.sum(fnp.exp(z - z.max()))) - z.max())

    def jloss(p, x, y):
        h = x
        for i in range(n_layers - 1):
            h = jnp.tanh(h @ p[f"w{i}"] + p[f"b{i}"])
        z = h @ p[f"w{n_layers - 1}"] + p[f"b{n_layers - 1}"]
        return -(z[y] - jnp.log(jnp.sum(jnp.exp(z - z.max()))) - z.max())

    ours = fg.jit(fg.vmap(fg.grad(loss), in_axes=(None, 0, 0)))
    theirs = jax.jit(jax.vmap(jax.grad(jloss), in_axes=(None, 0, 0)))
    print("\n### per-example gradients, digits MLP 64-128-64-10, float32 —", load_average())
    print("| batch | funcgrad | JAX | ratio | first call funcgrad / JAX |")
    print("| --- | --- | --- | --- | --- |")
    for batch in (32, 256):
        x, y = X[:batch], Y[:batch]
        t_ours, g = _first_call(ours, params, x, y)
        jp = jax.tree_util.tree_map(jnp.asarray, params)
        jx, jy = jnp.asarray(x), jnp.asarray(y)
        t_jax, gj = _first_call(theirs, jp, jx, jy)
        _close(g, gj, 2e-4, "per-example grads")
        assert g["w0"].dtype == np.float32 and g["w0"].shape == (batch, 64, 128)
        m = medians({"ours": lambda: ours(params, x, y),
                     "jax": lambda: _block(theirs(jp, jx, jy))}, repeats)
        _row(batch, m["ours"], m["jax"], f" {t_ours:.2f} s / {t_jax:.2f} s |")


# ----------------------------------------------------------------------------- 2. hessian, hvp

def part_hessian(repeats):
    rng = np.random.default_rng(1)
    A = rng.standard_normal((50, 100))
    x0 = rng.standard_normal(100) * 0.1

    def f(x):
        return fnp.sum(fnp.log1p(fnp.exp(A @ x))) + 0.5 * fnp.sum(x * x)

    def jf(x):
        return jnp.sum(jnp.log1p(jnp.exp(A @ x))) + 0.5 * jnp.sum(x * x)

    ours = fg.jit(fg.hessian(f))
    theirs = jax.jit(jax.hessian(jf))
    print("\n### hessian of a 100-parameter function (float64) and hvp of the 784-100-10 MLP (float32) —",
          load_average())
    print("| case | funcgrad | JAX | ratio | first call funcgrad / JAX |")
    print("| --- | --- | --- | --- | --- |")
    t_ours, H = _first_call(ours, x0)
    t_jax, Hj = _first_call(theirs, jnp.asarray(x0))
    _close(H, Hj, 1e-9, "hessian")
    m = medians({"ours": lambda: ours(x0), "jax": lambda: _block(theirs(jnp.asarray(x0)))}, repeats)
    _row("hessian, 100 params", m["ours"], m["jax"], f" {t_ours:.2f} s / {t_jax:.2f} s |")

    params = _mlp_params(rng, (784, 100, 10), np.float32)
    x = rng.standard_normal((128, 784)).astype(np.float32)
    y = rng.integers(0, 10, 128)
    v = {k: rng.standard_normal(p.shape).astype(np.float32) for k, p in params.items()}

    def loss(p, x, y):
        h = fnp.tanh(x @ p["w0"] + p["b0"])
        z = h @ p["w1"] + p["b1"]
        logp = z - fnp.logsumexp(z, axis=1, keepdims=True)
        return -fnp.mean(logp[fnp.arange(y.shape[0]), y])

    def jloss(p, x, y):
        h = jnp.tanh(x @ p["w0"] + p["b0"])
        z = h @ p["w1"] + p["b1"]
        logp = z - jax.nn.logsumexp(z, axis=1, keepdims=True)
        return -jnp.mean(logp[jnp.arange(y.shape[0]), y])

    ours_hvp = fg.jit(lambda p, v, x, y: fg.hvp(lambda q: loss(q, x, y), p, v))
    theirs_hvp = jax.jit(lambda p, v, x, y: jax.jvp(jax.grad(lambda q: jloss(q, x, y)), (p,), (v,))[1])
    ours_grad = fg.jit(fg.grad(loss))
    jp = jax.tree_util.tree_map(jnp.asarray, params)
    jv = jax.tree_util.tree_map(jnp.asarray, v)
    jx, jy = jnp.asarray(x), jnp.asarray(y)
    t_ours, hv = _first_call(ours_hvp, params, v, x, y)
    t_jax, hvj = _first_call(theirs_hvp, jp, jv, jx, jy)
    _close(hv, hvj, 2e-3, "hvp")
    ours_grad(params, x, y)
    m = medians({"ours": lambda: ours_hvp(params, v, x, y),
                 "jax": lambda: _block(theirs_hvp(jp, jv, jx, jy)),
                 "grad": lambda: ours_grad(params, x, y)}, repeats)
    _row("hvp, MLP 784-100-10, batch 128", m["ours"], m["jax"], f" {t_ours:.2f} s / {t_jax:.2f} s |")
    print(f"\nfuncgrad hvp / funcgrad grad of the same loss: {m['ours'] / m['grad']:.2f}x "
          f"(grad {m['grad'] * 1e6:,.0f} us)")


# ----------------------------------------------------------------------------- 3. scan RNN

def part_scan(repeats, length=1000, hidden=128, batch=32, inputs=32):
    rng = np.random.default_rng(2)
    params = {"W": (rng.standard_normal((hidden, hidden)) / np.sqrt(hidden)).astype(np.float32),
              "U": (rng.standard_normal((inputs, hidden)) / np.sqrt(inputs)).astype(np.float32),
              "b": np.zeros(hidden, np.float32)}
    xs = rng.standard_normal((length, batch, inputs)).astype(np.float32)
    h0 = np.zeros((batch, hidden), np.float32)

    def loss(p, h0, xs):
        def cell(h, x):
            h = fnp.tanh(h @ p["W"] + x @ p["U"] + p["b"])
            return h, fnp.sum(h * h)
        h, ys = fg.scan(cell, h0, xs)
        return fnp.sum(ys) / length + fnp.sum(h)

    def jloss(p, h0, xs):
        def cell(h, x):
            h = jnp.tanh(h @ p["W"] + x @ p["U"] + p["b"])
            return h, jnp.sum(h * h)
        h, ys = jax.lax.scan(cell, h0, xs)
        return jnp.sum(ys) / length + jnp.sum(h)

    ours = fg.jit(fg.grad(loss))
    theirs = jax.jit(jax.grad(jloss))
    jp = jax.tree_util.tree_map(jnp.asarray, params)
    jh, jxs = jnp.asarray(h0), jnp.asarray(xs)
    t_ours, g = _first_call(ours, params, h0, xs)
    t_jax, gj = _first_call(theirs, jp, jh, jxs)
    _close(g, gj, 2e-3, "scan grads")
    print(f"\n### reverse mode through a {length}-step scan, RNN hidden {hidden}, batch {batch}, "
          f"float32 — {load_average()}")
    print("| case | funcgrad | JAX | ratio | first call funcgrad / JAX |")
    print("| --- | --- | --- | --- | --- |")
    m = medians({"ours": lambda: ours(params, h0, xs), "jax": lambda: _block(theirs(jp, jh, jxs))},
                max(5, repeats // 4), min_time=0.0)
    _row("jit(grad) per call", m["ours"], m["jax"], f" {t_ours:.2f} s / {t_jax:.2f} s |")
    print(f"per step: funcgrad {m['ours'] / length * 1e6:.1f} us, JAX {m['jax'] / length * 1e6:.1f} us")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--part", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=41)
    args = ap.parse_args()
    if jax is None:
        sys.exit("JAX is not installed: these benchmarks are ratios against JAX")
    print(f"funcgrad {fg.__version__}, JAX {jax.__version__}, cache {os.environ.get('FUNCGRAD_CACHE_DIR', 'default')}")
    parts = {1: part_per_example, 2: part_hessian, 3: part_scan}
    for k, fn in parts.items():
        if args.part in (0, k):
            fn(args.repeats)


if __name__ == "__main__":
    main()
