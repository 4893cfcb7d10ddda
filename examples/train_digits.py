"""Train a multi-layer perceptron on scikit-learn's handwritten digits, with
funcgrad alone: 8x8 images (64 pixels), 10 classes, 1,797 samples, bundled
with scikit-learn (no download).

- The network: 64 -> 128 -> 64 -> 10, ReLU, He-initialised (lecture 001),
  softmax cross-entropy on integer labels.
- The optimizer: Adam with bias correction, a pure function of its state.
- One epoch is ONE compiled call: the shuffle, the minibatch gather and every
  Adam step run inside a ``funcgrad.scan`` compiled by Numba. Python only
  draws the progress bar and prints a line per epoch.
- Bad input is refused before training starts (labels out of range,
  mismatched lengths, NaN pixels), and a loss that turns NaN stops training
  with the step where it happened.

Run:  python examples/train_digits.py  [--epochs 40] [--batch-size 32] [--lr 1e-3]

Data-parallel over MPI (``pip install -e ".[mpi]"``), each process a shard
of every epoch's shuffle and ``--batch-size`` examples per step, the
gradients averaged over the processes (bit-identical parameters everywhere):

      mpiexec -n 4 python examples/train_digits.py --distributed
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad import data, nn, optim

try:
    from tqdm import tqdm
except ImportError:  # the progress bar is optional
    tqdm = None


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite."""


def load_digits(seed: int, test_fraction: float = 0.25, dtype=np.float32):
    """Pixels scaled to [0, 1]; a stratified split into training and test sets."""
    from sklearn.datasets import load_digits as sk_load
    from sklearn.model_selection import train_test_split

    digits = sk_load()
    x = (digits.data / 16.0).astype(dtype)
    y = digits.target.astype(np.int64)
    return train_test_split(x, y, test_size=test_fraction, stratify=y, random_state=seed)


def loss_fn(params, x, y):
    return nn.cross_entropy(nn.mlp_apply(params, x), y)


@fg.jit
def evaluate(params, x, y):
    """Loss and accuracy of ``params`` on ``(x, y)``, compiled."""
    logits = nn.mlp_apply(params, x)
    return nn.cross_entropy(logits, y), fnp.mean(fnp.argmax(logits, axis=-1) == y)


def make_trainer(tx: optim.GradientTransformation, batch_size: int):
    """The compiled epoch and evaluation functions."""

    def train_step(state, batch):
        params, opt_state = state
        x, y = batch
        loss, grads = fg.value_and_grad(loss_fn)(params, x, y)
        updates, opt_state = tx.update(grads, opt_state, params)
        return (optim.apply_updates(params, updates), opt_state), loss

    @fg.jit
    def train_epoch(state, key, x, y):
        batches = data.shuffled_batches(key, (x, y), batch_size)   # (steps, B, ...) each
        return fg.scan(train_step, state, batches)                 # new state, loss of every step

    return train_step, train_epoch, evaluate


def check_losses(losses, epoch: int, steps_per_epoch: int):
    """Stop at the first non-finite loss, naming the step."""
    bad = np.flatnonzero(~np.isfinite(losses))
    if bad.size:
        step = epoch * steps_per_epoch + int(bad[0])
        raise TrainingDiverged(
            f"the loss became {losses[bad[0]]} at step {step} (epoch {epoch + 1}, iteration "
            f"{int(bad[0]) + 1} of {steps_per_epoch}); lower the learning rate")


def main(epochs: int = 40, batch_size: int = 32, lr: float = 1e-3, hidden=(128, 64), seed: int = 0,
         verbose: bool = True, dataset=None):
    """Train and evaluate; ``dataset`` (x_train, x_test, y_train, y_test)
    replaces the digits (tests use it)."""
    say = print if verbose else (lambda *a, **k: None)
    x_train, x_test, y_train, y_test = load_digits(seed) if dataset is None else dataset
    data.check_classification_data(x_train, y_train, 10, name="training set")
    data.check_classification_data(x_test, y_test, 10, name="test set")
    n = len(x_train)
    steps = data.iterations_per_epoch(n, batch_size)
    say(f"digits: {n} training / {len(x_test)} test images of {x_train.shape[1]} pixels, 10 classes")
    say(f"MLP {[x_train.shape[1], *hidden, 10]}, Adam lr={lr}, B={batch_size}: "
        f"N/B = {steps} iterations per epoch, {epochs} epochs")

    key = fg.random.key(seed)
    key, init_key = fg.random.split(key)
    params = nn.mlp_init(init_key, [x_train.shape[1], *hidden, 10], dtype=np.float32)
    tx = optim.adam(lr)
    state = (params, tx.init(params))
    _, train_epoch, evaluate = make_trainer(tx, batch_size)

    keys = fg.random.split(key, epochs)
    if fg.config.default_backend == "numba":
        say("compiling the epoch with Numba (about 10 s the first time; cached on disk for later runs)...")
    start = time.perf_counter()
    # Wait for Numba on this first call, so that every epoch below runs compiled
    # code (funcgrad's default, async, would train the first epochs in the NumPy
    # interpreter while another process compiles).
    mode, fg.config.compile_mode = fg.config.compile_mode, "sync"
    try:
        state, losses = train_epoch(state, keys[0], x_train, y_train)   # compiles, then runs
        evaluate(state[0], x_test, y_test)
    finally:
        fg.config.compile_mode = mode
    compiled_at = time.perf_counter()
    check_losses(np.asarray(losses), 0, steps)
    history = [(float(np.mean(losses)),) + tuple(float(v) for v in evaluate(state[0], x_test, y_test))]
    bar = tqdm(range(1, epochs), desc="epochs", leave=False, disable=None) if tqdm else range(1, epochs)
    write = tqdm.write if tqdm else print
    if verbose:
        write(f"epoch {1:3d}  train loss {history[0][0]:.4f}  test loss {history[0][1]:.4f}  "
              f"test accuracy {history[0][2]:.2%}   (first call, with compilation: {compiled_at - start:.1f} s)")
    for epoch in bar:
        state, losses = train_epoch(state, keys[epoch], x_train, y_train)
        losses = np.asarray(losses)
        check_losses(losses, epoch, steps)
        test_loss, test_acc = (float(v) for v in evaluate(state[0], x_test, y_test))
        history.append((float(losses.mean()), test_loss, test_acc))
        if verbose and ((epoch + 1) % 5 == 0 or epoch == epochs - 1):
            write(f"epoch {epoch + 1:3d}  train loss {losses.mean():.4f}  test loss {test_loss:.4f}  "
                  f"test accuracy {test_acc:.2%}")
    elapsed = time.perf_counter() - compiled_at
    params = state[0]
    train_loss, train_acc = (float(v) for v in evaluate(params, x_train, y_train))
    test_loss, test_acc = (float(v) for v in evaluate(params, x_test, y_test))
    say(f"\ntrained {epochs - 1} more epochs ({(epochs - 1) * steps} Adam steps) in {elapsed:.2f} s "
        f"after compilation ({1e6 * elapsed / max(1, (epochs - 1) * steps):.0f} us per step)")
    say(f"final: train accuracy {train_acc:.2%}, test accuracy {test_acc:.2%} (test loss {test_loss:.4f})")
    say(f"dtypes kept: weights {params[0]['w'].dtype}, loss {np.asarray(losses).dtype}")
    return {"params": params, "test_accuracy": test_acc, "train_accuracy": train_acc,
            "history": history, "seconds_after_compile": elapsed}


def main_distributed(epochs: int = 40, batch_size: int = 32, lr: float = 1e-3, hidden=(128, 64),
                     seed: int = 0, verbose: bool = True, dataset=None):
    """``main`` over all MPI ranks: each epoch, the ranks cut one shuffle of
    the training set into equal shards, and each step averages the ranks'
    gradients (``funcgrad.distributed.DataParallelStep``). Only rank 0 prints."""
    from funcgrad import distributed as dist

    dist.init()
    rank, size = dist.rank(), dist.size()
    say = print if verbose and rank == 0 else (lambda *a, **k: None)
    x_train, x_test, y_train, y_test = load_digits(seed) if dataset is None else dataset
    data.check_classification_data(x_train, y_train, 10, name="training set")
    steps = data.iterations_per_epoch(len(x_train) // size, batch_size)
    say(f"digits over {size} processes: {len(x_train) // size} training images each, {batch_size} per step "
        f"on each ({batch_size * size} per step in all), {steps} steps per epoch, {epochs} epochs")
    key = fg.random.key(seed)
    key, init_key = fg.random.split(key)
    step = dist.DataParallelStep(loss_fn, optim.adam(lr))
    state = step.init(nn.mlp_init(init_key, [x_train.shape[1], *hidden, 10], dtype=np.float32))
    history = []
    start = time.perf_counter()
    for epoch in range(epochs):
        x, y = dist.shard((x_train, y_train), key=fg.random.fold_in(key, epoch))
        losses = []
        for i in range(steps):
            rows = slice(i * batch_size, (i + 1) * batch_size)
            state, loss = step(state, (x[rows], y[rows]))
            losses.append(float(loss))
        check_losses(np.asarray(losses), epoch, steps)
        test_loss, test_acc = (float(v) for v in evaluate(state.params, x_test, y_test))
        history.append((float(np.mean(losses)), test_loss, test_acc))
        if (epoch + 1) % 5 == 0 or epoch in (0, epochs - 1):
            say(f"epoch {epoch + 1:3d}  train loss {history[-1][0]:.4f}  test loss {test_loss:.4f}  "
                f"test accuracy {test_acc:.2%}")
    elapsed = time.perf_counter() - start
    t = step.timings
    say(f"\n{epochs * steps} steps in {elapsed:.2f} s (first steps include compilation): compute "
        f"{t['compute_s']:.2f} s, communication {t['communication_s']:.2f} s (waiting for the other "
        f"ranks included), buffers {t['local_s']:.2f} s on rank 0")
    train_acc = float(evaluate(state.params, x_train, y_train)[1])
    test_acc = history[-1][2]
    say(f"final: train accuracy {train_acc:.2%}, test accuracy {test_acc:.2%}")
    return {"params": state.params, "test_accuracy": test_acc, "train_accuracy": train_acc,
            "history": history, "seconds": elapsed, "timings": t}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--backend", choices=("numba", "vm", "interpret", "cuda"), default=None,
                        help="where the compiled functions run (default: funcgrad.config, numba); cuda: the GPU "
                             "backend's first stage (the epoch's scan runs on the host there)")
    parser.add_argument("--distributed", action="store_true",
                        help="data-parallel over the processes of mpiexec (funcgrad.distributed)")
    args = parser.parse_args()
    if args.backend:
        fg.config.default_backend = args.backend
    train = main_distributed if args.distributed else main
    result = train(args.epochs, args.batch_size, args.lr, seed=args.seed)
    if result["test_accuracy"] < 0.95:
        raise SystemExit(f"test accuracy {result['test_accuracy']:.2%} is below the 95% this example promises")
