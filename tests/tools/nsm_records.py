#!/usr/bin/env python3
"""tests/tools/nsm_records.py — the parent side of tests/apps/app_nsm.c: listens on SOCKET_PORT
(the Unix socket an enclave's connection to CID 3 port PORT reaches), takes one connection,
reads the app's records (each a little-endian u64 length, then the bytes) until it half-closes,
writes them to OUT_DIR/document.cbor, pcr0.bin and pcr16.bin, creates OUT_DIR/received, and
keeps the connection (so the app keeps running) until OUT_DIR/release exists; then closes.
Exit 0 with three records; 1 otherwise (the reason on stderr).

Usage: nsm_records.py --socket VSOCK_SOCKET --port PORT --out OUT_DIR [--timeout S]"""
import argparse
import os
import socket
import struct
import sys
import time

NAMES = ["document.cbor", "pcr0.bin", "pcr16.bin"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--socket", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--timeout", type=float, default=300)
    a = ap.parse_args()
    path = f"{a.socket}_{a.port}"
    deadline = time.monotonic() + a.timeout
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(1)
    listener.settimeout(a.timeout)
    print(f"NSMREC listening path={path}", flush=True)
    try:
        conn, _ = listener.accept()
    except socket.timeout:
        sys.exit(f"nsm_records: no connection on {path} within {a.timeout} s")
    finally:
        listener.close()
        os.unlink(path)
    conn.settimeout(max(1, deadline - time.monotonic()))
    data = b""
    while True:
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
    records = []
    while len(data) >= 8 and len(records) < len(NAMES):
        (n,) = struct.unpack_from("<Q", data)
        if len(data) < 8 + n:
            break
        records.append(data[8:8 + n])
        data = data[8 + n:]
    if len(records) != len(NAMES) or data:
        sys.exit(f"nsm_records: expected {len(NAMES)} records, got {len(records)} and {len(data)} stray bytes")
    for name, record in zip(NAMES, records):
        with open(os.path.join(a.out, name), "wb") as f:
            f.write(record)
    open(os.path.join(a.out, "received"), "w").close()
    print(f"NSMREC received document={len(records[0])} bytes", flush=True)
    while not os.path.exists(os.path.join(a.out, "release")) and time.monotonic() < deadline:
        time.sleep(0.1)
    conn.close()


if __name__ == "__main__":
    main()
