"""Lecture 003's toy network trained by SGD: 10,000 steps in ONE compiled fg.fori_loop.

    f[x, phi] = beta3 + omega3 cos(beta2 + omega2 exp(beta1 + omega1 sin(beta0 + omega0 x)))
    L         = 1/B sum_i (f[x_i, phi] - y_i)^2          (least squares over a batch of B)

The lecture's mini-batch SGD ("Reflections: Stochastic Gradient Descent" and
"Terminology"): N training samples, batch size B, so N/B iterations (gradient
steps) per epoch; each epoch first randomly shuffles the samples, then walks
them batch by batch with  phi := phi - eta grad L.  B = 1 is online SGD.

The shuffles are drawn up front with NumPy: a table of sample indices with one
row per iteration (epoch after epoch, each epoch a fresh permutation cut into
N/B rows of B). Then the whole training is one call:

    fg.fori_loop(0, steps, step, (phi, history))

whose body reads its row of the table, gathers the batch, calls
``fg.value_and_grad`` and takes the SGD step; funcgrad compiles the loop, the
forward and the backward pass into one Numba function. The carry also holds
the mean mini-batch loss of each tenth of the run (the history).

Checks in the report:
- the first step's gradient from funcgrad against the lecture's backprop by
  hand (forward f0, h1, f1, h2, f2, h3, f3; backward dl/df3 ... dl/df0;
  dl/dbeta_k = dl/df_k, dl/domega_k = h_k dl/df_k with h_0 = x), in NumPy;
- the same training driven from Python, one compiled step per call (same
  batches): the parameters agree to rounding; both times are shown.

The lecture gives the network and the update rule but no data set or learning
rate: the data here is a noisy sine (as in examples/toy_network.py), y =
sin(2x) + 0.1 noise on [-2, 2], and eta = 0.1.

Run:  python examples/toy_sgd.py                     (N = 200, B = 20, 10,000 steps)
      python examples/toy_sgd.py --batch 1 --lr 0.02 (online SGD)
"""
import argparse
import time

import numpy as np

import funcgrad as fg
import funcgrad.numpy as fnp

NAMES = ["beta0", "omega0", "beta1", "omega1", "beta2", "omega2", "beta3", "omega3"]


def f(phi, x):
    """The toy network, elementwise over an array of inputs x."""
    return phi["beta3"] + phi["omega3"] * fnp.cos(
        phi["beta2"] + phi["omega2"] * fnp.exp(
            phi["beta1"] + phi["omega1"] * fnp.sin(phi["beta0"] + phi["omega0"] * x)))


def loss(phi, x, y):
    """Least squares averaged over the samples given (a batch, or all N)."""
    return fnp.mean((f(phi, x) - y) ** 2)


def sgd_step(phi, x_batch, y_batch, lr):
    """One iteration: phi := phi - eta grad L(batch; phi)."""
    g = fg.grad(loss)(phi, x_batch, y_batch)
    return {k: phi[k] - lr * g[k] for k in phi}


def train(phi, x, y, batches, lr, blocks):
    """All the iterations in one fori_loop; iteration i uses the samples
    ``batches[i]``. Returns the final parameters and, for each of ``blocks``
    equal stretches of the run, the sum of its mini-batch losses."""
    steps = batches.shape[0]

    def step(i, carry):
        phi, history = carry
        idx = batches[i]                                  # this iteration's B sample indices
        value, g = fg.value_and_grad(loss)(phi, x[idx], y[idx])
        block = (i * blocks) // steps                     # which stretch of the run i falls in
        history = history + fnp.where(fnp.arange(blocks) == block, value, 0.0)
        return {k: phi[k] - lr * g[k] for k in phi}, history

    return fg.fori_loop(0, steps, step, (phi, fnp.zeros(blocks)))


def grad_by_backprop(phi, x, y):
    """The lecture's backpropagation, in NumPy, for the batch mean of l_i."""
    b0, w0, b1, w1, b2, w2, b3, w3 = (float(phi[k]) for k in NAMES)
    f0 = b0 + w0 * x                       # FORWARD
    h1 = np.sin(f0)
    f1 = b1 + w1 * h1
    h2 = np.exp(f1)
    f2 = b2 + w2 * h2
    h3 = np.cos(f2)
    f3 = b3 + w3 * h3
    dl_df3 = 2 * (f3 - y) / x.size         # BACKWARD (the 1/B of the mean included)
    dl_df2 = -np.sin(f2) * w3 * dl_df3
    dl_df1 = np.exp(f1) * w2 * dl_df2
    dl_df0 = np.cos(f0) * w1 * dl_df1
    return {"beta0": dl_df0.sum(), "omega0": (x * dl_df0).sum(),
            "beta1": dl_df1.sum(), "omega1": (h1 * dl_df1).sum(),
            "beta2": dl_df2.sum(), "omega2": (h2 * dl_df2).sum(),
            "beta3": dl_df3.sum(), "omega3": (h3 * dl_df3).sum()}


def make_data(rng, n):
    """A noisy sine on [-2, 2] (as in examples/toy_network.py)."""
    x = rng.uniform(-2.0, 2.0, size=n)
    y = np.sin(2.0 * x) + 0.1 * rng.normal(size=n)
    return x, y


def init_phi(rng):
    """omegas near 1, betas near 0, as float64 scalars."""
    return {k: np.float64((1.0 if k.startswith("omega") else 0.0) + 0.1 * rng.normal()) for k in NAMES}


def make_batches(rng, n, batch_size, steps):
    """(steps, B) sample indices: each epoch a fresh shuffle of 0..N-1 cut into
    N // B batches (a remainder of N % B samples sits that epoch out)."""
    iters = n // batch_size
    epochs = -(-steps // iters)
    rows = [rng.permutation(n)[:iters * batch_size].reshape(iters, batch_size) for _ in range(epochs)]
    return np.concatenate(rows)[:steps]


def main(n=200, batch_size=20, steps=10_000, lr=0.1, seed=0, blocks=10, backend="numba", verbose=True):
    """Train both ways; return a dict of the results (used by the tests)."""
    say = print if verbose else (lambda *a, **k: None)
    old_mode = fg.config.compile_mode
    fg.config.compile_mode = "sync"          # compile before the first call, so the timings are of compiled code
    try:
        rng = np.random.default_rng(seed)
        x, y = make_data(rng, n)
        phi0 = init_phi(rng)
        batches = make_batches(rng, n, batch_size, steps)
        iters = n // batch_size
        blocks = min(blocks, steps)
        kind = "online SGD" if batch_size == 1 else "batch gradient descent" if batch_size >= n else "mini-batch SGD"
        say(f"Lecture 003's toy network fitted by {kind}, {steps} steps in one compiled fg.fori_loop")
        say(f"  N = {n} samples, B = {batch_size}: N/B = {iters} iterations per epoch, "
            f"{steps} iterations = {steps / iters:g} epochs, eta = {lr}")
        loss_before = float(loss(phi0, x, y))
        say(f"  loss on all N before training: {loss_before:.4f}  "
            f"(predicting the mean: {y.var():.4f}; the noise floor: 0.0100)")

        # the first step's gradient: funcgrad against the lecture's backprop by hand
        xb, yb = x[batches[0]], y[batches[0]]
        g_fg = fg.grad(loss)(phi0, xb, yb)
        g_hand = grad_by_backprop(phi0, xb, yb)
        grad_diff = max(abs(float(g_fg[k]) - g_hand[k]) for k in NAMES)
        say(f"  first step's 8 partials, fg.grad vs the lecture's backprop by hand: max difference {grad_diff:.1e}")

        # 1. the whole training as one compiled call (the first call traces and compiles)
        fit = fg.jit(train, static_argnums=5, backend=backend)
        t0 = time.perf_counter()
        fit(phi0, x, y, batches, lr, blocks)
        t_compile = time.perf_counter() - t0
        t0 = time.perf_counter()
        phi_c, history = fit(phi0, x, y, batches, lr, blocks)
        t_compiled = time.perf_counter() - t0
        per_block = np.bincount((np.arange(steps) * blocks) // steps, minlength=blocks)
        history = np.asarray(history) / per_block        # mean mini-batch loss per stretch

        # 2. the same, one compiled SGD step per iteration, driven from Python
        step = fg.jit(sgd_step, backend=backend)
        t0 = time.perf_counter()
        step(phi0, xb, yb, lr)                           # trace and compile the step (result unused)
        t_compile_step = time.perf_counter() - t0
        t0 = time.perf_counter()
        phi_p = phi0
        for idx in batches:
            phi_p = step(phi_p, x[idx], y[idx], lr)
        t_python = time.perf_counter() - t0

        loss_after = float(loss(phi_c, x, y))
        max_diff = max(abs(float(phi_c[k]) - float(phi_p[k])) for k in NAMES)
        ends = np.cumsum(per_block)
        say("  after iteration   mean mini-batch loss over the stretch")
        for end, value in zip(ends, history):
            say(f"  {end:15d}   {value:.4f}")
        say(f"  loss on all N after training:  {loss_after:.4f}  ({loss_before / loss_after:.1f}x lower)")
        say("  fitted phi:", ", ".join(f"{k} {float(phi_c[k]):.3f}" for k in NAMES))
        grid = np.linspace(-2, 2, 5)
        say("  x        :", "  ".join(f"{v:6.3f}" for v in grid))
        say("  sin(2x)  :", "  ".join(f"{v:6.3f}" for v in np.sin(2 * grid)))
        say("  f[x, phi]:", "  ".join(f"{v:6.3f}" for v in np.asarray(f(phi_c, grid))))
        say(f"  one fori_loop and {steps} Python-driven steps agree: max |phi difference| = {max_diff:.1e}")
        say(f"  time for the whole training ({backend} backend, compiles not included):")
        say(f"    one call, fg.fori_loop over {steps} steps: {1e3 * t_compiled:8.1f} ms  "
            f"(first call, with compile: {t_compile:.1f} s)")
        say(f"    {steps} calls of a compiled step from Python: {1e3 * t_python:8.1f} ms  "
            f"(compiling the step: {t_compile_step:.1f} s)")
        say(f"    speedup of the single call: {t_python / t_compiled:.1f}x "
            f"({1e6 * t_compiled / steps:.1f} vs {1e6 * t_python / steps:.1f} us per iteration)")
        return {"phi0": phi0, "phi_compiled": phi_c, "phi_python": phi_p, "x": x, "y": y,
                "batches": batches, "lr": lr, "loss_before": loss_before, "loss_after": loss_after,
                "history": history, "grad_first_step": g_fg, "grad_by_backprop": g_hand,
                "max_diff": max_diff, "time_compiled": t_compiled, "time_python": t_python}
    finally:
        fg.config.compile_mode = old_mode


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="N, number of training samples")
    parser.add_argument("--batch", type=int, default=20, help="B, batch size (1: online SGD)")
    parser.add_argument("--steps", type=int, default=10_000, help="number of SGD iterations")
    parser.add_argument("--lr", type=float, default=0.1, help="learning rate eta")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--backend", choices=["numba", "interpret"], default="numba")
    args = parser.parse_args()
    main(n=args.n, batch_size=args.batch, steps=args.steps, lr=args.lr, seed=args.seed, backend=args.backend)
