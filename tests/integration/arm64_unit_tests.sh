#!/usr/bin/env bash
# timeout: 1200
# The arm64 build of every unit-test binary (make ARCH=arm64 unit-tests, beside the x86 build in
# $BUILD/arm64, sharing its objects with arm64_l1_enclave.sh): the tests must compile for arm64
# too (a POSIX symlink() shadowing a test helper and an x86-only unused function once broke
# that, and nothing ran it). Then the binaries run under qemu-user (qemu-aarch64 -L
# /usr/aarch64-linux-gnu). Where qemu-user cannot start a second thread (on these hosts
# qemu-aarch64 10.0 hangs in a program's first pthread_create; probed below), only the binaries
# that start none run, and the test says so.
# Skips only without the aarch64 cross compiler or qemu-user.
source "$TOP/tests/lib.sh"
command -v aarch64-linux-gnu-g++ >/dev/null \
  || skip "aarch64-linux-gnu-g++ missing (package g++-aarch64-linux-gnu; scripts/install-deps.sh)"
command -v qemu-aarch64 >/dev/null || skip "qemu-aarch64 missing (package qemu-user; scripts/install-deps.sh)"

make -s -j"$(nproc)" -C "$TOP" ARCH=arm64 SAN=0 BUILD="$BUILD/arm64" unit-tests >"$TEST_TMP/make.log" 2>&1 \
  || { tail -n 40 "$TEST_TMP/make.log" >&2; fail "the arm64 unit tests do not build (make ARCH=arm64 unit-tests)"; }
bins=("$BUILD"/arm64/tests/*_test)
[ "${#bins[@]}" -ge 10 ] || fail "only ${#bins[@]} arm64 unit-test binaries were built"
run_arm64() { timeout "$1" qemu-aarch64 -L /usr/aarch64-linux-gnu "${@:2}"; }

# Can qemu-user run a second thread here?
cat >"$TEST_TMP/thread.c" <<'C'
#include <pthread.h>
static void* body(void* p) { return p; }
int main(void) { pthread_t t; return pthread_create(&t, 0, body, 0) || pthread_join(t, 0); }
C
aarch64-linux-gnu-gcc -pthread -o "$TEST_TMP/thread" "$TEST_TMP/thread.c" || fail "cannot build the thread probe"
if run_arm64 20 "$TEST_TMP/thread"; then
  selected=("${bins[@]}")
else
  # The binaries whose tests start no thread (checked: each passes whole under qemu-user here).
  selected=()
  for name in arm64_boot_test init_test jmespath_test qt-vmm_test; do selected+=("$BUILD/arm64/tests/$name"); done
  echo "arm64_unit_tests: qemu-aarch64 cannot start a thread on this host; running the ${#selected[@]} thread-free binaries of ${#bins[@]}"
fi
for t in "${selected[@]}"; do
  out=$(run_arm64 600 "$t" 2>&1) || { echo "$out" | tail -n 30 >&2; fail "$(basename "$t") failed under qemu-aarch64"; }
  echo "$(basename "$t"): $(grep 'test cases' <<<"$out" | tail -n 1)"
done
echo PASS
