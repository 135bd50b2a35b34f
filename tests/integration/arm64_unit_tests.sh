#!/usr/bin/env bash
# timeout: 1200
# The arm64 build of every unit-test binary (make ARCH=arm64 unit-tests, beside the x86 build in
# $BUILD/arm64, sharing its objects with arm64_l1_enclave.sh): the tests must compile for arm64
# too (a POSIX symlink() shadowing a test helper and an x86-only unused function once broke
# that, and nothing ran it). Then make ARCH=arm64 test-unit runs them under qemu-user
# (qemu-aarch64 -L /usr/aarch64-linux-gnu, after checking they are arm64 ELF). Where qemu-user cannot start a second thread (on these hosts
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

# Can qemu-user run a second thread here?
cat >"$TEST_TMP/thread.c" <<'C'
#include <pthread.h>
static void* body(void* p) { return p; }
int main(void) { pthread_t t; return pthread_create(&t, 0, body, 0) || pthread_join(t, 0); }
C
aarch64-linux-gnu-gcc -pthread -o "$TEST_TMP/thread" "$TEST_TMP/thread.c" || fail "cannot build the thread probe"
units=() # all of them
if ! timeout 20 qemu-aarch64 -L /usr/aarch64-linux-gnu "$TEST_TMP/thread"; then
  # The binaries whose tests start no thread (checked: each passes whole under qemu-user here).
  units=(UNITS="arm64_boot_test init_test jmespath_test qt-vmm_test")
  echo "arm64_unit_tests: qemu-aarch64 cannot start a thread on this host; running the 4 thread-free binaries of ${#bins[@]}"
fi
# make test-unit runs them under qemu-user (its TEST_RUNNER) after checking they are arm64 ELF.
timeout 900 make -s -C "$TOP" ARCH=arm64 SAN=0 BUILD="$BUILD/arm64" test-unit "${units[@]}" >"$TEST_TMP/run.log" 2>&1 \
  || { tail -n 40 "$TEST_TMP/run.log" >&2; fail "the arm64 unit tests failed under qemu-aarch64 (make ARCH=arm64 test-unit)"; }
grep -E '^test-unit: |test cases' "$TEST_TMP/run.log"
echo PASS
