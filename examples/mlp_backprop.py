"""Lecture 004's 2-layer network: fg.grad against the four backprop equations.

The network of section 4.6 (784-100-10, tanh then softmax, batch of 500):

    l1 = tanh(x w1 + b1)                  x: (500, 784)  w1: (784, 100)  b1: (1, 100)
    l2 = softmax(l1 w2 + b2, axis=1)                     w2: (100, 10)   b2: (1, 10)
    J  = -mean(sum(y * log(l2), axis=1))  y: (500, 10), one-hot

Rows are examples, so the lecture's z^l = Theta^l a^{l-1} + beta^l (column
vectors) becomes z^l = a^{l-1} W^l + b^l here, with W^l = (Theta^l)^T.
The data is synthetic (noisy copies of 10 random class templates, about
unit scale), in float32; funcgrad keeps float32 throughout.

Run:  python examples/mlp_backprop.py
"""
import time

import numpy as np

import funcgrad as fg
import funcgrad.numpy as fnp

M, D, H, K = 500, 784, 100, 10   # batch size, inputs, hidden units, classes


def softmax(z, axis):
    e = fnp.exp(z)                             # as in the lecture's softmax node: e / sum(e)
    return e / fnp.sum(e, axis=axis, keepdims=True)


def loss(params, x, y):
    """The lecture's graph, written with funcgrad.numpy."""
    l1 = fnp.tanh(x @ params["w1"] + params["b1"])
    l2 = softmax(l1 @ params["w2"] + params["b2"], axis=1)
    return -fnp.mean(fnp.sum(y * fnp.log(l2), axis=1), axis=0)


def loss_logsumexp(params, x, labels):
    """The same loss in the README's form: log-softmax via logsumexp, integer labels."""
    h = fnp.tanh(x @ params["w1"] + params["b1"])
    z = h @ params["w2"] + params["b2"]
    logp = z - fnp.logsumexp(z, axis=1, keepdims=True)
    return -fnp.mean(logp[fnp.arange(labels.shape[0]), labels])


def backprop(params, x, y):
    """The gradient by hand: forward pass, then BP1-BP4, in plain NumPy."""
    m = x.shape[0]
    # forward: z^l = a^{l-1} W^l + b^l, a^l = g^l(z^l)
    a0 = x
    z1 = a0 @ params["w1"] + params["b1"]
    a1 = np.tanh(z1)
    z2 = a1 @ params["w2"] + params["b2"]
    e = np.exp(z2)
    a2 = e / e.sum(axis=1, keepdims=True)
    # BP1: delta^L = grad_{a^L} J (.) g^L'(z^L). For softmax followed by cross-entropy
    # the product (softmax's Jacobian is not diagonal) simplifies to (a^L - y) / m.
    delta2 = (a2 - y) / m
    # BP2: delta^l = (Theta^{l+1})^T delta^{l+1} (.) g^l'(z^l), with tanh' = 1 - tanh^2
    delta1 = (delta2 @ params["w2"].T) * (1 - a1 ** 2)
    # BP3: grad_{beta^l} J = delta^l, summed over the examples of the batch
    # BP4: grad_{Theta^l} J = delta^l (a^{l-1})^T, here a^{l-1}^T delta^l summed over examples
    return {"w1": a0.T @ delta1, "b1": delta1.sum(axis=0, keepdims=True),
            "w2": a1.T @ delta2, "b2": delta2.sum(axis=0, keepdims=True)}


def logits(params, x):
    return np.tanh(x @ params["w1"] + params["b1"]) @ params["w2"] + params["b2"]


def accuracy(params, x, y):
    return np.mean(np.argmax(logits(params, x), axis=1) == np.argmax(y, axis=1))


def make_data(rng, templates):
    """M noisy copies of K class templates (a stand-in for 28x28 digit images)."""
    labels = rng.integers(0, K, size=M)
    x = (0.2 * templates[labels] + rng.normal(size=(M, D))).astype(np.float32)
    y = np.eye(K, dtype=np.float32)[labels]                             # one-hot, (500, 10)
    return x, y


def init_params(rng):
    # Glorot-style scaling keeps the tanh units out of saturation
    return {"w1": (rng.normal(size=(D, H)) / np.sqrt(D)).astype(np.float32),
            "b1": np.zeros((1, H), np.float32),
            "w2": (rng.normal(size=(H, K)) / np.sqrt(H)).astype(np.float32),
            "b2": np.zeros((1, K), np.float32)}


def main():
    rng = np.random.default_rng(0)
    templates = rng.normal(size=(K, D))
    x, y = make_data(rng, templates)
    x_test, y_test = make_data(rng, templates)     # a held-out batch from the same classes
    params = init_params(rng)

    print("1. fg.grad against BP1-BP4 (float32, batch of 500)")
    start = time.perf_counter()
    g_fg = fg.grad(loss)(params, x, y)
    print(f"   fg.grad (trace + run): {1e3 * (time.perf_counter() - start):.1f} ms")
    g_bp = backprop(params, x, y)
    print(f"   {'':>4} {'shape':>11} {'dtype':>8} {'max |fg - BP|':>14} {'max |BP|':>10}")
    worst = 0.0
    for k in ["w1", "b1", "w2", "b2"]:
        diff = float(np.max(np.abs(g_fg[k] - g_bp[k])))
        scale = float(np.max(np.abs(g_bp[k])))
        worst = max(worst, diff / scale)
        print(f"   {k:>4} {str(g_fg[k].shape):>11} {str(g_fg[k].dtype):>8} {diff:14.2e} {scale:10.2e}")
        assert g_fg[k].dtype == np.float32 and g_fg[k].shape == params[k].shape
    print(f"   largest difference relative to the gradient's size: {worst:.1e} (float32 eps = 1.2e-07)")
    assert worst < 1e-4, worst
    g_lse = fg.grad(loss_logsumexp)(params, x, np.argmax(y, axis=1))
    diff = max(float(np.max(np.abs(g_lse[k] - g_bp[k]))) for k in g_bp)
    print(f"   the README's logsumexp form with integer labels: max |fg - BP| = {diff:.2e}")

    print("\n2. A few full-batch SGD steps: Theta := Theta - alpha grad J")
    alpha, steps = 0.1, 50
    value_and_grad = fg.value_and_grad(loss)
    start = time.perf_counter()
    for step in range(steps + 1):
        value, g = value_and_grad(params, x, y)
        if step % 10 == 0:
            print(f"   step {step:2d}  loss {float(value):.4f}  accuracy: training {accuracy(params, x, y):.2f}, "
                  f"held-out {accuracy(params, x_test, y_test):.2f}")
        if step < steps:
            params = {k: params[k] - alpha * g[k] for k in params}
    print(f"   {steps + 1} value_and_grad calls in {time.perf_counter() - start:.2f} s; "
          f"parameters stay {params['w1'].dtype}")


if __name__ == "__main__":
    main()
