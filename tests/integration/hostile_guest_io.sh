#!/usr/bin/env bash
# timeout: 600
# Hostile guests against the VMM's I/O emulation (issue #14): a 100 MB serial console flood
# (measured while it runs) and random port and MMIO accesses (the 3-4 GiB hole, the vsock
# device's registers included) for the measured time, each next to a witness enclave, with the
# checks of tests/hostile_guest_lib.sh (echo rate >= half, query < 1 s, RSS bounded, no crash,
# stop works).
source "$TOP/tests/lib.sh"
source "$TOP/tests/vmm_lib.sh"
source "$TOP/tests/hostile_guest_lib.sh"
command -v python3 >/dev/null || fail "python3 missing; run scripts/install-deps.sh"
vmm_setup
hostile_setup

hostile_round console-flood probe.flood_mb=100
hostile_round randio probe.seconds=$((HOSTILE_SECONDS + 30))
cat "$TEST_TMP/figures.txt"
