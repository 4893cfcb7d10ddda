"""Lecture 004's 784-100-10 network trained with funcgrad, in float32, on synthetic data.

The network of section 4.6 of lecture 004 ("Neural Networks - Backpropagation
and beyond"): 784 inputs (a 28x28 image), 100 tanh hidden units, 10 softmax
outputs, cross-entropy loss, mini-batches of 500:

    a1 = tanh(x W1 + b1)          x: (500, 784)  W1: (784, 100)  b1: (100,)
    a2 = softmax(a1 W2 + b2)                     W2: (100, 10)   b2: (10,)
    J  = -mean_i log a2[i, y_i]   (fg.nn.cross_entropy on the logits a1 W2 + b2)

No download: the data is a synthetic stand-in for MNIST. Each of the 10 classes
has a prototype "image" in R^784; a sample is its class's prototype, faint
(scaled by 0.1) under unit Gaussian noise, so no single pixel tells the class
and the network must pool evidence over many pixels. Training and test sets
are drawn independently from the same classes.

Everything is float32, the data, the parameters (``fg.nn.mlp_init`` with
Glorot initialisation, as for tanh) and the optimizer's state, and stays so:
the report checks the dtypes after training and counts the float64 arrays in
the compiled program (none).

Each epoch is one compiled call: ``fg.data.shuffled_batches`` shuffles the N
samples with a ``fg.random`` key and cuts them into N/B batches, and
``fg.scan`` runs one SGD-with-momentum step (``fg.optim``) per batch with
``fg.value_and_grad`` inside. Python prints the loss and accuracy per epoch.

Run:  python examples/mlp_784_100_10.py [--epochs 8] [--optimizer sgd|adam]
"""
import argparse
import re
import time

import numpy as np

import funcgrad as fg
import funcgrad.numpy as fnp

SIZES = [784, 100, 10]     # inputs (28 x 28), hidden units, classes
B = 500                    # the lecture's batch size


def logits(params, x):
    return fg.nn.mlp_apply(params, x, activation=fg.nn.tanh)


def loss(params, x, labels):
    return fg.nn.cross_entropy(logits(params, x), labels)


def make_epoch(opt, batch_size):
    """One epoch as a pure function (state, key, x, labels) -> (state, batch losses)."""
    def epoch(state, key, x, labels):
        xb, yb = fg.data.shuffled_batches(key, (x, labels), batch_size)   # (N/B, B, 784), (N/B, B)

        def iteration(state, batch):
            value, g = fg.value_and_grad(loss)(state.params, *batch)
            return opt.step(state, g), value

        return fg.scan(iteration, state, (xb, yb))
    return epoch


def evaluate(params, x, labels):
    """Loss and accuracy on a whole set."""
    z = logits(params, x)
    return fg.nn.cross_entropy(z, labels), fnp.mean(fnp.argmax(z, axis=1) == labels)


def make_data(rng, prototypes, n, signal=0.1):
    labels = rng.integers(0, len(prototypes), size=n)
    x = (signal * prototypes[labels] + rng.normal(size=(n, prototypes.shape[1]))).astype(np.float32)
    return fg.data.check_classification_data(x, labels, len(prototypes))


def float64_arrays(program_text):
    """The float64 arrays (not scalars) named in a program's text."""
    return sorted(set(re.findall(r"f64\[\d[\d,]*\]", program_text)))


def main(n_train=10000, n_test=2000, epochs=8, optimizer="sgd", lr=None, batch_size=B, seed=0, verbose=True):
    """Train; return a dict of the results (used by the tests)."""
    say = print if verbose else (lambda *a, **k: None)
    old_mode = fg.config.compile_mode
    fg.config.compile_mode = "sync"
    try:
        rng = np.random.default_rng(seed)
        prototypes = rng.normal(size=(SIZES[-1], SIZES[0]))
        x, labels = make_data(rng, prototypes, n_train)
        x_test, labels_test = make_data(rng, prototypes, n_test)
        key = fg.random.key(seed)
        key, init_key = fg.random.split(key)
        params = fg.nn.mlp_init(init_key, SIZES, w_init=fg.nn.glorot_normal, dtype=np.float32)
        if optimizer == "sgd":
            lr = 0.1 if lr is None else lr
            opt = fg.optim.sgd(lr, momentum=0.9)
        else:
            lr = 1e-3 if lr is None else lr
            opt = fg.optim.adam(lr)
        state = opt.init_state(params)
        iters = fg.data.iterations_per_epoch(n_train, batch_size)
        epoch = fg.jit(make_epoch(opt, batch_size))
        evaluate_jit = fg.jit(evaluate)

        say("Lecture 004's 784-100-10 network (tanh, softmax, cross-entropy) on synthetic 10-class data")
        say(f"  N = {n_train} training samples (+ {n_test} test), B = {batch_size}: N/B = {iters} iterations "
            f"per epoch, {epochs} epochs; {optimizer} (eta = {lr}{', momentum 0.9' if optimizer == 'sgd' else ''})")
        say(f"  x: {x.dtype}{list(x.shape)}, parameters: "
            + ", ".join(f"{k}{l + 1} {p[k].dtype}{list(p[k].shape)}" for l, p in enumerate(params) for k in ("w", "b")))
        train_loss, train_acc = (float(v) for v in evaluate_jit(params, x, labels))
        test_loss, test_acc = (float(v) for v in evaluate_jit(params, x_test, labels_test))
        n_params = sum(p[k].size for p in params for k in ("w", "b"))
        say(f"  number of weights (lecture 003's exercise): 784*100 + 100 + 100*10 + 10 = {n_params:,}")
        say(f"  chance accuracy: {1 / SIZES[-1]:.2f}")
        say("  epoch   mean batch loss   training loss  accuracy   test loss  accuracy    time")
        say(f"  {0:5d}   {'':15s}   {train_loss:13.4f}  {train_acc:8.3f}   {test_loss:9.4f}  {test_acc:8.3f}")
        history = [{"epoch": 0, "train_loss": train_loss, "train_acc": train_acc,
                    "test_loss": test_loss, "test_acc": test_acc}]
        batch_losses = None
        for e in range(1, epochs + 1):
            key, sub = fg.random.split(key)
            t0 = time.perf_counter()
            state, batch_losses = epoch(state, sub, x, labels)
            elapsed = time.perf_counter() - t0
            train_loss, train_acc = (float(v) for v in evaluate_jit(state.params, x, labels))
            test_loss, test_acc = (float(v) for v in evaluate_jit(state.params, x_test, labels_test))
            history.append({"epoch": e, "train_loss": train_loss, "train_acc": train_acc,
                            "test_loss": test_loss, "test_acc": test_acc})
            say(f"  {e:5d}   {float(np.mean(batch_losses)):15.4f}   {train_loss:13.4f}  {train_acc:8.3f}   "
                f"{test_loss:9.4f}  {test_acc:8.3f}   {elapsed:5.2f} s" + ("  (with compile)" if e == 1 else ""))

        dtypes = sorted({str(leaf.dtype) for leaf in fg.tree.leaves(state.params)}
                        | {str(leaf.dtype) for leaf in fg.tree.leaves(state.opt_state) if leaf.dtype.kind == "f"}
                        | {str(batch_losses.dtype)})
        program = str(epoch.lower(state, sub, x, labels).program)
        f64 = float64_arrays(program)
        say(f"  dtypes after training (parameters, optimizer state, losses): {', '.join(dtypes)}; "
            f"float64 arrays in the compiled epoch: {', '.join(f64) if f64 else 'none'}")
        say(f"  training loss {history[0]['train_loss']:.4f} -> {history[-1]['train_loss']:.4f} "
            f"({history[0]['train_loss'] / history[-1]['train_loss']:.0f}x lower); "
            f"test accuracy {history[-1]['test_acc']:.3f} against chance {1 / SIZES[-1]:.2f}")
        best = min(history, key=lambda h: h["test_loss"])
        if best["epoch"] < epochs:
            say(f"  the test loss is lowest after epoch {best['epoch']} ({best['test_loss']:.4f}) and rises after it "
                f"while the training loss falls to {history[-1]['train_loss']:.4f}: {n_params:,} weights on N = {n_train} samples overfit")
        return {"params": state.params, "state": state, "history": history, "dtypes": dtypes, "n_params": n_params,
                "float64_arrays": f64, "batch_losses": np.asarray(batch_losses),
                "x_test": x_test, "labels_test": labels_test}
    finally:
        fg.config.compile_mode = old_mode


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--n-train", type=int, default=10000)
    parser.add_argument("--optimizer", choices=["sgd", "adam"], default="sgd")
    parser.add_argument("--lr", type=float, default=None, help="default: 0.1 for sgd, 1e-3 for adam")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    main(n_train=args.n_train, epochs=args.epochs, optimizer=args.optimizer, lr=args.lr, seed=args.seed)
