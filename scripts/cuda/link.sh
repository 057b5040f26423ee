#!/usr/bin/env bash
# The linker scripts/cuda/build.sh uses: the system's C compiler, with the CUDA runtime
# (cudart) linked statically instead of as libcudart.so. candle's MoE kernels are built
# with nvcc and register themselves with the runtime when the program starts; the static
# runtime does that without a driver or any CUDA library on the machine (it loads the
# driver only when a kernel is first launched), so the binary need not find cudart to
# start. Every other argument goes to the compiler unchanged.
set -euo pipefail
static=(-l:libcudart_static.a -lrt -lpthread -ldl)
args=()
for a in "$@"; do
    if [ "$a" = -lcudart ]; then
        args+=("${static[@]}")
    elif [[ "$a" == @* ]] && [ -f "${a#@}" ] && grep -qx -- -lcudart "${a#@}"; then
        # rustc passes the arguments in a file when they are too long for a command line.
        sed -i 's/^-lcudart$/-l:libcudart_static.a\n-lrt\n-lpthread\n-ldl/' "${a#@}"
        args+=("$a")
    else
        args+=("$a")
    fi
done
exec "${EBM_CUDA_CC:-cc}" "${args[@]}"
