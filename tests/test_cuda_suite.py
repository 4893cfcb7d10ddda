"""The transformation and training tests again, on the CUDA backend.

Runs the modules below in a child pytest with ``FUNCGRAD_TEST_BACKEND=cuda``
(conftest.py makes that the default backend of ``jit``, ``grad`` and the
other transformations), on Numba's CUDA simulator here and on the device
where there is one: grad, vjp, jvp, vmap, hessians, custom rules, loop
differentiation, control flow, the optimizers and random numbers, each
checked against its own references (finite differences, formulas, the
interpreter, JAX/Optax where installed). Tests that check what the CPU
backends return (writable NumPy arrays) are marked ``numpy_outputs`` and
skipped there. Two modules are left out, for the simulator's speed (it runs
every GPU thread as a Python thread): the digits example's tests
(``test_train_digits.py``: over ten minutes at their sizes; the CUDA
backend's own tests run the example's compiled epoch at a small size, a
training step and an epoch as a loop) and ``test_vjp_fd.py`` (each
primitive's VJP against finite differences: minutes of launches;
``test_cuda_conformance.py`` runs every primitive's cases on this backend).
About 2.5 minutes on the simulator.
"""
import os
import pathlib
import subprocess
import sys

import pytest

from funcgrad.backends import cuda as fcuda

HERE = pathlib.Path(__file__).resolve().parent
MODULES = ["test_composition.py", "test_control_transforms.py", "test_loop_grad.py", "test_second_order.py",
           "test_optim.py", "test_transform_api.py", "test_custom_derivatives.py", "test_nn.py",
           "test_random.py", "test_api.py", "test_body_functions.py", "test_dce_loops.py", "test_accumulate.py"]


@pytest.mark.skipif(not fcuda.available(), reason="no CUDA GPU and no simulator")
@pytest.mark.skipif(os.environ.get("FUNCGRAD_TEST_BACKEND") == "cuda", reason="this run is the CUDA run")
def test_transformation_and_training_tests_pass_on_the_cuda_backend():
    env = dict(os.environ, FUNCGRAD_TEST_BACKEND="cuda")
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
                           "-W", "ignore::RuntimeWarning", *MODULES],
                          cwd=HERE, env=env, capture_output=True, text=True, timeout=1500)
    tail = proc.stdout[-6000:] + proc.stderr[-2000:]
    assert proc.returncode == 0, tail
    summary = proc.stdout.strip().splitlines()[-1]
    assert " passed" in summary and "failed" not in summary, summary
