#!/usr/bin/env bash
# One CUDA build of ebm-workbench for Linux that starts on any machine: where an NVIDIA
# driver and GPU are, CUDA devices are offered; where they are not, the same binary runs
# on the CPU and says why (`CUDA device 0 is not available (no NVIDIA driver: ...)`).
#
# Needs: the CUDA toolkit 12.x or 13.x with nvcc on PATH (CUDA_PATH set when the toolkit
# is not in /usr/local/cuda), a C compiler, python3, and on a machine without a GPU
# CUDA_COMPUTE_CAP (90 for H100/H200, 80 for A100, 89 for L4 and RTX 40xx, 120 for
# RTX 50xx).
#
# usage: scripts/cuda/build.sh [more cargo build arguments]
# It leaves $CARGO_TARGET_DIR/release/ebm-workbench (default target/cuda) and, beside it,
# ebm-workbench.linked: the binary as cargo linked it, which starts only where the CUDA
# libraries are installed.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$root"
bin="$CARGO_TARGET_DIR/release/ebm-workbench"
# Linked afresh every time: cargo would not link again a binary this script changed.
rm -f "$bin"
cargo build --release --features cuda "$@"
cp "$bin" "$bin.linked"
python3 scripts/cuda/unlink.py "$bin"
