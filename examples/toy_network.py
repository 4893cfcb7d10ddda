"""The toy network of lecture 003 ("The Backpropagation Algorithm"), with funcgrad.

    f[x, phi] = beta3 + omega3 cos(beta2 + omega2 exp(beta1 + omega1 sin(beta0 + omega0 x)))
    l_i       = (f[x_i, phi] - y_i)^2                     (least squares)

1. For one example (x_i, y_i), the 8 partial derivatives dl_i/dbeta_k and
   dl_i/domega_k from ``fg.grad`` next to the lecture's hand-derived chain rule
   (forward pass f0..f3, h1..h3; backward pass dl/df3 ... dl/df0).
2. Fitting the network to synthetic data with plain mini-batch SGD, written in
   Python over a dict of parameters with ``fg.value_and_grad``.
3. The forward+backward program funcgrad builds for the gradient.

Run:  python examples/toy_network.py   (needs only numpy and funcgrad; uses tqdm if installed)
"""
import time

import numpy as np

import funcgrad as fg
import funcgrad.numpy as fnp

try:  # optional progress bar
    from tqdm import tqdm
except ImportError:
    tqdm = None

# phi = {beta0, omega0, ..., beta3, omega3}. funcgrad sorts dict keys, as JAX does,
# so gradients come back in the order beta0..beta3, omega0..omega3.
NAMES = ["beta0", "omega0", "beta1", "omega1", "beta2", "omega2", "beta3", "omega3"]


def f(phi, x):
    """The toy network; x may be a scalar or an array of inputs."""
    return phi["beta3"] + phi["omega3"] * fnp.cos(
        phi["beta2"] + phi["omega2"] * fnp.exp(
            phi["beta1"] + phi["omega1"] * fnp.sin(phi["beta0"] + phi["omega0"] * x)))


def loss(phi, x, y):
    """Least squares, averaged over the examples: L = 1/B sum_i (f[x_i, phi] - y_i)^2.
    For a single example this is exactly the lecture's l_i."""
    return fnp.mean((f(phi, x) - y) ** 2)


def grad_by_hand(phi, x, y):
    """The lecture's backpropagation for one example, step by step."""
    b0, w0, b1, w1, b2, w2, b3, w3 = (phi[k] for k in NAMES)
    # FORWARD: intermediate quantities
    f0 = b0 + w0 * x
    h1 = np.sin(f0)
    f1 = b1 + w1 * h1
    h2 = np.exp(f1)
    f2 = b2 + w2 * h2
    h3 = np.cos(f2)
    f3 = b3 + w3 * h3            # = f[x_i, phi]
    # BACKWARD: derivatives of l_i w.r.t. the intermediates, in reverse order
    dl_df3 = 2 * (f3 - y)
    dl_dh3 = w3 * dl_df3         # df3/dh3 = omega3
    dl_df2 = -np.sin(f2) * dl_dh3   # dh3/df2 = -sin(f2)
    dl_dh2 = w2 * dl_df2         # df2/dh2 = omega2
    dl_df1 = np.exp(f1) * dl_dh2    # dh2/df1 = exp(f1)
    dl_dh1 = w1 * dl_df1         # df1/dh1 = omega1
    dl_df0 = np.cos(f0) * dl_dh1    # dh1/df0 = cos(f0)
    # PARAMETERS: dl/dbeta_k = dl/df_k (df_k/dbeta_k = 1), dl/domega_k = h_k dl/df_k (with h_0 = x)
    return {"beta0": dl_df0, "omega0": x * dl_df0,
            "beta1": dl_df1, "omega1": h1 * dl_df1,
            "beta2": dl_df2, "omega2": h2 * dl_df2,
            "beta3": dl_df3, "omega3": h3 * dl_df3}


def dl_domega0_closed_form(phi, x, y):
    """The slide's "calculus by hand" expression for dl_i/domega0."""
    b0, w0, b1, w1, b2, w2, b3, w3 = (phi[k] for k in NAMES)
    inner = b1 + w1 * np.sin(b0 + w0 * x)
    fx = b3 + w3 * np.cos(b2 + w2 * np.exp(inner))
    return (-2 * (fx - y) * w1 * w2 * w3 * x * np.cos(b0 + w0 * x) * np.exp(inner)
            * np.sin(b2 + w2 * np.exp(inner)))


def check_one_example():
    print("1. The 8 partial derivatives for one example")
    phi = {k: np.float64(v) for k, v in zip(NAMES, [1.0, 0.1, -0.4, 2.0, -3.0, 2.0, 0.4, 3.0])}
    x, y = 2.3, 2.0
    print("   phi =", {k: float(v) for k, v in phi.items()}, f" x_i = {x}, y_i = {y}")
    g_fg = fg.grad(loss)(phi, x, y)
    g_hand = grad_by_hand(phi, x, y)
    print(f"   {'':>14} {'fg.grad':>14} {'by hand':>14} {'|difference|':>13}")
    for k in NAMES:
        print(f"   {'dl/d' + k:>14} {float(g_fg[k]):14.8f} {float(g_hand[k]):14.8f} "
              f"{abs(g_fg[k] - g_hand[k]):13.2e}")
    max_diff = max(abs(g_fg[k] - g_hand[k]) for k in NAMES)
    print(f"   max |fg.grad - by hand| = {max_diff:.2e}")
    print(f"   the slide's closed form for dl/domega0: {dl_domega0_closed_form(phi, x, y):.8f}")
    assert max_diff < 1e-10, max_diff
    print()


def fit_with_sgd():
    print("2. Fitting the toy network with mini-batch SGD")
    rng = np.random.default_rng(1)
    # synthetic data: a noisy sine, y = sin(2x) + noise, x in [-2, 2]
    N, B = 200, 20                         # N training samples, batch size B
    x = rng.uniform(-2.0, 2.0, size=N)
    y = np.sin(2.0 * x) + 0.1 * rng.normal(size=N)
    # initial parameters: omegas near 1, betas near 0
    phi = {k: np.float64((1.0 if k.startswith("omega") else 0.0) + 0.1 * rng.normal()) for k in NAMES}
    epochs, lr = 100, 0.1                  # learning rate eta
    iters_per_epoch = N // B               # mini-batch gradient descent: N/B iterations per epoch
    print(f"   N = {N}, B = {B}: {iters_per_epoch} iterations per epoch, {epochs} epochs, "
          f"{epochs * iters_per_epoch} iterations, eta = {lr}")
    print(f"   (noise variance 0.01 is the best achievable loss; predicting the mean gives {y.var():.3f})")

    value_and_grad = fg.value_and_grad(loss)   # traced once, reused for every batch
    initial = float(loss(phi, x, y))
    print(f"   epoch {0:3d}  loss on all N {initial:.4f}")
    epoch_range = range(1, epochs + 1)
    # disable=None: the bar shows only on a terminal, not when the output is redirected
    bar = tqdm(epoch_range, desc="   epochs", leave=False, disable=None) if tqdm else epoch_range
    say = tqdm.write if tqdm else print
    start = time.perf_counter()
    for epoch in bar:
        perm = rng.permutation(N)          # 1. randomly shuffle the training samples
        batch_losses = []
        for it in range(iters_per_epoch):  # 2. one gradient step per mini-batch
            idx = perm[it * B:(it + 1) * B]
            value, g = value_and_grad(phi, x[idx], y[idx])
            phi = {k: phi[k] - lr * g[k] for k in phi}    # theta := theta - eta grad L
            batch_losses.append(value)
        if epoch % 10 == 0:
            say(f"   epoch {epoch:3d}  loss on all N {float(loss(phi, x, y)):.4f}  "
                f"(mean mini-batch loss {np.mean(batch_losses):.4f})")
    elapsed = time.perf_counter() - start
    assert float(loss(phi, x, y)) < 0.1 * initial, "SGD did not reduce the loss"
    print(f"   {epochs * iters_per_epoch} SGD steps in {elapsed:.2f} s")
    print("   fitted phi =", {k: round(float(v), 3) for k, v in phi.items()})
    grid = np.linspace(-2, 2, 5)
    print("   x        :", np.array2string(grid, precision=3))
    print("   sin(2x)  :", np.array2string(np.sin(2 * grid), precision=3))
    print("   f[x, phi]:", np.array2string(np.asarray(f(phi, grid)), precision=3))
    print()
    return phi, x[:B], y[:B]


def show_program(phi, x, y):
    print("3. The program fg.grad(loss) runs on a batch (forward, then backward).")
    print("   Inputs a..h are beta0..beta3, omega0..omega3 (dict keys are sorted), i is x, j is y;")
    print("   the outputs are the 8 partials in the same order.")
    print(fg.make_ir(fg.grad(loss))(phi, x, y))


if __name__ == "__main__":
    check_one_example()
    phi, xb, yb = fit_with_sgd()
    show_program(phi, xb, yb)
