# Sourced by build.sh and check.sh: the environment of a CUDA build that starts anywhere.
# Needs nvcc on PATH and, without a GPU, CUDA_COMPUTE_CAP (see build.sh).
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target/cuda}
# Lazy binding: the CUDA functions are bound at their first call, after the program has
# loaded the libraries (full RELRO would bind them all when it starts). See unlink.py.
# The linker: the C compiler, with the CUDA runtime linked statically (see link.sh).
export RUSTFLAGS="${RUSTFLAGS:-} -C relro-level=partial -C linker-flavor=gcc"
host=$(rustc -vV | sed -n 's/^host: //p' | tr 'a-z-' 'A-Z_')
export "CARGO_TARGET_${host}_LINKER=$root/scripts/cuda/link.sh"

if ! command -v nvcc >/dev/null; then
    echo "nvcc is not on PATH: install the CUDA toolkit (12.x or 13.x) and add its bin folder" >&2
    return 1
fi
if [ -z "${CUDA_COMPUTE_CAP:-}" ] && ! nvidia-smi --query-gpu=compute_cap --format=csv >/dev/null 2>&1; then
    echo "no GPU to ask for its compute capability: set CUDA_COMPUTE_CAP (e.g. 90 for H100/H200, 80 for A100)" >&2
    return 1
fi
# The cudarc version candle uses knows toolkits up to 13.4; a newer one builds as 13.4.
if [ -z "${CUDARC_CUDA_VERSION:-}" ]; then
    read -r major minor < <(nvcc --version | sed -n 's/.*release \([0-9]*\)\.\([0-9]*\),.*/\1 \2/p')
    if [ "$major" -gt 13 ] || { [ "$major" -eq 13 ] && [ "$minor" -gt 4 ]; }; then
        export CUDARC_CUDA_VERSION=13040
    fi
fi
