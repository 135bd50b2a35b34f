#!/usr/bin/env bash
# Generates the seed corpus of control_protocol_fuzz: request and reply lines of every kind the
# daemon and the CLI exchange, good and bad. `make fuzz` runs it (control_protocol_fuzz_SEEDGEN);
# the outputs are build products, never committed.
# Usage: vmm/enclave/make_control_fuzz_seeds.sh BUILD_DIR OUT_DIR
set -euo pipefail
out=${2:?usage: $0 BUILD_DIR OUT_DIR}
mkdir -p "$out"
i=0
seed() { printf '%s' "$1" > "$out/seed-$i"; i=$((i + 1)); }
seed '{"op":"describe"}'
seed '{"op":"stop"}'
seed '{"op":"console"}'
seed '{"op":"console","follow":false}'
seed '{"op":"console","follow":"yes"}'
seed '{"op":1}'
seed '{"op":null,"x":[1,2,{"y":-1.5e300}]}'
seed '[1,2]'
seed '"describe"'
seed '{"ok":true,"enclave":{"EnclaveID":0,"State":"RUNNING","CPUIDs":[1]}}'
seed '{"ok":false,"code":"NOT_OWNER","kind":9,"message":"only the owner"}'
seed '{"ok":false,"code":5,"kind":"x","message":[]}'
printf '{"op":"\xff\xfe"}' > "$out/seed-utf8"
printf '{"op":"describe\\u0000\\ud800"}' > "$out/seed-escapes"
