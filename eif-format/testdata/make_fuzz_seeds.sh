#!/usr/bin/env bash
# Generates the seed corpus of eif_reader_fuzz: tiny EIFs written by the eif library — unsigned,
# signed with a P-256 key, a version-2 variant. `make fuzz` runs it (eif_reader_fuzz_SEEDGEN);
# the outputs are build products, never committed.
# Usage: eif-format/testdata/make_fuzz_seeds.sh BUILD_DIR OUT_DIR
set -euo pipefail
build=${1:?usage: $0 BUILD_DIR OUT_DIR}
out=${2:?usage: $0 BUILD_DIR OUT_DIR}
mk="$build/bin/eif-testdata"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
mkdir -p "$out"
printf 'KRNL' > "$tmp/k"; printf 'init' > "$tmp/r0"; printf 'app' > "$tmp/r1"
export SOURCE_DATE_EPOCH=0
"$mk" "$out/unsigned.eif" "$tmp/k" "console=ttyS0" "$tmp/r0" "$tmp/r1" --name s --version 1 >/dev/null
"$mk" "$out/one-ramdisk.eif" "$tmp/k" "" "$tmp/r0" --name s --version 1 >/dev/null
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:prime256v1 -out "$tmp/key.pem" 2>/dev/null
openssl req -new -x509 -key "$tmp/key.pem" -out "$tmp/cert.pem" -days 36500 -subj /CN=f 2>/dev/null
"$mk" "$out/signed.eif" "$tmp/k" "c" "$tmp/r0" "$tmp/r1" --name s --version 1 \
  --private-key "$tmp/key.pem" --signing-certificate "$tmp/cert.pem" >/dev/null
# Version 2 (no metadata section): kernel, cmdline, ramdisk, CRC recomputed by python.
python3 - "$out/v2.eif" <<'PY'
import struct, sys, zlib
secs = [(1, b"KRNL"), (2, b"c"), (3, b"init")]
hdr = bytearray(548); hdr[0:4] = b".eif"; struct.pack_into(">HHQQHH", hdr, 4, 2, 0, 1 << 30, 2, 0, len(secs))
body = b""; off = 548
for i, (t, d) in enumerate(secs):
    struct.pack_into(">Q", hdr, 0x1c + 8 * i, off); struct.pack_into(">Q", hdr, 0x11c + 8 * i, len(d))
    sh = struct.pack(">HHQ", t, 0, len(d)); body += sh + d; off += 12 + len(d)
crc = zlib.crc32(bytes(hdr[:0x220]) + body) & 0xffffffff
struct.pack_into(">I", hdr, 0x220, crc)
open(sys.argv[1], "wb").write(bytes(hdr) + body)
PY
ls -l "$out"
