# tools/bench/: the benchmark harness behind `make bench` (scripts/bench.sh runs bench.py).
# bench_exec times one command with CLOCK_MONOTONIC (the clock of the daemon's LaunchMonotonicNs):
# right before execve, at the first byte of a given value on its stdout, and at its exit.
PROGRAMS += bench_exec
bench_exec_SRCS := tools/bench/bench_exec.cc

# vsock_bench: the vsock device's CPU cost per byte and round-trip latency, in process (no VM).
PROGRAMS += vsock_bench
vsock_bench_SRCS := tools/bench/vsock_bench.cc
vsock_bench_LIBS := vmmvirtio vmmcore guest_status base
vsock_bench_LDLIBS := -pthread
