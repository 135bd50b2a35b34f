#!/usr/bin/env bash
# timeout: 1800
# An aarch64 enclave, whole, on qt-vmm's own arm64 KVM back end: this tree cross-built for arm64
# (make ARCH=arm64: qt-vmm, vsock_peer, guest-init, the test apps) runs inside the arm64 nested L1
# (tests/nested/l1.sh --arch arm64: Debian's arm64 kernel at EL2 under QEMU's TCG, a real
# /dev/kvm with guest user mode). On this host: two EIFs from real OCI images, make-img --arch
# arm64 with the arm64 Image. In L1 (tests/nested/arm64-enclave.sh): host-check (the embedded arm64
# probe guest runs EL0 and an svc), then an enclave of 2 vCPUs whose app prints to the debug
# console and exits 3 (heartbeat before start returns, console, AppStatus, the guest's own end),
# then one that carries a vsock echo both ways (parent → enclave on 5000, enclave → parent on
# 7000). The device tree it boots from is libfdt's (vmm/arch/arm64/device_tree.cc; the console
# shows the kernel found the machine, the UART and the virtio-mmio devices through it).
# Prints the steps' times and the test's wall time: what the arm64 L1 costs in CI.
# Skips, saying what is missing, without the arm64 Image or the cross compiler.
E2E_ARCH=arm64
source "$TOP/tests/lib.sh"
source "$TOP/tools/image/testdata/image_helpers.sh"
source "$TOP/tests/tcg_lib.sh"
command -v aarch64-linux-gnu-g++ >/dev/null \
  || skip "aarch64-linux-gnu-g++ missing (package g++-aarch64-linux-gnu; scripts/install-deps.sh)"
tcg_arm64_setup
"$TOP/tests/nested/l1-assets.sh" --arch arm64 --check || fail "the arm64 L1 cannot be built here (see above)"
started=$(date +%s.%N)

# The arm64 VMM and the parent's vsock peer, beside the x86 build (as make ARCH=arm64 puts them).
arm64_bins=("$BUILD/arm64/bin/qt-vmm" "$BUILD/arm64/bin/vsock_peer")
make -s -j"$(nproc)" -C "$TOP" ARCH=arm64 SAN=0 BUILD="$BUILD/arm64" "${arm64_bins[@]}" >"$TEST_TMP/make.log" 2>&1 \
  || { tail -n 30 "$TEST_TMP/make.log" >&2; fail "cross-building ${arm64_bins[*]} failed"; }
"$TOP/scripts/check-elf-arch.sh" arm64 "${arm64_bins[@]}"
echo "TIME cross-build: $(printf '%.1f' "$(echo "$(date +%s.%N) - $started" | bc)") s"

tcg_image hello '{"Entrypoint":["app_echo_env","--exit=3"],"Cmd":["hello arm64"],"Env":["PATH=/bin","GREETING=hi from arm64"]}' app_echo_env
tcg_image both '{"Entrypoint":["app_vsock"],"Cmd":["dial:7000:65536","echo:5000"],"Env":["PATH=/bin"]}' app_vsock
expect_eq "$("$QT_VMM" enclave describe-eif --eif "$TEST_TMP/hello.eif" | jq -r .Arch)" aarch64 "describe-eif Arch"

logs="$TEST_TMP/l1-logs"
rc=0
for attempt in 1 2; do # a second L1 only when the first wedged (l1.sh exit 75, see there)
  rc=0
  "$TOP/tests/nested/l1.sh" --arch arm64 --timeout 1500 --log-dir "$logs" -- \
    bash "$TOP/tests/nested/arm64-enclave.sh" "${arm64_bins[@]}" "$TEST_TMP" || rc=$?
  [ "$rc" -eq 75 ] || break
  echo "arm64_l1_enclave: L1 wedged (attempt $attempt)"
done
[ "$rc" -eq 0 ] || fail "the L1 job exited $rc (logs: $logs; L1's console: $logs/console.log)"
steps=$(cat "$logs/steps.txt" 2>/dev/null || true)
step_ok() { grep -q "^STEP $1 rc=0 " <<<"$steps" || { cat "$logs/$2" "$logs"/daemon-*.log >&2 2>/dev/null; fail "step $1 in L1: $(grep "^STEP $1 " <<<"$steps" || echo 'not reached')"; }; }

# 1. host-check in L1.
step_ok host-check host-check.err
user_mode=$(jq -r '.[] | select(.Check == "guest-user-mode") | .Verdict + " " + .Detail' "$logs/host-check.json")
echo "host-check guest-user-mode: $user_mode"
expect_contains "$user_mode" "ok a probe guest ran user mode and its system calls correctly (PROBE usermode=ok" "host-check guest-user-mode"
# arm64 kernels with 4 KiB pages have 64 KiB, 2 MiB, 32 MiB and 1 GiB pools: each named as it is
# (all of them were once called "2M").
pools=$(jq -r '.[] | select(.Check == "hugepages") | .Detail' "$logs/host-check.json")
echo "host-check hugepages: $pools"
expect_eq "$(grep -o 'node 0 2M:' <<<"$pools" | wc -l)" 1 "host-check's 2M pools on node 0"
expect_contains "$pools" "node 0 64kB: " "host-check hugepages"

# 2. console, exit status, the guest's end.
step_ok start-hello start-hello.err
expect_eq "$(jq -r .Heartbeat "$logs/start-hello.json")" true "start JSON Heartbeat"
expect_eq "$(jq -r .NumberOfCPUs "$logs/start-hello.json")" 2 "start JSON NumberOfCPUs"
step_ok hello-ended query-hello.json
q=$(cat "$logs/query-hello.json")
expect_eq "$(jq -r '.[0].Reason' <<<"$q")" guest-reset "Reason"
expect_eq "$(jq -r '.[0].AppStatus.Kind' <<<"$q")" exited "AppStatus.Kind"
expect_eq "$(jq -r '.[0].AppStatus.ExitCode' <<<"$q")" 3 "AppStatus.ExitCode"
out=$(cat "$logs/console-hello.txt")
echo "---- console ----"; grep -vE '^\[ *[0-9]+\.[0-9]+\] ' <<<"$out" | tail -n 20; echo "-----------------"
expect_contains "$out" "Machine model: qt-vmm enclave" console    # the device tree qt-vmm built
expect_contains "$out" "CPU1: Booted secondary processor" console # PSCI CPU_ON of the second vCPU
expect_contains "$out" "ECHO argv[2]=<hello arm64>" console
expect_contains "$out" "ECHO env <GREETING=hi from arm64>" console
expect_contains "$out" "ECHO done exit=3" console

# 3. vsock both ways.
step_ok start-both start-both.err
step_ok both-ready console-both.txt
step_ok echo-5000 echo5000.txt
echo5000=$(cat "$logs/echo5000.txt"); echo "$echo5000"
expect_contains "$echo5000" "verified=2 eof=2"
expect_contains "$echo5000" "result=OK"
step_ok listen-7000 listen7000.txt
line=$(grep "PEER listen port=7000 conn=1 bytes=65536" "$logs/listen7000.txt") || fail "no 64 KiB connection on 7000: $(cat "$logs/listen7000.txt")"
expect_contains "$line" "content=ok"
expect_contains "$(grep "VSOCK dial 7000 conn=1 bytes" "$logs/console-both.txt")" " OK" "console line of dial 7000"
step_ok stop-both stop-both.json

echo "L1: $(head -n 1 "$logs/l1-info.txt" 2>/dev/null)"
echo "$steps"
echo "TIME arm64_l1_enclave total: $(printf '%.1f' "$(echo "$(date +%s.%N) - $started" | bc)") s"
echo PASS
