# tests/tcg_lib.sh — helpers for the whole-enclave end-to-end tests (tests/integration/tcg_*.sh),
# sourced after tests/lib.sh: real OCI images with the static test apps (tests/apps/), make-img,
# `qt-vmm enclave start --accel tcg` (QEMU microvm under TCG with qt-vmm's vsock device over
# vhost-user: no /dev/kvm, no hugepages), and the parent-side peer (tests/tools/vsock_peer.cc).
#
#   tcg_setup                          skips (77) without QEMU; private QT_VMM_RUN_DIR; cleanup trap
#
# E2E_ACCEL=kvm (set by tests/integration/kvm_e2e.sh where host-check says this KVM runs guest
# user mode, e.g. inside the nested L1 of tests/nested/) runs the same tests on qt-vmm's own VMM:
# /dev/kvm, root and 2 MiB hugepages needed, no QEMU process to check. Enclaves then get
# E2E_CPUS=2 vCPUs on whole cores by the QingTian rules, unmodified, where the host has the
# room (≥ 6 CPUs: CPU 0 for the parent, two enclaves of 2); only smaller hosts need
# --allow-shared-cpus and 1 vCPU.
# E2E_ARCH=arm64 (tests/integration/tcg_arm64.sh) builds aarch64 EIFs instead: make-img --arch
# arm64 with the cross-built init and apps of $BUILD/arm64/guest and the arm64 Image
# ($KERNEL_ARM64, else `kernel-config/build-kernel-arm64.sh --path`), run by
# qemu-system-aarch64 -M virt; tcg_setup skips, saying what is missing, when any of them is.
#   kvm_e2e_setup CPUS                 tcg_setup for the KVM-path-only tests (tests/kvm_e2e/): skips
#                                      unless E2E_ACCEL=kvm and the host has ≥ 6 CPUs; CPUS vCPUs,
#                                      never --allow-shared-cpus
#   tcg_image NAME CONFIG_JSON APP...  OCI layout with the apps in /bin → $TEST_TMP/NAME.eif
#   tcg_start EIF [start options...]   starts it (debug mode, E2E_CPUS vCPUs, E2E_MEM MiB = 256,
#                                      E2E_HEARTBEAT_TIMEOUT s = 60); sets ID, START_JSON,
#                                      VSOCK (the VsockSocket), DAEMON_PID, QEMU_PID
#   field ID FIELD                     jq -r .[0].FIELD of query
#   wait_terminated ID [SECONDS]       until State is TERMINATED
#   wait_console ID TEXT [SECONDS]     until the console contains TEXT
#   console ID                         the console (snapshot)
#   expect_gone PID WHAT               fails if the process still exists (zombies count)
#   expect_eq ACTUAL EXPECTED WHAT     (tests/lib.sh)
#   timed NAME CMD...                  runs CMD, logs "TIME NAME: S s" on stderr
#   defer_fail MESSAGE                 a failure that lets the test go on; it still fails at the end

E2E_ACCEL=${E2E_ACCEL:-tcg}
E2E_ARCH=${E2E_ARCH:-x86_64}
TCG_APPS="$BUILD/guest"
TCG_MAKE_IMG_OPTS=()
E2E_START_OPTS=()
E2E_CPUS=1
E2E_MEM=256

tcg_setup() {
  need_kernel
  if [ "$E2E_ACCEL" = kvm ]; then
    source "$TOP/tests/vmm_lib.sh"
    VMM_RESERVE_MIB=512 vmm_setup   # KVM, root, hugepages (restored at exit by tcg_cleanup)
    if [ "$(nproc)" -ge 6 ]; then
      E2E_CPUS=2
    else
      E2E_START_OPTS=(--allow-shared-cpus)
    fi
  elif [ "$E2E_ARCH" = arm64 ]; then
    tcg_arm64_setup
  else
    command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 missing (apt-get install qemu-system-x86)"
  fi
  for p in guest/init guest/app_vsock guest/app_echo_env guest/app_crash guest/app_sleep bin/vsock_peer bin/eif-testdata; do
    [ -x "$BUILD/$p" ] || fail "missing $BUILD/$p; run make"
  done
  export QT_VMM_RUN_DIR="$TEST_TMP/run"
  mkdir -p "$QT_VMM_RUN_DIR"
  PEER="$BUILD/bin/vsock_peer"
  TCG_T0=$(date +%s.%N)
  trap tcg_cleanup EXIT
}

# The arm64 pieces (see E2E_ARCH above); skips naming the first one missing.
tcg_arm64_setup() {
  need_arm64_guest init app_vsock app_echo_env
  TCG_APPS=$ARM64_GUEST
  export QT_VMM_INIT_AARCH64="$TCG_APPS/init"
  TCG_MAKE_IMG_OPTS=(--arch arm64)
  KERNEL=$KERNEL_ARM64
}

kvm_e2e_setup() {
  [ "$E2E_ACCEL" = kvm ] || skip "runs on the KVM path only (tests/integration/kvm_e2e.sh runs it with E2E_ACCEL=kvm)"
  tcg_setup
  [ "$(nproc)" -ge 6 ] || skip "needs 6 CPUs for whole-core placement of two enclaves (the nested L1 has them)"
  E2E_CPUS=$1
  E2E_START_OPTS=()
}

tcg_cleanup() {
  local status=$?
  local j s id
  if [ "$status" -ne 0 ] && [ -d "${QT_VMM_RUN_DIR:-/nonexistent}" ]; then
    for s in "$QT_VMM_RUN_DIR"/*.sock "$QT_VMM_RUN_DIR"/*.json; do
      [ -e "$s" ] || continue
      id=$(basename "${s%.*}")
      [[ "$id" =~ ^[0-9]+$ ]] || continue
      echo "---- on failure: enclave $id ----"
      "$QT_VMM" enclave query --enclave-id "$id" 2>&1 | jq -c '.[0] | {State, Reason, AppStatus, VsockDevice}' 2>/dev/null || true
      console "$id" | grep -vE '^\[ *[0-9]+\.[0-9]+\] ' | tail -n 25
    done
  fi
  for j in $(jobs -p); do kill_tree "$j"; done
  [ "$E2E_ACCEL" = kvm ] && vmm_cleanup
  if [ -d "${QT_VMM_RUN_DIR:-/nonexistent}" ]; then
    for s in "$QT_VMM_RUN_DIR"/*.sock; do
      [ -e "$s" ] || continue
      "$QT_VMM" enclave stop --enclave-id "$(basename "$s" .sock)" >/dev/null 2>&1 || true
    done
  fi
  echo "TIME total: $(printf '%.1f' "$(echo "$(date +%s.%N) - $TCG_T0" | bc)") s"
  if [ "${#TCG_DEFERRED[@]}" -gt 0 ]; then
    printf 'FAIL: %s\n' "${TCG_DEFERRED[@]}" >&2
    [ "$status" -ne 0 ] || status=1
  fi
  exit "$status"
}

# tcg_image NAME CONFIG_JSON APP...: one layer with each tests/apps program as /bin/<APP>.
tcg_image() {
  local name=$1 config=$2; shift 2
  local root="$TEST_TMP/$name.root" app
  rm -rf "$root" "$TEST_TMP/$name.layout"
  mkdir -p "$root/bin" "$root/etc" "$root/tmp"
  for app in "$@"; do install -m 0755 "$TCG_APPS/$app" "$root/bin/$app"; done
  printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' > "$root/etc/passwd"
  printf '%s\n' 'root:x:0:' > "$root/etc/group"
  layer_tar "$TEST_TMP/$name.tar" "$root" .
  oci_image "$TEST_TMP/$name.layout" "$(IMAGE_ARCH=$(tcg_oci_arch) image_config "$config" "$TEST_TMP/$name.tar")" latest "tar:$TEST_TMP/$name.tar" >/dev/null
  "$QT_VMM" enclave make-img --docker-uri "oci:$TEST_TMP/$name.layout:latest" --eif "$TEST_TMP/$name.eif" \
    --kernel "$KERNEL" "${TCG_MAKE_IMG_OPTS[@]}" >"$TEST_TMP/$name.pcrs.json" 2>"$TEST_TMP/$name.make-img.log" \
    || { cat "$TEST_TMP/$name.make-img.log" >&2; fail "make-img $name"; }
}

tcg_oci_arch() { if [ "$E2E_ARCH" = arm64 ]; then echo arm64; else echo amd64; fi; }

# tcg_start EIF [options...]
tcg_start() {
  local eif=$1; shift
  local t0 rc=0
  t0=$(date +%s.%N)
  START_JSON=$("$QT_VMM" enclave start --accel "$E2E_ACCEL" "${E2E_START_OPTS[@]}" --eif "$eif" --cpus "$E2E_CPUS" --mem "$E2E_MEM" --debug-mode --heartbeat-timeout "${E2E_HEARTBEAT_TIMEOUT:-60}" "$@" \
    2>"$TEST_TMP/start.err") || rc=$?
  START_SECS=$(printf '%.2f' "$(echo "$(date +%s.%N) - $t0" | bc)")
  if [ "$rc" -ne 0 ]; then
    cat "$TEST_TMP/start.err" >&2
    fail "enclave start failed (exit $rc)"
  fi
  echo "start: $(jq -c . <<<"$START_JSON")"
  echo "TIME start: $START_SECS s"
  ID=$(jq -r .EnclaveID <<<"$START_JSON")
  VSOCK=$(jq -r .VsockSocket <<<"$START_JSON")
  DAEMON_PID=$(jq -r .ProcessID <<<"$START_JSON")
  QEMU_PID=""
  if [ "$E2E_ACCEL" = tcg ]; then
    QEMU_PID=$(jq -r .QemuPID <<<"$START_JSON")
    [ "$QEMU_PID" -gt 0 ] 2>/dev/null || fail "start's JSON has no QemuPID"
  fi
}

field() { "$QT_VMM" enclave query --enclave-id "$1" | jq -r ".[0].$2"; }
# A console read that races the enclave's end can fail with DAEMON_CLOSED/DAEMON_GONE (exit 8)
# instead of falling back to the kept console: logged, then read once more.
console() {
  local out rc=0
  out=$("$QT_VMM" enclave console --enclave-id "$1" --no-follow 2>&1) || rc=$?
  if [ "$rc" -ne 0 ] && grep -qE 'DAEMON_CLOSED|DAEMON_GONE' <<<"$out"; then
    echo "NOTE: enclave console raced the enclave's end: $out" >&2
    sleep 0.5
    rc=0; out=$("$QT_VMM" enclave console --enclave-id "$1" --no-follow 2>&1) || rc=$?
  fi
  printf '%s\n' "$out"
  return "$rc"
}

wait_terminated() {
  local id=$1 limit=${2:-60} i
  for ((i = 0; i < limit * 10; i++)); do
    [ "$(field "$id" State)" = TERMINATED ] && return 0
    sleep 0.1
  done
  "$QT_VMM" enclave query --enclave-id "$id" >&2
  console "$id" | tail -n 30 >&2
  fail "enclave $id did not end within $limit s"
}

wait_console() {
  local id=$1 text=$2 limit=${3:-60} i
  for ((i = 0; i < limit * 10; i++)); do
    console "$id" | grep -F -- "$text" >/dev/null && return 0
    sleep 0.1
  done
  console "$id" | tail -n 30 >&2
  fail "console of enclave $id never showed: $text"
}

expect_gone() {
  local pid=$1 what=$2 i
  [ -n "$pid" ] || return 0 # no such process under this accelerator (QEMU under kvm)
  for ((i = 0; i < 50; i++)); do
    [ -z "$(ps -o pid= -p "$pid" 2>/dev/null)" ] && return 0
    sleep 0.1
  done
  ps -o pid,stat,cmd -p "$pid" >&2 || true
  fail "$what (pid $pid) still exists"
}

# peer_field LINE KEY: the value of key=value in a PEER line.
peer_field() { sed -nE "s/.*[ ]$2=([^ ]*).*/\1/p" <<<"$1" | head -n1; }

TCG_DEFERRED=()
defer_fail() {
  echo "FAIL (deferred, the test goes on): $*" >&2
  TCG_DEFERRED+=("$*")
}

timed() {
  local name=$1; shift
  local t0 rc=0
  t0=$(date +%s.%N)
  "$@" || rc=$?
  echo "TIME $name: $(printf '%.2f' "$(echo "$(date +%s.%N) - $t0" | bc)") s" >&2
  return "$rc"
}
