#!/usr/bin/env bash
# make demo: the newcomer's first run (make builds everything and the kernel before calling us).
#   1. builds a sample container image as an OCI layout (no Docker daemon needed): a static
#      "hello" app with ENTRYPOINT, CMD and ENV;
#   2. turns it into an EIF with `qt-vmm enclave make-img` and describes it;
#   3. asks `qt-vmm host-check` what this host's KVM can do;
#   4. starts the EIF under KVM in debug mode, shows its console, stops it;
#   5. where this KVM cannot run guest user mode (nested, software-assisted KVM, as on the
#      project's build machines), also starts the same EIF with --accel tcg (QEMU software
#      emulation with qt-vmm's own vsock device) so the app's output and exit status can be seen.
# Needs root (hugepages, /dev/kvm): a user with sudo is asked for it here (everything was built
# as that user already); uses a private run directory and gives back what it took.
set -euo pipefail
: "${BUILD:?}"
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null; then
  echo "demo: starting enclaves needs root (hugepages, /dev/kvm): going on with sudo"
  exec sudo BUILD="$BUILD" bash "$0" "$@"
fi
top=$(cd "$(dirname "$0")/.." && pwd)
qt="$BUILD/bin/qt-vmm"
source "$top/tools/image/testdata/image_helpers.sh"
work="$BUILD/demo"
rm -rf "$work"
mkdir -p "$work/rootfs/bin" "$work/layout"
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "1. a sample image (OCI layout, built without Docker)"
cp "$BUILD/guest/app_echo_env" "$work/rootfs/bin/hello"
layer_tar "$work/layer.tar" "$work/rootfs" .
config=$(image_config '{"Entrypoint":["/bin/hello"],"Cmd":["greetings","from the enclave"],"Env":["PATH=/bin","GREETING=hello from qt-vmm"]}' "$work/layer.tar")
oci_image "$work/layout" "$config" latest "tar:$work/layer.tar" >/dev/null
echo "OCI layout in $work/layout (one layer: /bin/hello)"

step "2. qt-vmm enclave make-img"
"$qt" enclave make-img --docker-uri "oci:$work/layout:latest" --eif "$work/hello.eif"
"$qt" --output yaml enclave describe-eif --eif "$work/hello.eif" | head -n 20

step "3. qt-vmm host-check"
"$qt" --output table host-check
user_mode=$("$qt" host-check | jq -r '.[] | select(.Check == "guest-user-mode") | .Verdict')

if [ "$(id -u)" -ne 0 ]; then
  echo "demo: not root and no sudo, so no enclave can be started (hugepages and /dev/kvm need root); stopping here"
  exit 0
fi
# A private run directory. As root qt-vmm trusts only a root-owned one in directories only root
# can change, so not one inside a user's checkout: a fresh one in /tmp.
export QT_VMM_RUN_DIR
QT_VMM_RUN_DIR=$(mktemp -d /tmp/qt-vmm-demo-run.XXXXXX)
pool=/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
original=$(cat "$pool")
trap 'for s in "$QT_VMM_RUN_DIR"/*.sock; do [ -e "$s" ] && "$qt" enclave stop --enclave-id "$(basename "$s" .sock)" >/dev/null 2>&1; done; echo "$original" > "$pool"; rm -rf "$QT_VMM_RUN_DIR"' EXIT
"$qt" allocator --mem 256 --hugepage-size 2M >/dev/null

step "4. qt-vmm enclave start --debug-mode, console, stop"
# start returns after the init's boot heartbeat; this KVM cannot run the init, so do not wait.
wait_heartbeat=()
[ "$user_mode" = ok ] || wait_heartbeat=(--heartbeat-timeout 0)
# --allow-shared-cpus: QingTian's vCPU rules (an even count, node CPUs − 2, the parent keeps 2)
# leave no room for an enclave on a small dev host; 1 vCPU then takes a free CPU.
"$qt" enclave start --eif "$work/hello.eif" --cpus 1 --allow-shared-cpus --mem 256 --debug-mode "${wait_heartbeat[@]}" | tee "$work/start.json"
id=$(jq -r .EnclaveID "$work/start.json")
if [ "$user_mode" = ok ]; then
  timeout 60 "$qt" enclave console --enclave-id "$id" || true
else
  echo "(this KVM emulates guest kernel code, so the kernel takes ~35 s to reach init; showing its console as it boots)"
  for i in $(seq 240); do
    "$qt" enclave console --enclave-id "$id" --no-follow 2>/dev/null | grep "Run /init as init process" >/dev/null && break
    [ "$("$qt" enclave query --enclave-id "$id" | jq -r '.[0].State')" = TERMINATED ] && break
    sleep 0.5
  done
  "$qt" enclave console --enclave-id "$id" --no-follow | tail -n 15
fi
"$qt" enclave query
"$qt" enclave stop --enclave-id "$id" || true

if [ "$user_mode" != ok ]; then
  step "5. the same EIF with --accel tcg (QEMU software emulation; this KVM cannot run guest user mode)"
  "$qt" enclave start --accel tcg --eif "$work/hello.eif" --cpus 1 --mem 256 --debug-mode | tee "$work/start-tcg.json"
  id=$(jq -r .EnclaveID "$work/start-tcg.json")
  timeout 60 "$qt" enclave console --enclave-id "$id" | grep -v '^\s*$' | tail -n 25 || true
  "$qt" enclave query --enclave-id "$id" | jq '.[0] | {EnclaveID, Accel, State, Reason, Heartbeat, AppStatus}'
  "$qt" enclave stop --enclave-id "$id" || true
fi
echo
echo "demo: done (files in $work)"
