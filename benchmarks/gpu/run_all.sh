#!/usr/bin/env bash
# The one script to run on a machine with an NVIDIA GPU (issue 13): the CUDA
# backend's tests on the device (no simulator), then the GPU benchmarks, then
# the conformance test and four transformation test modules on the device.
# Its timeouts add up to 530 s: one device call (10 min at most).
# Usage: benchmarks/gpu/run_all.sh OUT_DIR   (from the repository root; the
# machine needs numba-cuda, and CuPy, PyTorch and JAX for the references).
set -uo pipefail
out="${1:?usage: benchmarks/gpu/run_all.sh OUT_DIR}"
mkdir -p "$out"
cd "$(dirname "$0")/../.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export NUMBA_ENABLE_CUDASIM=0
export FUNCGRAD_CACHE_DIR="${FUNCGRAD_CACHE_DIR:-$out/cache}"
{
  date -u
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1 || true
  python -c "import numba, numpy; print('numba', numba.__version__, 'numpy', numpy.__version__)"
  python -c "import cupy; print('cupy', cupy.__version__)" 2>&1 | tail -1
} > "$out/device.txt" 2>&1
timeout 140 python -m pytest -q -p no:cacheprovider tests/test_cuda_backend.py > "$out/tests.txt" 2>&1
echo "tests rc=$?" >> "$out/tests.txt"
timeout 200 python benchmarks/gpu/bench_gpu.py > "$out/bench_gpu.md" 2>&1
echo "bench rc=$?" >> "$out/bench_gpu.md"
# then, as time allows: every primitive case on the device, and the transformation tests on the cuda backend
timeout 90 python -m pytest -q -x -p no:cacheprovider tests/test_cuda_conformance.py > "$out/conformance.txt" 2>&1
echo "conformance rc=$?" >> "$out/conformance.txt"
FUNCGRAD_TEST_BACKEND=cuda timeout 100 python -m pytest -q -p no:cacheprovider -W ignore::RuntimeWarning \
  tests/test_composition.py tests/test_control_transforms.py tests/test_loop_grad.py tests/test_optim.py \
  > "$out/suite.txt" 2>&1
echo "suite rc=$?" >> "$out/suite.txt"
tail -n 3 "$out/tests.txt" "$out/bench_gpu.md" "$out/conformance.txt" "$out/suite.txt"
