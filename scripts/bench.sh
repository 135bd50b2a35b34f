#!/usr/bin/env bash
# make bench: qt-vmm's benchmarks → bench/results.md (a table to read) and bench/results.json
# (for scripts), plus bench/scaling.png. Each figure is the median of RUNS runs (default 10) with
# min and max; every comparison is a ratio measured in the same run with the sides alternating.
# The driver is tools/bench/bench.py (its docstring lists what it measures and how).
#
#   make bench                    # about 15-20 min on the 2-core build hosts, as root
#   make bench QUICK=1            # smoke run: one run each, no real-kernel boot (seconds)
#   make bench REAL_KERNEL=0      # skip the real kernel's boot (minutes per run on nested KVM)
#
# Other knobs (environment): RUNS, REAL_KERNEL_RUNS (default 3), BENCH_OUT (output directory,
# default bench/), BENCH_MAX_MEM_MIB (default 8192), BENCH_SECTIONS (vsock,image,launch,
# connections,kernel). Launch, memory and scaling need root and /dev/kvm; without them those rows
# say "not available".
set -euo pipefail
: "${BUILD:?BUILD must name the build directory}"
top=$(cd "$(dirname "$0")/.." && pwd)
export BUILD QUICK="${QUICK:-}"
exec python3 "$top/tools/bench/bench.py"
