#!/usr/bin/env bash
# Checks the CUDA build on a Linux machine without a GPU or an NVIDIA driver:
#   1. takes the CUDA toolkit from NVIDIA's PyPI wheels (unless CUDA_PATH names one),
#   2. builds a stand-in libcuda (stub_driver.py) for the linker, as the wheels have none,
#   3. builds with scripts/cuda/build.sh, and the library's unit tests the same way, in
#      their own target folder (target/cuda-check; RUSTFLAGS differ from a normal build),
#   4. runs what can run without a GPU: the binary as cargo links it does not start; the
#      shipped one does, trains and benchmarks on the CPU with one clear message when CUDA
#      is asked for; the same with a stub driver and with the runtime libraries missing;
#      and the `device` unit tests.
# On a machine with a GPU it expects `device=CUDA_0` instead of the fallback.
# Takes about 12 minutes the first time (a 0.7 GB download and two release builds).
#
# usage: scripts/cuda/check.sh
set -uo pipefail
cd "$(dirname "$0")/../.."
work=$(mkdir -p target/cuda-check && cd target/cuda-check && pwd)
failed=0
pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; failed=1; }

if [ -z "${CUDA_PATH:-}" ]; then
    echo "== the CUDA 13 toolkit from PyPI wheels, in $work/toolkit"
    [ -x "$work/toolkit/bin/pip" ] || python3 -m venv "$work/toolkit" || exit 1
    "$work/toolkit/bin/pip" install -q 'nvidia-cuda-nvcc==13.*' 'nvidia-cuda-runtime==13.*' \
        'nvidia-cublas==13.*' 'nvidia-cuda-nvrtc==13.*' 'nvidia-curand==10.*' 'nvidia-cuda-cccl==13.*' || exit 1
    CUDA_PATH=$(echo "$work"/toolkit/lib/python3*/site-packages/nvidia/cu13)
    # The wheels carry the versioned libraries only: add the names the linker asks for.
    for l in cublas cublasLt nvrtc cudart; do ln -sf "lib$l.so.13" "$CUDA_PATH/lib/lib$l.so"; done
    ln -sf libcurand.so.10 "$CUDA_PATH/lib/libcurand.so"
    own_toolkit=1
fi
export CUDA_PATH PATH="$CUDA_PATH/bin:$PATH" CUDA_COMPUTE_CAP=${CUDA_COMPUTE_CAP:-90}
nvcc --version | tail -n 2

echo "== a stand-in driver library"
cudarc=$(cargo metadata -q --format-version 1 --features cuda \
    --filter-platform "$(rustc -vV | sed -n 's/^host: //p')" | python3 -c '
import json, sys
m = json.load(sys.stdin)
dirs = [p["manifest_path"].rsplit("/", 1)[0] for p in m["packages"] if p["name"] == "cudarc"]
print(sorted(dirs)[-1])') || exit 1
python3 scripts/cuda/stub_driver.py "$cudarc" "$work/stub" || exit 1
if [ -n "${own_toolkit:-}" ]; then
    mkdir -p "$CUDA_PATH/lib/stubs"
    cp "$work/stub/libcuda.so.1" "$CUDA_PATH/lib/stubs/libcuda.so"
fi

echo "== build (scripts/cuda/build.sh)"
export CARGO_TARGET_DIR="$work/target"
start=$(date +%s)
scripts/cuda/build.sh || exit 1
echo "built in $(( $(date +%s) - start )) s"
bin="$CARGO_TARGET_DIR/release/ebm-workbench"
source scripts/cuda/env.sh || exit 1
tests=$(cargo test --release --features cuda --lib --no-run --message-format=json 2>/dev/null |
    python3 -c 'import json, sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("executable") and m.get("profile", {}).get("test"): print(m["executable"])') || exit 1
python3 scripts/cuda/unlink.py $tests || exit 1

gpu=0
if nvidia-smi -L >/dev/null 2>&1; then gpu=1; echo "== a GPU is here: $(nvidia-smi -L | head -n 1)"; fi
# Run with no CUDA library on the loader's path (the toolkit's are not in a system folder).
clean() { env -u LD_LIBRARY_PATH "$@"; }

echo "== the binary as cargo links it"
out=$(clean "$bin.linked" --help 2>&1); code=$?
if [ $gpu = 0 ]; then
    [ $code = 127 ] && grep -q 'libcuda.so.1' <<<"$out" && pass "does not start without a driver (exit 127): $(head -n 1 <<<"$out")" ||
        fail "the linked binary: exit $code: $out"
fi

echo "== the shipped binary"
clean "$bin" --help >/dev/null 2>&1 && pass "--help starts" || fail "--help does not start"
for cmd in "train presets/eight_gaussians.ron --steps 40" "bench --steps 5"; do
    out=$(clean "$bin" $cmd --device cuda 2>&1); code=$?
    first=$(grep -m 1 -o 'device=[^ ]*' <<<"$out")
    if [ $gpu = 1 ]; then
        [ $code = 0 ] && [ "$first" = device=CUDA_0 ] && pass "$cmd --device cuda: $first" ||
            fail "$cmd --device cuda on the GPU: exit $code: $out"
    else
        want="CUDA device 0 is not available (no NVIDIA driver: libcuda.so.1 not found); running on the CPU"
        [ $code = 0 ] && [ "$first" = device=CPU ] && grep -qF "warning: $want" <<<"$out" &&
            pass "$cmd --device cuda: exit 0, $first, \"$want\"" ||
            fail "$cmd --device cuda: exit $code: $out"
    fi
done

if [ $gpu = 0 ]; then
    echo "== with a driver library that is a stub"
    out=$(LD_LIBRARY_PATH="$work/stub" "$bin" train presets/eight_gaussians.ron --steps 10 --device cuda 2>&1); code=$?
    [ $code = 0 ] && grep -q 'warning: CUDA device 0 is not available (CUDA libraries missing: lib[a-zA-Z]*.so.[0-9]* not found' <<<"$out" &&
        pass "stub driver, no runtime libraries: $(grep -m 1 warning <<<"$out")" || fail "stub driver alone: exit $code: $out"
    out=$(LD_LIBRARY_PATH="$work/stub:$CUDA_PATH/lib" "$bin" train presets/eight_gaussians.ron --steps 10 --device cuda 2>&1); code=$?
    [ $code = 0 ] && grep -qF 'warning: CUDA device 0 is not available (no NVIDIA driver: the libcuda.so.1 found is a stub library); running on the CPU' <<<"$out" &&
        pass "stub driver and runtime libraries (the driver answered through the lazily bound calls): $(grep -m 1 warning <<<"$out")" ||
        fail "stub driver with the runtime libraries: exit $code: $out"
fi

echo "== the device unit tests"
for t in $tests; do
    clean "$t" device:: -q && pass "$(basename "$t") device:: (no CUDA library on the path)" || fail "$t device::"
    if [ $gpu = 0 ]; then
        LD_LIBRARY_PATH="$work/stub:$CUDA_PATH/lib" "$t" device:: -q && pass "$(basename "$t") device:: (stub driver)" ||
            fail "$t device:: with the stub driver"
    fi
done

[ $failed = 0 ] && echo "all CUDA checks passed" || echo "some CUDA checks FAILED"
exit $failed
