#!/usr/bin/env python3
"""tools/bench/nested_bench.py — the whole-enclave launch on a KVM with guest user mode, qt-vmm
against QEMU, measured inside the nested L1 (tests/nested/l1.sh; bench.py's "nested" section runs
it there). Every level is emulated in L1, so only the same-round ratios mean anything.

One EIF (the real guest kernel, qt-vmm's init, app_vsock dialling the parent at once), 2 vCPUs,
256 MiB of 2 MiB pages, debug console on both sides. Per round, in alternating order:
  qt-vmm  `qt-vmm enclave start` exec → the init's heartbeat (the daemon's LaunchMonotonicNs)
          and → the app's first connection to the parent (a listener on <VsockSocket>_7100);
  QEMU    `qemu-system-x86_64 -M microvm -accel kvm` with the same bzImage, the EIF's ramdisks
          and command line, and the same vsock device model over vhost-user (`qt-vmm vsock
          vhost-user`, the parent at CID 3 as the init expects; Linux's vhost-vsock only lets a
          guest reach CID 2): exec → the heartbeat (the backend's "heartbeat from the guest"
          line) and → the app's connection (a listener on the backend's <uds>_7100).
QEMU runs on the CPUs qt-vmm's placement gives its vCPUs (taskset), its RAM is 2 MiB hugetlb
memfd. Writes JSON: {"qt": {"heartbeat_ms": [...], "app_ms": [...]}, "qemu": {...}, ...}.

With --scaling instead: the scaling rows where 1 GiB pages can be had (the L1 reserves them on its
kernel command line; bench.py's section nested-scaling boots it so): bench.py's own launch section
with BENCH_SCALING_ONLY=1 (the probe guest, exec → first instruction, 128 MiB of 2 MiB pages and
1, 4 and 8 GiB of 1 GiB pages, fresh and from the pre-zeroed pool, the sizes rotating per round),
so the measure is exactly the host's. Writes {"l1": "...", "load_start": [...], "load_end": [...],
"figures": [bench.py's scaling.* figures]}.

    nested_bench.py --out FILE [--rounds N] [--work DIR] [--scaling]     (root, /dev/kvm)
"""
import argparse
import json
import os
import socket
import struct
import subprocess
import sys
import threading
import time

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("BUILD", os.path.join(TOP, "build"))
QT = os.environ.get("QT_VMM", os.path.join(BUILD, "bin", "qt-vmm"))
APP_PORT = 7100
QEMU_CID = 21
XXH3_EMPTY = 0x2D06800538D394C2  # XXH3-64 of no bytes: the reply app_vsock's dial expects


def mono_ns():
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC)


def log(*args):
    print("nested-bench:", *args, file=sys.stderr, flush=True)


def build_eif(work):
    """An OCI image whose app dials CID 3 port 7100 (0 bytes) and exits, made into an EIF by the
    same helpers the end-to-end tests use."""
    config = json.dumps({"Entrypoint": ["app_vsock"], "Cmd": [f"dial:{APP_PORT}:0", "exit-after:1:0"],
                         "Env": ["PATH=/bin"]})
    script = f"""
set -euo pipefail
source "$TOP/tests/lib.sh"
source "$TOP/tools/image/testdata/image_helpers.sh"
source "$TOP/tests/tcg_lib.sh"
tcg_image bench '{config}' app_vsock
"""
    env = dict(os.environ, TOP=TOP, BUILD=BUILD, QT_VMM=QT, TEST_TMP=work)
    subprocess.run(["bash", "-c", script], env=env, check=True)
    return os.path.join(work, "bench.eif")


def eif_sections(path):
    """(kernel bytes, cmdline str, concatenated ramdisks) of an EIF (big-endian v4 layout)."""
    data = open(path, "rb").read()
    count = struct.unpack_from(">H", data, 0x1A)[0]
    offsets = struct.unpack_from(">32Q", data, 0x1C)
    kernel, cmdline, ramdisks = b"", "", []
    for i in range(count):
        kind, _flags, size = struct.unpack_from(">HHQ", data, offsets[i])
        body = data[offsets[i] + 12: offsets[i] + 12 + size]
        if kind == 1:
            kernel = body
        elif kind == 2:
            cmdline = body.rstrip(b"\0").decode()
        elif kind == 3:
            ramdisks.append(body)
    return kernel, cmdline, b"".join(ramdisks)


class Listener:
    """Accepts the app's one connection on a Unix socket (where the vsock device forwards the
    guest's dial); records the CLOCK_MONOTONIC of the accept and answers what app_vsock expects."""

    def __init__(self, sock):
        self.sock, self.when = sock, None
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(30)
            self.when = mono_ns()
            want, got = 16, b""  # 8-byte length (0), no payload, 8-byte XXH3
            while len(got) < want:
                chunk = conn.recv(want - len(got))
                if not chunk:
                    break
                got += chunk
            conn.sendall(struct.pack("<Q", XXH3_EMPTY))
            try:
                conn.recv(1)
            except OSError:
                pass

    def wait(self, timeout):
        self.thread.join(timeout)
        return self.when

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def unix_listener(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.listen(4)
    return s


def qt_round(eif, run_dir, env):
    # The enclave will be ID 0 (a private run directory, cleared by stop): listen where the VMM
    # forwards the guest's dial before the guest exists.
    listener = Listener(unix_listener(os.path.join(run_dir, f"0.vsock_{APP_PORT}")))
    t0 = mono_ns()
    out = subprocess.run([QT, "enclave", "start", "--eif", eif, "--cpus", "2", "--mem", "256", "--debug-mode",
                          "--heartbeat-timeout", "120"], env=env, capture_output=True, text=True, timeout=180)
    if out.returncode != 0:
        listener.close()
        raise RuntimeError("qt-vmm start failed: " + out.stderr.strip())
    info = json.loads(out.stdout)
    try:
        if info["EnclaveID"] != 0:
            raise RuntimeError(f"expected enclave ID 0, got {info['EnclaveID']}")
        app = listener.wait(120)
        hb = info["LaunchMonotonicNs"]["Heartbeat"]
        if not app or not hb:
            raise RuntimeError("qt-vmm: no heartbeat or no app connection")
        return (hb - t0) / 1e6, (app - t0) / 1e6, info["CPUIDs"]
    finally:
        listener.close()
        subprocess.run([QT, "enclave", "stop", "--enclave-id", str(info["EnclaveID"])], env=env,
                       capture_output=True, timeout=60)


def qemu_round(kernel, initrd, cmdline, cpus, work):
    vhost_sock = os.path.join(work, "vhost.sock")
    uds = os.path.join(work, "qemu.vsock")
    app = Listener(unix_listener(f"{uds}_{APP_PORT}"))
    backend = subprocess.Popen([QT, "--verbose", "vsock", "vhost-user", "--socket", vhost_sock, "--cid", str(QEMU_CID),
                                "--uds-path", uds], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    heartbeat = {"when": None}
    ready = threading.Event()

    def watch():
        for line in backend.stderr:
            if "waiting for QEMU" in line:
                ready.set()
            if "heartbeat from the guest" in line and heartbeat["when"] is None:
                heartbeat["when"] = mono_ns()
        ready.set()
    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    ready.wait(30)
    cmd = ["taskset", "-c", ",".join(str(c) for c in cpus),
           "qemu-system-x86_64", "-M", "microvm,x-option-roms=off,isa-serial=on,rtc=on,acpi=off",
           "-accel", "kvm", "-cpu", "host", "-smp", "2", "-m", "256",
           "-object", "memory-backend-memfd,id=mem,size=256M,share=on,hugetlb=on,hugetlbsize=2M",
           "-machine", "memory-backend=mem", "-global", "virtio-mmio.force-legacy=false",
           "-chardev", f"socket,id=c0,path={vhost_sock}", "-device", "vhost-user-vsock-device,chardev=c0",
           "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot", "-serial", "null", "-device", "i8042",
           "-kernel", kernel, "-initrd", initrd, "-append", cmdline]
    t0 = mono_ns()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        ap = app.wait(120)
        hb = heartbeat["when"]
        if not hb or not ap:
            proc.kill()
            raise RuntimeError("QEMU: no heartbeat or no app connection: " + proc.stderr.read().decode()[-500:])
        return (hb - t0) / 1e6, (ap - t0) / 1e6
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        if backend.poll() is None:
            backend.terminate()
        try:
            backend.wait(10)
        except subprocess.TimeoutExpired:
            backend.kill()
        app.close()


def load_average():
    with open("/proc/loadavg") as f:
        return [float(x) for x in f.read().split()[:3]]


def l1_description():
    with open("/proc/meminfo") as f:
        mem = next(int(line.split()[1]) // 1024 for line in f if line.startswith("MemTotal:"))
    with open("/sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages") as f:
        gig = int(f.read())
    return f"{os.cpu_count()} vCPUs, {mem} MiB, {gig} 1 GiB pages"


def scaling(args):
    """bench.py's scaling rows, here; its scaling.* figures to args.out."""
    out_dir = os.path.join(args.work, "scaling")
    env = dict(os.environ, BUILD=BUILD, BENCH_SECTIONS="launch", BENCH_SCALING_ONLY="1", RUNS=str(args.rounds),
               QUICK="", BENCH_OUT=out_dir, BENCH_MAX_MEM_MIB="8192")
    result = {"l1": l1_description(), "load_start": load_average()}
    p = subprocess.run([sys.executable, os.path.join(TOP, "tools", "bench", "bench.py")], env=env)
    try:
        with open(os.path.join(out_dir, "results.json")) as f:
            bench = json.load(f)
    except (OSError, ValueError) as e:
        raise SystemExit(f"nested-bench: bench.py exited {p.returncode} without results ({e})")
    if bench.get("errors"):
        raise SystemExit("nested-bench: bench.py's launch section failed: " + "; ".join(bench["errors"]))
    result["load_end"] = load_average()
    result["figures"] = [f for f in bench["figures"] if f["id"].startswith("scaling")]
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1, ensure_ascii=False)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--work", default="/tmp/nested-bench")
    ap.add_argument("--scaling", action="store_true", help="the scaling rows (1 GiB pages) instead of the heartbeat race")
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)
    if args.scaling:
        scaling(args)
        return
    run_dir = os.path.join(args.work, "run")
    os.makedirs(run_dir, exist_ok=True)
    env = dict(os.environ, QT_VMM_RUN_DIR=run_dir)
    subprocess.run([QT, "allocator", "--mem", "512", "--hugepage-size", "2M"], env=env, check=True,
                   capture_output=True)

    eif = build_eif(args.work)
    kernel_bytes, cmdline, initrd_bytes = eif_sections(eif)
    kernel, initrd = os.path.join(args.work, "bzImage"), os.path.join(args.work, "initrd.cpio")
    open(kernel, "wb").write(kernel_bytes)
    open(initrd, "wb").write(initrd_bytes)
    # qt-vmm appends its own virtio-mmio device and console options; QEMU's microvm adds the
    # virtio-mmio device itself: the rest is the EIF's command line as it is.
    cmdline = cmdline + " console=ttyS0"
    result = {"rounds": args.rounds, "vcpus": 2, "memory_mib": 256,
              "qt": {"heartbeat_ms": [], "app_ms": []}, "qemu": {"heartbeat_ms": [], "app_ms": []},
              "ratio": {"heartbeat": [], "app": []}}
    cpus = None
    for r in range(args.rounds):
        order = ["qt", "qemu"] if r % 2 == 0 else ["qemu", "qt"]
        got = {}
        for side in order:
            if side == "qt":
                hb, app, cpus = qt_round(eif, run_dir, env)
            else:
                hb, app = qemu_round(kernel, initrd, cmdline, cpus or [1, 2], args.work)
            got[side] = (hb, app)
            result[side]["heartbeat_ms"].append(round(hb, 2))
            result[side]["app_ms"].append(round(app, 2))
        result["ratio"]["heartbeat"].append(round(got["qt"][0] / got["qemu"][0], 4))
        result["ratio"]["app"].append(round(got["qt"][1] / got["qemu"][1], 4))
        log(f"round {r + 1}/{args.rounds}: qt-vmm heartbeat {got['qt'][0]:.0f} ms app {got['qt'][1]:.0f} ms; "
            f"QEMU heartbeat {got['qemu'][0]:.0f} ms app {got['qemu'][1]:.0f} ms")
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
