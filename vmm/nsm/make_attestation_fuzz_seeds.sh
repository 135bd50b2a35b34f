#!/usr/bin/env bash
# Generates the seed corpus of attestation_verify_fuzz: the real Nitro sample (which passes every
# check against the fuzzer's root), it tagged (18) and truncated, and a qt-vmm document signed by
# tests/tools/attestation_sign_doc (another root: it exercises the chain failure). `make fuzz`
# runs it (attestation_verify_fuzz_SEEDGEN); the outputs are build products, never committed.
# Usage: vmm/nsm/make_attestation_fuzz_seeds.sh BUILD_DIR OUT_DIR
set -euo pipefail
build=${1:?usage: $0 BUILD_DIR OUT_DIR}
out=${2:?usage: $0 BUILD_DIR OUT_DIR}
top=$(cd "$(dirname "$0")/../.." && pwd)
sample="$top/vmm/nsm/testdata/nitro_sample_document.cbor"
mkdir -p "$out"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cp "$sample" "$out/nitro_sample.cbor"
{ printf '\xd2'; cat "$sample"; } > "$out/nitro_sample_tagged.cbor"
head -c 2000 "$sample" > "$out/nitro_sample_truncated.cbor"
"$build/bin/attestation_sign_doc" make-root "$tmp/root.key" "$tmp/root.pem" "fuzz seed root"
"$build/bin/attestation_sign_doc" sign --root-key "$tmp/root.key" --root-cert "$tmp/root.pem" --out "$out/qt_vmm_document.cbor" \
  --nonce 0102030405 --user-data 75736572 --public-key 6b6579
