"""Lecture 003's universal approximation (shallow version), fitted with funcgrad.

A shallow ReLU network with D hidden units maps a scalar x to

    h_d = relu(theta_d0 + theta_d1 x)          d = 1..D     (b1_d + w1_d x here)
    y   = phi_0 + sum_d phi_d h_d                           (b2 + sum_d w2_d h_d)

It is piecewise linear: each hidden unit contributes one joint (at
x = -b1_d / w1_d, where it switches on or off), so D units give at most D + 1
linear regions. The lecture's claim: with enough hidden units (capacity) such
a network describes any continuous 1-D function on a compact set to any
precision. Here it is fitted to

    g(x) = sin(3x) + 0.3 x^2   on [-2, 2]

for D = 1, 2, 4, 8, 16, 64, each trained by full-batch Adam (``fg.optim.adam``)
with the whole training, ``fg.grad`` inside ``fg.fori_loop``, in one compiled
call. The report gives the final mean squared error for each D (it shrinks as
D grows) and the joints that fall inside [-2, 2], hence the linear regions.

One compiled program serves every D: the network has D_max = max(D) units, and
a 0/1 mask switches off all but the first D. A switched-off unit gets a zero
gradient, so Adam leaves it where it was (the report checks this).

Run:  python examples/universal_approximation.py [--plot [FILE.png]]   (--plot needs matplotlib)
"""
import argparse
import time

import numpy as np

import funcgrad as fg
import funcgrad.numpy as fnp

LO, HI = -2.0, 2.0


def target(x):
    return np.sin(3.0 * x) + 0.3 * x ** 2


def net(params, mask, x):
    """y = b2 + sum_d mask_d w2_d relu(w1_d x + b1_d), for a vector of inputs x."""
    h = fg.nn.relu(x[:, None] * params["w1"] + params["b1"])   # (N, D_max) hidden units
    return h @ (mask * params["w2"]) + params["b2"]


def mse(params, mask, x, y):
    return fnp.mean((net(params, mask, x) - y) ** 2)


def train(params, mask, x, y, steps, lr):
    """``steps`` full-batch Adam steps, the learning rate decaying from ``lr``
    to ``lr / 100`` along a cosine, in one compiled loop."""
    opt = fg.optim.adam(fg.optim.cosine_decay(lr, steps, alpha=0.01))

    def step(i, state):
        g = fg.grad(mse)(state.params, mask, x, y)
        return opt.step(state, g)

    return fg.fori_loop(0, steps, step, opt.init_state(params)).params


def init_params(rng, d, d_max):
    """The first d units facing right (w1_d = 1), their joints spread over the
    domain: unit k at about -2 + 4k/d (the first exactly at -2, so that it is
    linear over the whole domain); small random output weights. Units d and
    beyond (masked off) get random values, which must not change."""
    c = rng.uniform(LO, HI, size=d_max)
    c[:d] = LO + (HI - LO) * (np.arange(d) + 0.2 * rng.uniform(-1, 1, size=d) * (np.arange(d) > 0)) / d
    w1 = np.ones(d_max)
    return {"w1": w1, "b1": -w1 * c, "w2": 0.1 * rng.normal(size=d_max), "b2": np.float64(0.0)}


def joints(params, d, lo=LO, hi=HI, tol=1e-8):
    """The joints of the first d units that lie in (lo, hi) and bend the
    function (slope change |w2_d w1_d| > tol), sorted."""
    w1, b1, w2 = (np.asarray(params[k][:d]) for k in ("w1", "b1", "w2"))
    bends = (np.abs(w1) > tol) & (np.abs(w1 * w2) > tol)
    at = -b1[bends] / w1[bends]
    return np.sort(at[(at > lo) & (at < hi)])


def main(hidden=(1, 2, 4, 8, 16, 64), n=200, steps=4000, lr=0.02, seed=0, plot=None, verbose=True):
    """Fit the network for each D in ``hidden``; return a dict of results (used by the tests)."""
    say = print if verbose else (lambda *a, **k: None)
    old_mode = fg.config.compile_mode
    fg.config.compile_mode = "sync"
    try:
        hidden = sorted(hidden)
        d_max = hidden[-1]
        rng = np.random.default_rng(seed)
        x = np.linspace(LO, HI, n)                     # training inputs
        y = target(x)
        x_test = np.linspace(LO, HI, 4 * n + 1)        # a finer grid, between the training points
        # steps and lr set the schedule (optim.adam takes a concrete learning rate or schedule): static
        fit = fg.jit(train, static_argnums=(4, 5))
        say("Lecture 003: a shallow ReLU network with D hidden units fitted to g(x) = sin(3x) + 0.3 x^2 on [-2, 2]")
        say(f"  N = {n} points; for each D, {steps} full-batch Adam steps (eta = {lr}, cosine decay) in one compiled call")
        say(f"  (predicting the mean gives MSE {y.var():.4f})")
        say("      D   MSE (training)   MSE (test grid)   joints in [-2, 2]   linear regions   time")
        results = []
        for d in hidden:
            mask = (np.arange(d_max) < d).astype(np.float64)
            params0 = init_params(rng, d, d_max)
            t0 = time.perf_counter()
            params = fit(params0, mask, x, y, steps, lr)
            elapsed = time.perf_counter() - t0
            train_mse = float(mse(params, mask, x, y))
            test_mse = float(np.mean((np.asarray(net(params, mask, x_test)) - target(x_test)) ** 2))
            js = joints(params, d)
            frozen = all(np.array_equal(np.asarray(params[k])[d:], params0[k][d:]) for k in ("w1", "b1", "w2"))
            assert frozen, "masked-off hidden units moved"
            results.append({"D": d, "params0": params0, "params": params, "mask": mask, "mse": train_mse, "test_mse": test_mse,
                            "joints": js, "time": elapsed})
            say(f"  {d:5d}   {train_mse:14.2e}   {test_mse:15.2e}   {len(js):17d}   {len(js) + 1:14d}   "
                f"{elapsed:.2f} s")
        say(f"  (the first call includes the compile; units beyond D stay at their initial values)")
        first, last = results[0], results[-1]
        say(f"  MSE from D = {first['D']} to D = {last['D']}: {first['mse']:.2e} -> {last['mse']:.2e} "
            f"({first['mse'] / last['mse']:.0f}x lower)")
        if plot:
            save_plot(plot, results, x_test)
            say(f"  figure saved to {plot}")
        return {"x": x, "y": y, "results": results}
    finally:
        fg.config.compile_mode = old_mode


def save_plot(path, results, x):
    import matplotlib                 # optional: only for --plot
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(3 * len(results), 3), sharey=True)
    for ax, r in zip(np.atleast_1d(axes), results):
        ax.plot(x, target(x), color="0.6", lw=3, label="g(x)")
        ax.plot(x, np.asarray(net(r["params"], r["mask"], x)), color="C0", lw=1.5, label="network")
        for j in r["joints"]:
            ax.axvline(j, color="C3", lw=0.5, alpha=0.5)
        ax.set_title(f"D = {r['D']}, MSE {r['mse']:.1e}")
        ax.set_xlabel("x")
    np.atleast_1d(axes)[0].legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, nargs="+", default=[1, 2, 4, 8, 16, 64], help="values of D")
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--lr", type=float, default=0.02)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--plot", nargs="?", const="universal_approximation.png", default=None,
                        help="save a figure (default file: universal_approximation.png)")
    args = parser.parse_args()
    main(hidden=args.hidden, steps=args.steps, lr=args.lr, seed=args.seed, plot=args.plot)
