# tools/bench/: the benchmark harness behind `make bench` (scripts/bench.sh runs bench.py).
# bench_exec times one command with CLOCK_MONOTONIC (the clock of the daemon's LaunchMonotonicNs):
# right before execve, at the first byte of a given value on its stdout, and at its exit.
PROGRAMS += bench_exec
bench_exec_SRCS := tools/bench/bench_exec.cc
