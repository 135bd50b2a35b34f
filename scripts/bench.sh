#!/usr/bin/env bash
# make bench: benchmarks, reported as medians and ratios against a baseline measured in the same
# run (never as test assertions). QUICK=1 runs each once.
# So far: image build throughput (make-img vs sha384sum over the same 200 MiB). The launch,
# VMM memory overhead, vsock device cost and scaling benchmarks come with the benchmarks change
# (bench/results.md and bench/results.json); the in-process vsock figures can already be had
# from $BUILD/bin/vsock_bench.
set -euo pipefail
: "${BUILD:?}"
top=$(cd "$(dirname "$0")/.." && pwd)
echo "bench: image build throughput (make-img vs sha384sum)"
BUILD="$BUILD" QUICK="${QUICK:-}" "$top/tools/image/bench_make_img.sh"
