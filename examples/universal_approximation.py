"""Lecture 003's universal approximation (shallow version), fitted with funcgrad.

A shallow ReLU network with D hidden units maps a scalar x to

    h_d = relu(theta_d0 + theta_d1 x)          d = 1..D     (b1_d + w1_d x here)
    y   = phi_0 + sum_d phi_d h_d                           (b2 + sum_d w2_d h_d)

It is piecewise linear: each hidden unit contributes one joint (at
x = -b1_d / w1_d, where it switches on or off), so D units give at most D + 1
linear regions (the lecture's example: three hidden units, four regions). The lecture's claim: with enough hidden units (capacity) such
a network describes any continuous 1-D function on a compact set to any
precision. Here it is fitted to

    g(x) = sin(3x) + 0.3 x^2   on [-2, 2]

for D = 1, 2, 3, 4, 8, 16, 64, each trained by full-batch Adam (``fg.optim.adam``)
with the whole training, ``fg.grad`` inside ``fg.fori_loop``, in one compiled
call. The loss is not convex: a start can end in a poor local minimum (units
whose joints leave the domain), so each D is trained from several starts side
by side (a leading axis on the parameters) and the best is kept. The report
gives the mean squared error for each D (the best start's shrinks as D grows)
and the joints that fall inside (-2, 2), hence the linear regions.

One compiled program serves every D: the network has D_max = max(D) units, and
a 0/1 mask switches off all but the first D. A switched-off unit gets a zero
gradient, so Adam leaves it where it was (the report checks this).

Run:  python examples/universal_approximation.py [--plot [FILE.png]]   (--plot needs matplotlib)
      python examples/universal_approximation.py --hidden 3 1000   (the lecture's "what if 1000?")
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
    """y = b2 + sum_d mask_d w2_d relu(w1_d x + b1_d), for a vector of N inputs x.

    The parameters of one network give N outputs; parameters with a leading
    axis of R networks (w1, b1, w2 of shape (R, D_max), b2 of shape (R,))
    give (N, R) outputs, one column per network."""
    w1 = params["w1"]
    xs = fnp.reshape(x, x.shape + (1,) * w1.ndim)                  # (N, 1) or (N, 1, 1)
    h = fg.nn.relu(xs * w1 + params["b1"])                         # (N, D_max) or (N, R, D_max) hidden units
    return fnp.sum(h * (mask * params["w2"]), axis=-1) + params["b2"]


def mse(params, mask, x, y):
    """Mean squared error on (x, y): a scalar, or one per network (R,)."""
    out = net(params, mask, x)
    return fnp.mean((out - fnp.reshape(y, y.shape + (1,) * (out.ndim - 1))) ** 2, axis=0)


def train(params, mask, x, y, steps, lr):
    """``steps`` full-batch Adam steps, the learning rate decaying from ``lr``
    to ``lr / 100`` along a cosine, in one compiled loop. With R networks the
    loss is the sum of their MSEs: each network's gradient is that of its own
    MSE, and Adam works elementwise, so they train exactly as R separate runs."""
    opt = fg.optim.adam(fg.optim.cosine_decay(lr, steps, alpha=0.01))

    def total(p):
        return fnp.sum(mse(p, mask, x, y))

    def step(i, state):
        return opt.step(state, fg.grad(total)(state.params))

    return fg.fori_loop(0, steps, step, opt.init_state(params)).params


def init_params(rng, d, d_max, restarts):
    """``restarts`` independent starts, each with its first d units facing right
    (w1_d = 1) and their joints spread over the domain: unit k at about
    -2 + 4k/d (the first exactly at -2, so that it is linear over the whole
    domain); small random output weights. Units d and beyond (masked off) get
    random values, which must not change."""
    c = rng.uniform(LO, HI, size=(restarts, d_max))
    k = np.arange(d)
    c[:, :d] = LO + (HI - LO) * (k + 0.2 * rng.uniform(-1, 1, size=(restarts, d)) * (k > 0)) / d
    w1 = np.ones((restarts, d_max))
    return {"w1": w1, "b1": -w1 * c, "w2": 0.1 * rng.normal(size=(restarts, d_max)), "b2": np.zeros(restarts)}


def joints(params, d, lo=LO, hi=HI, tol=1e-8):
    """The joints of the first d units of one network that lie in (lo, hi) and
    bend the function (slope change |w2_d w1_d| > tol), sorted."""
    w1, b1, w2 = (np.asarray(params[k][:d]) for k in ("w1", "b1", "w2"))
    bends = (np.abs(w1) > tol) & (np.abs(w1 * w2) > tol)
    at = -b1[bends] / w1[bends]
    return np.sort(at[(at > lo) & (at < hi)])


def main(hidden=(1, 2, 3, 4, 8, 16, 64), n=200, steps=4000, lr=0.02, restarts=4, seed=0, plot=None, verbose=True):
    """Fit the network for each D in ``hidden`` from ``restarts`` starts; keep
    the best; return a dict of results (used by the tests)."""
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
        say(f"  N = {n} points; for each D, {restarts} starts trained side by side, {steps} full-batch Adam steps "
            f"(eta = {lr}, cosine decay), in one compiled call")
        say(f"  (predicting the mean gives MSE {y.var():.4f})")
        say("      D   best MSE (training)   (test grid)   worst start   joints in (-2, 2)   linear regions   time")
        results = []
        for d in hidden:
            mask = (np.arange(d_max) < d).astype(np.float64)
            params0 = init_params(rng, d, d_max, restarts)
            t0 = time.perf_counter()
            fitted = fit(params0, mask, x, y, steps, lr)
            elapsed = time.perf_counter() - t0
            frozen = all(np.array_equal(np.asarray(fitted[k])[:, d:], params0[k][:, d:]) for k in ("w1", "b1", "w2"))
            assert frozen, "masked-off hidden units moved"
            mse_starts = np.asarray(mse(fitted, mask, x, y))
            best = int(np.argmin(mse_starts))
            params = {k: np.asarray(v)[best] for k, v in fitted.items()}
            test_mse = float(np.mean((np.asarray(net(params, mask, x_test)) - target(x_test)) ** 2))
            js = joints(params, d)
            results.append({"D": d, "params0": {k: v[best] for k, v in params0.items()}, "params": params,
                            "mask": mask, "mse": float(mse_starts[best]), "mse_starts": mse_starts,
                            "test_mse": test_mse, "joints": js, "time": elapsed})
            say(f"  {d:5d}   {mse_starts[best]:19.2e}   {test_mse:11.2e}   {mse_starts.max():11.2e}   {len(js):17d}   "
                f"{len(js) + 1:14d}   {elapsed:.2f} s")
        say("  (the first call includes the compile; units beyond D stay at their initial values)")
        first, last = results[0], results[-1]
        say(f"  best MSE from D = {first['D']} to D = {last['D']}: {first['mse']:.2e} -> {last['mse']:.2e} "
            f"({first['mse'] / last['mse']:.0f}x lower)")
        say("  The theorem says a good network exists; gradient descent from a given start need not find it")
        say("  (the worst start), hence several starts per D.")
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
    parser.add_argument("--hidden", type=int, nargs="+", default=[1, 2, 3, 4, 8, 16, 64], help="values of D")
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--lr", type=float, default=0.02)
    parser.add_argument("--restarts", type=int, default=4, help="starts per D, trained together; the best is kept")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--plot", nargs="?", const="universal_approximation.png", default=None,
                        help="save a figure (default file: universal_approximation.png)")
    args = parser.parse_args()
    main(hidden=args.hidden, steps=args.steps, lr=args.lr, restarts=args.restarts, seed=args.seed,
         plot=args.plot)
