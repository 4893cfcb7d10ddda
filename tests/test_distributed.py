"""funcgrad.distributed under mpiexec (loopback, 1, 2 and 4 processes).

References: the rank-order sums written out here with NumPy, np.mean for
the rounding, DataParallelStep.reference (one process computing the ranks'
gradients in turn) for training, and a second launch for reproducibility.
"""
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import funcgrad as fg
from funcgrad import distributed as dist

import mpi_worker as W

pytest.importorskip("mpi4py")
WORKER = pathlib.Path(__file__).with_name("mpi_worker.py")
MPIEXEC = pathlib.Path(sys.executable).with_name("mpiexec")
if not MPIEXEC.exists():
    import shutil

    MPIEXEC = shutil.which("mpiexec")
if not MPIEXEC:
    pytest.skip("no mpiexec (pip install -e '.[mpi]')", allow_module_level=True)


def worker_env(dist_timeout=180):
    """The ranks' environment (and the reference's): one thread for Numba
    and BLAS, since a thread count can change a product's summation order."""
    return dict(os.environ, FUNCGRAD_DIST_TIMEOUT=str(dist_timeout), NUMBA_NUM_THREADS="1",
                OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", FUNCGRAD_BLAS_THREADS="1",
                PYTHONPATH=str(WORKER.parent))


def launch(n, *args, tmp, timeout=600, dist_timeout=180, flags=(), check=True):
    env = worker_env(dist_timeout)
    out = tmp / f"n{n}-{'-'.join(a for a in args if '/' not in a)}"
    out.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run([str(MPIEXEC), *flags, "-n", str(n), sys.executable, str(WORKER), args[0], str(out),
                           *args[1:]], env=env, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"mpiexec -n {n} {args} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc, [dict(np.load(out / f"rank{r}.npz")) for r in range(n) if (out / f"rank{r}.npz").exists()]


def by_hand(trees, op):
    """Rank-order reduction written out: ((t0 + t1) + t2) + ..., then / n."""
    acc = np.array(trees[0], copy=True)
    for t in trees[1:]:
        acc = acc + t if op in ("sum", "mean") else np.maximum(acc, t)
    return acc / len(trees) if op == "mean" else acc


@pytest.mark.parametrize("n", [1, 2, 4])
def test_all_reduce_and_broadcast(n, tmp_path):
    _, ranks = launch(n, "collectives", tmp=tmp_path)
    assert len(ranks) == n
    inputs = [W.flat(W.rank_tree(r)) for r in range(n)]
    root = int(ranks[0]["root"])
    for res in ranks:
        assert res["unchanged"], "all_reduce or broadcast modified the caller's arrays"
        for path in inputs[0]:
            if path == "['count']":
                got = res["sum" + path]
                assert got.dtype == np.int64 and np.array_equal(got, sum(t[path] for t in inputs))
            else:
                stack = [t[path] for t in inputs]
                mean = res["mean" + path]
                assert mean.dtype == stack[0].dtype and mean.shape == stack[0].shape
                assert np.array_equal(mean, by_hand(stack, "mean"))          # bit for bit
                tol = 1e-6 if mean.dtype == np.float32 else 1e-15
                np.testing.assert_allclose(mean, np.mean(np.stack(stack), axis=0), rtol=tol, atol=tol)
                assert np.array_equal(res["max" + path], by_hand(stack, "max"))
            assert np.array_equal(res["bcast" + path], inputs[root][path])
            assert res["bcast" + path].dtype == inputs[root][path].dtype
    big = [W.flat(W.big_tree(r)) for r in range(n)]
    for res in ranks:
        for path in big[0]:
            stack = [t[path] for t in big]
            assert np.array_equal(res["bigmean" + path], by_hand(stack, "mean")), path
            assert np.array_equal(res["bigsum" + path], by_hand(stack, "sum")), path
            assert np.array_equal(res["bigmax" + path], by_hand(stack, "max")), path
    for res in ranks[1:]:   # every rank holds the same bits
        for k in res:
            assert np.array_equal(res[k], ranks[0][k]), k


def test_bucket_plan_sends_large_leaves_in_place():
    from funcgrad.distributed.buckets import GATHER_BYTES, plan_for

    for bucket_bytes, pieces in ((1 << 20, 2), (160_000, 3 + 3)):
        plan, _ = plan_for("test", W.big_tree(0), 4, bucket_bytes=bucket_bytes)
        direct = [b for b in plan.buckets if b.leaf is not None]
        assert {plan.leaves[b.leaf].path for b in direct} == {"['big']", "['big64']"}
        assert len(direct) == pieces
        assert sum(b.length for b in plan.buckets) == sum(lf.size for lf in plan.leaves)
        for b in plan.buckets:
            assert sum(b.counts) == b.length and max(b.counts) - min(b.counts) <= 1
    plan, _ = plan_for("test", W.big_tree(0), 4, bucket_bytes=1 << 20)
    assert all(not b.gather for b in plan.buckets if b.leaf is not None)   # the exchange path
    assert all(b.length * plan.groups[b.group].dtype.itemsize > GATHER_BYTES for b in plan.buckets if b.leaf is not None)
    plan, _ = plan_for("test", W.big_tree(0), 4)
    assert [(b.leaf, b.gather) for b in plan.buckets] == [(None, False)] * 2   # one packed bucket per dtype


def test_reference_all_reduce_matches_hand_order():
    trees = [W.floats(W.rank_tree(r)) for r in range(3)]
    got = W.flat(dist.reference_all_reduce(trees, "mean"))
    for path, v in got.items():
        assert np.array_equal(v, by_hand([W.flat(t)[path] for t in trees], "mean"))


def _params(res):
    return {k: v for k, v in res.items() if k.startswith("p")}


def _reference_training(n, steps, tmp):
    """The single-process reference, run like a rank (its own process and
    environment: this pytest process runs the interpreter backend)."""
    subprocess.run([sys.executable, str(WORKER), "reference", str(tmp), "--ranks", str(n), "--steps", str(steps)],
                   env=worker_env(), check=True, timeout=600)
    return dict(np.load(tmp / "reference.npz"))


@pytest.mark.parametrize("n", [2, 4])
def test_training_is_bit_identical_to_the_reference(n, tmp_path):
    _, ranks = launch(n, "train", "--steps", "20", tmp=tmp_path)
    for res in ranks[1:]:
        for k in _params(ranks[0]):
            assert np.array_equal(res[k], ranks[0][k]), f"rank params differ at {k}"
    ref = _reference_training(n, 20, tmp_path)
    for k, v in ref.items():
        assert ranks[0][k].dtype == np.float32
        assert np.array_equal(ranks[0][k], v), f"{n} processes differ from the reference at {k}"
    assert ranks[0]["losses"][-1] < ranks[0]["losses"][0]


def test_two_launches_agree_bit_for_bit(tmp_path):
    _, a = launch(2, "train", "--steps", "8", tmp=tmp_path / "a")
    _, b = launch(2, "train", "--steps", "8", tmp=tmp_path / "b")
    for k in a[0]:
        assert np.array_equal(a[0][k], b[0][k]), k


def test_checkpoint_restart_continues_identically(tmp_path):
    ckpt = str(tmp_path / "state.npz")
    _, whole = launch(2, "train", "--steps", "12", "--save-at", "6", ckpt, tmp=tmp_path / "whole")
    assert os.path.exists(ckpt)
    _, resumed = launch(2, "train", "--steps", "12", "--resume", ckpt, tmp=tmp_path / "resumed")
    for r in range(2):
        for k in whole[r]:
            if k == "losses":
                assert np.array_equal(resumed[r][k], whole[r][k][6:])
            else:
                assert np.array_equal(resumed[r][k], whole[r][k]), k


def test_a_dead_rank_stops_the_others_with_a_clear_error(tmp_path):
    # MPICH's default: the launcher ends the job as soon as one rank dies
    proc, _ = launch(2, "dead", tmp=tmp_path / "a", check=False, timeout=120)
    assert proc.returncode != 0
    # without the launcher's clean-up, funcgrad's deadline ends the wait
    proc, _ = launch(2, "dead", tmp=tmp_path / "b", check=False, timeout=120, dist_timeout=3,
                     flags=("-disable-auto-cleanup",))
    assert proc.returncode != 0
    assert "rank 0 of 2 waited 3 s for the other ranks" in proc.stderr, proc.stderr


def test_mismatched_trees_are_reported_with_rank_and_path(tmp_path):
    proc, _ = launch(2, "mismatch", tmp=tmp_path, check=False, timeout=120)
    assert proc.returncode != 0
    assert "rank 1: leaf ['params']['w1'] has shape (4, 3)" in proc.stderr, proc.stderr


def test_single_process_without_mpi4py():
    code = ("import sys; sys.modules['mpi4py'] = None\n"
            "import numpy as np; from funcgrad import distributed as d\n"
            "t = {'a': np.arange(3.0)}; r = d.all_reduce(t)\n"
            "assert d.size() == 1 and d.rank() == 0 and np.array_equal(r['a'], t['a']) and r['a'] is not t['a']\n"
            "print('ok')")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PMI", "OMPI", "PMIX"))}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.stdout.strip() == "ok", out.stderr
    env["PMI_SIZE"] = "4"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert "mpi4py is not installed" in out.stderr


def test_shard_splits_one_shuffle_without_overlap():
    x = np.arange(103)
    key = fg.random.key(5)
    parts = [dist.shard(x, r, 4, key=key) for r in range(4)]
    assert all(len(p) == 25 for p in parts)
    seen = np.concatenate(parts)
    assert len(np.unique(seen)) == 100
    assert np.array_equal(seen, np.asarray(fg.random.permutation(key, 103))[:100])
    assert np.array_equal(dist.shard(x, 1, 4), np.arange(25, 50))
    with pytest.raises(dist.DistributedError, match="rank 4 is not in range"):
        dist.shard(x, 4, 4)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_mean_over_shards_against_the_whole_batch_is_rounding_only(dtype):
    """N ranks average N shard means; one process takes the mean over the
    whole batch: the same number up to a few roundings (measured: 1.8-2.6
    eps of the largest gradient entry; bound stated in the README: 8 eps)."""
    x, y = W.digits(dtype)
    params = fg.nn.mlp_init(fg.random.key(0), [64, 32, 10], dtype=dtype)
    g = fg.jit(fg.grad(W.loss_fn))
    xb, yb = x[:128], y[:128]
    whole = fg.tree.leaves(g(params, xb, yb))
    eps = np.finfo(dtype).eps
    for n in (2, 4):
        m = 128 // n
        shards = [g(params, xb[r * m:(r + 1) * m], yb[r * m:(r + 1) * m]) for r in range(n)]
        reduced = fg.tree.leaves(dist.reference_all_reduce(shards))
        for a, b in zip(reduced, whole):
            assert a.dtype == dtype
            assert np.max(np.abs(a - b)) <= 8 * eps * np.max(np.abs(b))


def test_result_buffers_are_reused_only_when_nothing_references_them():
    t = {"a": np.arange(6.0).reshape(2, 3), "b": np.ones(4)}
    first = dist.all_reduce(t)
    kept = first["a"]
    second = dist.all_reduce(t)
    second["a"][...] = -1.0                       # writing a result never touches another
    assert np.array_equal(kept, t["a"]) and np.array_equal(t["a"], np.arange(6.0).reshape(2, 3))
    address = second["b"].__array_interface__["data"][0]
    del second
    third = dist.all_reduce(t)                    # the second's buffer is free again: reused
    assert third["b"].__array_interface__["data"][0] == address
    assert np.array_equal(third["a"], t["a"]) and np.array_equal(kept, t["a"])


EXAMPLES = pathlib.Path(__file__).resolve().parents[1] / "examples"


@pytest.mark.parametrize("script, args, expect", [
    ("train_digits.py", ["--distributed", "--epochs", "2"], "digits over 2 processes"),
    ("train_mlp_distributed.py", ["--per-rank", "1000", "--batch", "100", "--steps", "6"],
     "2 processes x 1000 examples"),
])
def test_examples_run_under_mpiexec(script, args, expect):
    env = dict(os.environ, NUMBA_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", FUNCGRAD_DIST_TIMEOUT="180")
    proc = subprocess.run([str(MPIEXEC), "-n", "2", sys.executable, str(EXAMPLES / script), *args], env=env,
                          capture_output=True, text=True, timeout=600)
    # two epochs are too few for the accuracy the full digits run promises, and it says so
    too_short = script == "train_digits.py" and "below the 95% this example promises" in proc.stderr
    assert proc.returncode == 0 or too_short, proc.stderr
    assert expect in proc.stdout and proc.stdout.count(expect) == 1, proc.stdout   # rank 0 alone prints
    assert "communication" in proc.stdout
