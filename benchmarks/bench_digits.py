"""Training the digits MLP (examples/train_digits.py: 64-128-64-10, ReLU,
softmax cross-entropy, Adam, batch 32, float32): one step and one epoch.

Part 1, one training step (value_and_grad + Adam update), per call:

- ``funcgrad fg.jit(step)``: forward, backward and Adam in one Numba function;
- ``hand NumPy``: forward pass, backpropagation and Adam written by hand;
- ``JAX + Optax jit(step)``: when both are installed (skipped otherwise).

Part 2, one epoch (1,347 samples: a shuffle, then 42 Adam steps):

- ``funcgrad epoch, one call``: ``fg.jit`` of ``shuffled_batches`` + ``fg.scan``
  over the steps (what the example runs);
- ``funcgrad steps from Python``: the compiled step of part 1 called 42 times
  from a Python loop over NumPy minibatches (``funcgrad.data.minibatches``);
- ``JAX + Optax epoch, one call``: ``jax.jit`` of a permutation + ``lax.scan``.

Every variant starts from the same parameters; funcgrad's step is checked
against the hand NumPy step, the one-call epoch against the 42 steps driven
from Python on the same batches, and JAX's step against the hand step, before
timing. Compile times (cold: an empty funcgrad cache directory) are printed
too. Timing: round-robin, best of ``--repeats``.

Run:  python benchmarks/bench_digits.py  [--repeats 30]
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time

os.environ["FUNCGRAD_COMPILE"] = "sync"
if "--warm-cache" not in sys.argv:   # measure the cold compile, as on a fresh machine
    os.environ["FUNCGRAD_CACHE_DIR"] = tempfile.mkdtemp(prefix="funcgrad-bench-")

import numba
import numpy as np

import funcgrad as fg
from _timing import best_of
from funcgrad import data, nn, optim

B, LR, SIZES = 32, 1e-3, [64, 128, 64, 10]
B1, B2, EPS = 0.9, 0.999, 1e-8


def load():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    d = load_digits()
    x = (d.data / 16.0).astype(np.float32)
    x_train, _, y_train, _ = train_test_split(x, d.target.astype(np.int64), test_size=0.25,
                                              stratify=d.target, random_state=0)
    return x_train, y_train


# ----------------------------------------------------------------------------- funcgrad

def loss_fn(params, x, y):
    return nn.cross_entropy(nn.mlp_apply(params, x), y)


TX = optim.adam(LR)


def fg_step(state, x, y):
    params, opt_state = state
    loss, grads = fg.value_and_grad(loss_fn)(params, x, y)
    updates, opt_state = TX.update(grads, opt_state, params)
    return (optim.apply_updates(params, updates), opt_state), loss


def fg_epoch(state, key, x, y):
    return fg.scan(lambda s, b: fg_step(s, *b), state, data.shuffled_batches(key, (x, y), B))


# ----------------------------------------------------------------------------- hand NumPy

def numpy_step(state, x, y):
    """Forward, backpropagation (softmax cross-entropy, ReLU) and Adam by hand."""
    params, (m, v, t) = state
    hs = [x]
    for layer in params[:-1]:
        hs.append(np.maximum(hs[-1] @ layer["w"] + layer["b"], np.float32(0)))
    z = hs[-1] @ params[-1]["w"] + params[-1]["b"]
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    s = e.sum(axis=1, keepdims=True)
    rows = np.arange(len(y))
    loss = np.mean(np.log(s[:, 0]) - z[rows, y])
    d = e / s
    d[rows, y] -= 1
    d /= np.float32(len(y))
    grads = [None] * len(params)
    for k in range(len(params) - 1, -1, -1):
        grads[k] = {"w": hs[k].T @ d, "b": d.sum(axis=0)}
        if k:
            d = (d @ params[k]["w"].T) * (hs[k] > 0)
    t = t + 1
    c1, c2 = np.float32(1 - B1 ** t), np.float32(1 - B2 ** t)
    new_p, new_m, new_v = [], [], []
    for p, g, mk, vk in zip(params, grads, m, v):
        mk = {n: np.float32(B1) * mk[n] + np.float32(1 - B1) * g[n] for n in p}
        vk = {n: np.float32(B2) * vk[n] + np.float32(1 - B2) * g[n] * g[n] for n in p}
        new_p.append({n: p[n] - np.float32(LR) * (mk[n] / c1) / (np.sqrt(vk[n] / c2) + np.float32(EPS))
                      for n in p})
        new_m.append(mk)
        new_v.append(vk)
    return (new_p, (new_m, new_v, t)), loss


# ----------------------------------------------------------------------------- JAX + Optax

def jax_variants(params, x_train, y_train):
    try:
        import jax
        import jax.numpy as jnp
        import optax
    except ImportError:
        return None

    def jloss(params, x, y):
        h = x
        for layer in params[:-1]:
            h = jax.nn.relu(h @ layer["w"] + layer["b"])
        logits = h @ params[-1]["w"] + params[-1]["b"]
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

    tx = optax.adam(LR)

    @jax.jit
    def step(params, opt_state, x, y):
        loss, g = jax.value_and_grad(jloss)(params, x, y)
        updates, opt_state = tx.update(g, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    @jax.jit
    def epoch(params, opt_state, key, x, y):
        steps = x.shape[0] // B
        order = jax.random.permutation(key, x.shape[0])[:steps * B]
        xb = x[order].reshape(steps, B, -1)
        yb = y[order].reshape(steps, B)

        def body(carry, batch):
            p, o = carry
            p, o, loss = step(p, o, *batch)
            return (p, o), loss
        return jax.lax.scan(body, (params, opt_state), (xb, yb))

    jp = jax.tree_util.tree_map(jnp.asarray, params)
    jo = tx.init(jp)
    xj, yj = jnp.asarray(x_train), jnp.asarray(y_train)
    key = jax.random.PRNGKey(0)
    t = time.perf_counter()
    jax.block_until_ready(step(jp, jo, xj[:B], yj[:B]))
    step_compile = time.perf_counter() - t
    t = time.perf_counter()
    jax.block_until_ready(epoch(jp, jo, key, xj, yj))
    epoch_compile = time.perf_counter() - t
    return {
        "step": lambda: jax.block_until_ready(step(jp, jo, xj[:B], yj[:B])),
        "epoch": lambda: jax.block_until_ready(epoch(jp, jo, key, xj, yj)),
        "check": lambda: step(jp, jo, xj[:B], yj[:B]),
        "compile": (step_compile, epoch_compile),
        "version": f"jax {jax.__version__}, optax {optax.__version__}",
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--warm-cache", action="store_true",
                        help="use funcgrad's usual cache directory (compile times then show the disk cache)")
    args = parser.parse_args()
    x_train, y_train = load()
    xb, yb = x_train[:B], y_train[:B]
    params = nn.mlp_init(fg.random.key(0), SIZES, dtype=np.float32)
    state = (params, TX.init(params))
    zeros = [{n: np.zeros_like(a) for n, a in layer.items()} for layer in params]
    np_state = (params, (zeros, zeros, 0))
    key = fg.random.key(1)

    t = time.perf_counter()
    step = fg.jit(fg_step)
    step(state, xb, yb)
    step_compile = time.perf_counter() - t
    t = time.perf_counter()
    epoch = fg.jit(fg_epoch)
    epoch(state, key, x_train, y_train)
    epoch_compile = time.perf_counter() - t

    # correctness before timing: two steps against NumPy
    s_fg, s_np = state, np_state
    for _ in range(2):
        s_fg, l_fg = step(s_fg, xb, yb)
        s_np, l_np = numpy_step(s_np, xb, yb)
        np.testing.assert_allclose(l_fg, l_np, rtol=1e-4)
    for a, b in zip(fg.tree.leaves(s_fg[0]), fg.tree.leaves(s_np[0])):
        assert a.dtype == np.float32
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)

    # the one-call epoch equals its 42 steps driven from Python on the same batches
    order = np.asarray(fg.random.permutation(key, len(x_train)))
    n_steps = len(x_train) // B

    def python_epoch(state, order=order):
        losses = []
        for k in range(n_steps):
            idx = order[k * B:(k + 1) * B]
            state, loss = step(state, x_train[idx], y_train[idx])
            losses.append(loss)
        return state, losses

    e_state, e_losses = epoch(state, key, x_train, y_train)
    p_state, p_losses = python_epoch(state)
    np.testing.assert_allclose(e_losses, p_losses, rtol=1e-4)
    for a, b in zip(fg.tree.leaves(e_state[0]), fg.tree.leaves(p_state[0])):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-5)

    def minibatch_epoch():   # as a user would write it: a fresh NumPy shuffle, then the steps
        s = state
        for bx, by in data.minibatches((x_train, y_train), B, seed=0, drop_remainder=True):
            s, _ = step(s, bx, by)
        return s

    steps = {"funcgrad fg.jit(step)": lambda: step(state, xb, yb),
             "hand NumPy step": lambda: numpy_step(np_state, xb, yb)}
    epochs = {"funcgrad epoch, one call (shuffle + scan)": lambda: epoch(state, key, x_train, y_train),
              "funcgrad steps from Python (minibatches + fg.jit(step))": minibatch_epoch,
              "hand NumPy steps from Python": lambda: [numpy_step(np_state, x_train[order[k * B:(k + 1) * B]],
                                                                  y_train[order[k * B:(k + 1) * B]])
                                                       for k in range(n_steps)]}
    jx = jax_variants(params, x_train, y_train)
    if jx is not None:
        _, _, jl = jx["check"]()
        np.testing.assert_allclose(float(jl), float(numpy_step(np_state, xb, yb)[1]), rtol=1e-4)
        steps["JAX + Optax jit(step)"] = jx["step"]
        epochs["JAX + Optax epoch, one call (permutation + lax.scan)"] = jx["epoch"]
    best_steps = best_of(steps, args.repeats)
    best_epochs = best_of(epochs, max(5, args.repeats // 3))

    print(f"# digits MLP {SIZES}, Adam, batch {B}, float32 ({platform.machine()}, numba "
          f"{numba.__version__}, numpy {np.__version__}" + (f", {jx['version']}" if jx else "")
          + f", best of {args.repeats})\n")
    np_t = best_steps["hand NumPy step"]
    jax_t = best_steps.get("JAX + Optax jit(step)")
    print("| one step | time | vs hand NumPy | vs JAX + Optax |")
    print("| --- | ---: | ---: | ---: |")
    for k, v in best_steps.items():
        print(f"| {k} | {v * 1e6:.1f} us | {v / np_t:.2f}x | {f'{v / jax_t:.2f}x' if jax_t else '-'} |")
    one = best_epochs["funcgrad epoch, one call (shuffle + scan)"]
    jax_e = best_epochs.get("JAX + Optax epoch, one call (permutation + lax.scan)")
    print(f"\n| one epoch ({n_steps} steps) | time | per step | vs funcgrad one call | vs JAX one call |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for k, v in best_epochs.items():
        print(f"| {k} | {v * 1e3:.2f} ms | {v / n_steps * 1e6:.0f} us | {v / one:.2f}x | "
              f"{f'{v / jax_e:.2f}x' if jax_e else '-'} |")
    jax_compile = [f"{c:.2f} s" for c in jx["compile"]] if jx else ["-", "-"]
    print("\n| first call (trace + compile) | funcgrad | JAX |")
    print("| --- | ---: | ---: |")
    print(f"| step | {step_compile:.1f} s | {jax_compile[0]} |")
    print(f"| epoch | {epoch_compile:.1f} s | {jax_compile[1]} |")


if __name__ == "__main__":
    main()
