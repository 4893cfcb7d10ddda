"""Lecture 003's toy network trained by SGD, the whole training in one compiled call.

    f[x, phi] = beta3 + omega3 cos(beta2 + omega2 exp(beta1 + omega1 sin(beta0 + omega0 x)))
    L         = 1/B sum_i (f[x_i, phi] - y_i)^2          (least squares over a batch of B)

The lecture's mini-batch SGD ("Reflections: Stochastic Gradient Descent" and
"Terminology"): N training samples, batch size B, so N/B iterations (gradient
steps) per epoch; each epoch first randomly shuffles the samples, then walks
them batch by batch with  phi := phi - eta grad L.  B = 1 is online SGD
(N iterations per epoch), B = N batch gradient descent (one).

The same training runs two ways, with the same shuffles (one permutation of
the N samples per epoch, drawn up front with NumPy):

1. step by step from Python: a compiled SGD step (``fg.jit``), called once per
   iteration, the batches gathered with NumPy;
2. in ONE compiled call: ``fg.scan`` over the epochs, and inside it
   ``fg.scan`` over the epoch's batches, whose body gathers its batch and
   calls ``fg.value_and_grad``; funcgrad compiles both loops into one Numba
   function.

Both give the same parameters (to rounding); the report shows the loss on
all N samples before and after, per-epoch progress, both times and the speedup.

Run:  python examples/toy_sgd.py   (B = 20, then online SGD, B = 1)
      python examples/toy_sgd.py --batch 50 --epochs 500 --n 1000 --lr 0.1
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


def train_compiled(phi, x, y, perms, lr, batch_size):
    """The whole training: scan over epochs (one permutation each), and in each
    epoch a scan over its N/B batches of sample indices. Returns the final
    parameters and, per epoch, the mean mini-batch loss and the loss on all N."""
    n = x.shape[0]
    iters = n // batch_size                        # N/B iterations per epoch

    def iteration(phi, idx):                       # idx: the B sample indices of one batch
        value, g = fg.value_and_grad(loss)(phi, x[idx], y[idx])
        return {k: phi[k] - lr * g[k] for k in phi}, value

    def epoch(phi, perm):                          # perm: this epoch's shuffle of 0..N-1
        batches = fnp.reshape(perm[:iters * batch_size], (iters, batch_size))
        phi, batch_losses = fg.scan(iteration, phi, batches)
        return phi, (fnp.mean(batch_losses), loss(phi, x, y))

    return fg.scan(epoch, phi, perms)


def train_python(step, phi, x, y, perms, lr, batch_size):
    """The same training driven from Python: one compiled call per iteration."""
    iters = x.shape[0] // batch_size
    for perm in perms:                             # 1. this epoch's random shuffle
        for it in range(iters):                    # 2. one gradient step per mini-batch
            idx = perm[it * batch_size:(it + 1) * batch_size]
            phi = step(phi, x[idx], y[idx], lr)
    return phi


def make_data(rng, n):
    """A noisy sine on [-2, 2] (as in examples/toy_network.py)."""
    x = rng.uniform(-2.0, 2.0, size=n)
    y = np.sin(2.0 * x) + 0.1 * rng.normal(size=n)
    return x, y


def init_phi(rng):
    """omegas near 1, betas near 0, as float64 scalars."""
    return {k: np.float64((1.0 if k.startswith("omega") else 0.0) + 0.1 * rng.normal()) for k in NAMES}


def main(n=200, batch_size=20, epochs=300, lr=0.1, seed=0, verbose=True):
    """Train both ways; return a dict of the results (used by the tests)."""
    say = print if verbose else (lambda *a, **k: None)
    old_mode = fg.config.compile_mode
    fg.config.compile_mode = "sync"          # compile before the first call, so the timings are of compiled code
    try:
        rng = np.random.default_rng(seed)
        x, y = make_data(rng, n)
        phi0 = init_phi(rng)
        perms = np.stack([rng.permutation(n) for _ in range(epochs)])   # the shuffles, shared by both runs
        iters = fg.data.iterations_per_epoch(n, batch_size)
        kind = ("online SGD" if batch_size == 1 else "batch gradient descent" if batch_size >= n
                else "mini-batch SGD")
        say(f"Lecture 003's toy network fitted by {kind}")
        say(f"  N = {n} samples, B = {batch_size}: N/B = {iters} iterations per epoch, "
            f"{epochs} epochs = {epochs * iters} iterations, eta = {lr}")
        if n % batch_size:
            say(f"  (the last {n % batch_size} samples of each shuffle sit out that epoch)")
        loss_before = float(loss(phi0, x, y))
        say(f"  loss on all N before training: {loss_before:.4f}  "
            f"(predicting the mean: {y.var():.4f}; the noise floor: 0.0100)")

        # 1. the whole training as one compiled call (the first call traces and compiles)
        train = fg.jit(train_compiled, static_argnums=5)      # B fixes the shapes: static
        t0 = time.perf_counter()
        train(phi0, x, y, perms, lr, batch_size)
        t_compile = time.perf_counter() - t0
        t0 = time.perf_counter()
        phi_c, (batch_losses, epoch_losses) = train(phi0, x, y, perms, lr, batch_size)
        t_compiled = time.perf_counter() - t0

        # 2. the same, one compiled SGD step per iteration, driven from Python
        step = fg.jit(sgd_step)
        t0 = time.perf_counter()
        step(phi0, x[:batch_size], y[:batch_size], lr)      # trace and compile the step (result unused)
        t_compile_step = time.perf_counter() - t0
        t0 = time.perf_counter()
        phi_p = train_python(step, phi0, x, y, perms, lr, batch_size)
        t_python = time.perf_counter() - t0

        loss_after = float(loss(phi_c, x, y))
        max_diff = max(abs(float(phi_c[k]) - float(phi_p[k])) for k in NAMES)
        shown = sorted({0, *range(0, epochs, max(1, epochs // 5)), epochs - 1})
        say("  after epoch  mean mini-batch loss  loss on all N")
        for e in shown:
            say(f"  {e + 1:11d}  {float(batch_losses[e]):20.4f}  {float(epoch_losses[e]):13.4f}")
        say(f"  loss on all N after training:  {loss_after:.4f}  ({loss_before / loss_after:.1f}x lower)")
        say("  fitted phi:", ", ".join(f"{k} {float(phi_c[k]):.3f}" for k in NAMES))
        say(f"  compiled loop and Python loop agree: max |phi_compiled - phi_python| = {max_diff:.1e}")
        say("  time for the whole training (compiled code, compiles not included):")
        say(f"    one call, fg.scan over epochs and batches: {1e3 * t_compiled:8.1f} ms  "
            f"(first call, with compile: {t_compile:.1f} s)")
        say(f"    {epochs * iters} calls of a compiled step from Python: {1e3 * t_python:8.1f} ms  "
            f"(compiling the step: {t_compile_step:.1f} s)")
        say(f"    speedup of the single call: {t_python / t_compiled:.1f}x "
            f"({1e6 * t_compiled / (epochs * iters):.1f} vs {1e6 * t_python / (epochs * iters):.1f} us per iteration)")
        return {"phi0": phi0, "phi_compiled": phi_c, "phi_python": phi_p, "x": x, "y": y,
                "perms": perms, "loss_before": loss_before, "loss_after": loss_after,
                "epoch_losses": np.asarray(epoch_losses), "batch_losses": np.asarray(batch_losses),
                "max_diff": max_diff, "time_compiled": t_compiled, "time_python": t_python}
    finally:
        fg.config.compile_mode = old_mode


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="N, number of training samples")
    parser.add_argument("--batch", type=int, default=None,
                        help="B, batch size (1: online SGD); default: B = 20, then online SGD")
    parser.add_argument("--epochs", type=int, default=None, help="default: 300 for B = 20, 30 for B = 1")
    parser.add_argument("--lr", type=float, default=None, help="learning rate eta; default: 0.1, 0.02 for B = 1")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    for b in ([args.batch] if args.batch else [20, 1]):
        online = b == 1
        main(n=args.n, batch_size=b, epochs=args.epochs or (30 if online else 300),
             lr=args.lr or (0.02 if online else 0.1), seed=args.seed)
        print()
