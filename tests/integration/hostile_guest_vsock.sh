#!/usr/bin/env bash
# timeout: 900
# Hostile guests against the vsock device (issue #14, findings 4 and 5): under KVM, each of the
# probe guest's hostile vsock modes runs next to a witness enclave (probe vsock-echo); the
# witness keeps at least half the echo rate it has next to a benign busy guest, `query` of both
# answers within 1 s every time, the hostile daemon's memory stays bounded, nothing crashes and
# `stop` ends the hostile enclave. Harness: tests/hostile_guest_lib.sh.
#   vsock-storm       tx descriptors re-added forever (before the fix: query/stop hung)
#   vsock-txflood     REQUESTs and RWs to nowhere, rx buffers never reposted (>= 256 connections wait for rx)
#   vsock-credit-lie  buf_alloc 0xffffffff and fwd_cnt running backwards, while a parent floods it
#   vsock-connstorm   REQUESTs from ever new ports, far past the 1,024-connection cap (reached)
#   vsock-badstatus   invalid status records on port 9001 (invalid UTF-8, oversized, garbage)
source "$TOP/tests/lib.sh"
source "$TOP/tests/vmm_lib.sh"
source "$TOP/tests/hostile_guest_lib.sh"
command -v python3 >/dev/null || fail "python3 missing; run scripts/install-deps.sh"
vmm_setup
hostile_setup

hostile_round vsock-storm
HOSTILE_EXPECT='.VsockDevice.Connections >= 256' hostile_round vsock-txflood
HOSTILE_FEED=1 hostile_round vsock-credit-lie probe.port=5000
HOSTILE_EXPECT='.VsockDevice.Connections == 1024' hostile_round vsock-connstorm
HOSTILE_EXPECT='.AppStatus == null' hostile_round vsock-badstatus
cat "$TEST_TMP/figures.txt"
