#!/usr/bin/env python3
"""tools/bench/bench.py — `make bench`: qt-vmm's benchmarks, written to results.md (for people)
and results.json (for scripts) in $BENCH_OUT (default bench/).

Every figure is the median of RUNS runs (default 10) with min and max. Every comparison is a ratio
taken inside one round, with the two sides in alternating order from round to round (the
machines are noisy); a ratio's median is the median of the per-round ratios.

On the project's hosts KVM is nested and emulates guest kernel code, so guest-side time is not a
property of qt-vmm: the launch figures stop at the guest's *first instruction* (the probe guest's
first `out 0x80`), the memory figure excludes guest RAM, the vsock figure is the device's own CPU
time in process; the real kernel's boot is reported separately and labelled host-limited.

Sections: vsock device cost, image build, launch + VMM memory + scaling (need root and /dev/kvm),
vsock connections, real-kernel boot, and the whole enclave on a KVM with guest user mode inside
the nested L1 (tests/nested/l1.sh; tools/bench/nested_bench.py: EIF start → heartbeat and → the
app's first output, qt-vmm ÷ QEMU -accel kvm, ratios only). What cannot be measured on this host
or this revision is reported as "not available" with the reason, never as a number.

Environment: BUILD (required: the build directory), QUICK=1 (one run each, small sizes, no
real-kernel boot: a smoke test), RUNS (default 10), BENCH_OUT (output directory),
REAL_KERNEL=0 (skip the real kernel's boot; it takes minutes per run here), REAL_KERNEL_RUNS
(default 3), BENCH_MAX_MEM_MIB (largest guest for the scaling rows, default 8192; 2048 in QUICK),
BENCH_SECTIONS (comma list to run a subset: vsock,image,launch,connections,kernel,nested,
nested-scaling), BENCH_PREZERO=0 (skip the scaling rows from a pre-zeroed pool, `allocator
--prezero`; with them, the issue's two scaling ratios are those of pool launches, the fresh-page
ones stay as scaling.fresh.ratio.*), BENCH_NESTED_SCALING_RUNS (rounds of the nested-scaling
section, default RUNS: each costs minutes in the L1), BENCH_SCALING_ONLY=1 (the launch section runs only the
1-vCPU scaling rows the issue's ratios need, no QEMU: what nested_bench.py --scaling runs in L1).

The nested-scaling section boots the L1 with 8 GiB of 1 GiB pages reserved on its command line
(this host has none to spare) and runs the scaling rows there (nested_bench.py --scaling); where
this host could not measure a scaling.ratio.*, the L1's figure takes its place, marked as such.
"""

import datetime
import json
import os
import platform
import re
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("BUILD") or sys.exit("bench: BUILD must name the build directory")
BUILD = os.path.abspath(BUILD)
QUICK = os.environ.get("QUICK", "") == "1"
RUNS = 1 if QUICK else max(1, int(os.environ.get("RUNS", "10")))
OUT = os.path.abspath(os.environ.get("BENCH_OUT") or os.path.join(TOP, "bench"))
REAL_KERNEL = not QUICK and os.environ.get("REAL_KERNEL", "1") != "0"
REAL_KERNEL_RUNS = max(1, int(os.environ.get("REAL_KERNEL_RUNS", "3")))
MAX_MEM_MIB = int(os.environ.get("BENCH_MAX_MEM_MIB", "2048" if QUICK else "8192"))
SECTIONS = set(filter(None, os.environ.get("BENCH_SECTIONS", "vsock,image,launch,connections,kernel,nested,nested-scaling").split(",")))
SCALING_ONLY = os.environ.get("BENCH_SCALING_ONLY", "") == "1"
NESTED_SCALING_RUNS = max(1, int(os.environ.get("BENCH_NESTED_SCALING_RUNS", str(RUNS))))

QT_VMM = os.path.join(BUILD, "bin", "qt-vmm")
BENCH_EXEC = os.path.join(BUILD, "bin", "bench_exec")
VSOCK_BENCH = os.path.join(BUILD, "bin", "vsock_bench")
EIF_TESTDATA = os.path.join(BUILD, "bin", "eif-testdata")
PROBE = os.path.join(BUILD, "guest", "probe.bzImage")
KERNEL = os.path.join(BUILD, "kernel", "bzImage")
if not os.path.exists(KERNEL) and os.path.exists(os.environ.get("KERNEL", "")):
    KERNEL = os.environ["KERNEL"]  # the test runner's cached kernel
KERNEL_PROBE = os.path.join(BUILD, "guest", "kernel_probe")
HUGEPAGES = "/sys/kernel/mm/hugepages"
ECHO_PORT = 5000  # the vsock-echo probe listens on probe.port


def log(*args):
    print("bench:", *args, flush=True)


class BenchError(Exception):
    pass


# --- results ------------------------------------------------------------------------------------

class Results:
    """Figures (with samples), goals and the "not available" list, in the order they were added."""

    def __init__(self):
        self.figures = []  # dicts; "samples" kept until written
        self.by_id = {}
        self.goals = []

    def _add(self, fig):
        if fig["id"] in self.by_id:
            self.figures.remove(self.by_id[fig["id"]])
        self.figures.append(fig)
        self.by_id[fig["id"]] = fig
        return fig

    def samples(self, id, section, label, unit, values, note=None, kind="value"):
        values = [v for v in values if v is not None]
        if not values:
            return self.unavailable(id, section, label, unit, note or "no sample was taken")
        fig = {"id": id, "section": section, "label": label, "unit": unit, "kind": kind, "status": "ok",
               "n": len(values), "median": statistics.median(values), "min": min(values), "max": max(values),
               "samples": values}
        if note:
            fig["note"] = note
        return self._add(fig)

    def ratio(self, id, section, label, a, b, note=None):
        """Per-round ratios a[i] / b[i] of two sample lists taken in the same rounds."""
        pairs = [(x / y) for x, y in zip(a, b) if x is not None and y]
        return self.samples(id, section, label, "ratio", pairs, note, kind="ratio")

    def unavailable(self, id, section, label, unit, reason):
        return self._add({"id": id, "section": section, "label": label, "unit": unit, "status": "not available",
                          "reason": reason})

    def median(self, id):
        f = self.by_id.get(id)
        return f["median"] if f and f["status"] == "ok" else None

    def goal(self, label, target, figure_id, op, bound, note=None):
        value = self.median(figure_id)
        met = None if value is None else (value <= bound if op == "<=" else value >= bound)
        fig = self.by_id.get(figure_id)
        self.goals.append({"goal": label, "target": target, "figure": figure_id, "value": value,
                           "unit": fig["unit"] if fig else "", "met": met,
                           "note": note or (fig.get("reason") if fig and fig["status"] != "ok" else None)})


R = Results()


# --- processes ----------------------------------------------------------------------------------

def run(cmd, check=True, env=None, timeout=600, **kw):
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout, **kw)
    if check and p.returncode != 0:
        raise BenchError(f"{' '.join(cmd[:4])}... exited {p.returncode}: {p.stderr.strip()[-400:]}")
    return p


class Timed:
    """A command under bench_exec: t0 (CLOCK_MONOTONIC right before execve), optional first-byte
    time, exit time and CPU. Events arrive as JSON lines; the child may be left running while the
    caller measures it, then killed."""

    def __init__(self, cmd, env=None, wait_byte=None, child_stdout=None, timeout=120, stderr_path=None):
        args = [BENCH_EXEC, "--timeout", str(timeout)]
        if wait_byte is not None:
            args += ["--wait-byte", hex(wait_byte)]
        if child_stdout:
            args += ["--child-stdout", child_stdout]
        self.stderr_path = stderr_path or os.path.join(WORK, "timed.err")
        self.err = open(self.stderr_path, "w")
        self.proc = subprocess.Popen(args + ["--"] + cmd, stdout=subprocess.PIPE, stderr=self.err, text=True, env=env)
        self.events = {}
        started = self.next_event()
        if started.get("event") != "started":
            self.finish()
            raise BenchError(f"cannot run {cmd[0]}: {self.stderr()}")
        self.pid = started["pid"]
        self.t0 = started["t0_ns"]

    def next_event(self):
        line = self.proc.stdout.readline()
        if not line:
            return {}
        e = json.loads(line)
        self.events[e["event"]] = e
        return e

    def wait_event(self, name):
        while name not in self.events:
            if not self.next_event():
                return None
        return self.events[name]

    def kill(self):
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def finish(self):
        self.wait_event("exit")
        self.proc.wait()
        self.err.close()
        return self.events.get("exit")

    def stderr(self):
        try:
            with open(self.stderr_path) as f:
                return f.read().strip()[-600:]
        except OSError:
            return ""


def now_ns():
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC)


# --- host ---------------------------------------------------------------------------------------

def host_info():
    def read(path, default=""):
        try:
            with open(path) as f:
                return f.read()
        except OSError:
            return default
    cpu = re.search(r"^model name\s*:\s*(.*)$", read("/proc/cpuinfo"), re.M)
    mem = re.search(r"^MemTotal:\s*(\d+)", read("/proc/meminfo"), re.M)
    os_release = dict(re.findall(r'^(\w+)="?([^"\n]*)"?$', read("/etc/os-release"), re.M))
    git = lambda *a: run(["git", "-C", TOP] + list(a), check=False).stdout.strip()
    qemu = shutil.which("qemu-system-x86_64")
    info = {
        "hostname": platform.node(),
        "cpu": cpu.group(1) if cpu else "?",
        "cpus": os.cpu_count(),
        "memory_gib": round(int(mem.group(1)) / 1048576, 1) if mem else None,
        "kernel": platform.release(),
        "kernel_version": platform.version(),
        "os": os_release.get("PRETTY_NAME", "?"),
        "kvm": os.path.exists("/dev/kvm"),
        "cpu_flags_vmx_or_svm": bool(re.search(r"\b(vmx|svm)\b", read("/proc/cpuinfo"))),
        "qemu": run([qemu, "--version"], check=False).stdout.splitlines()[0] if qemu else None,
        "git_revision": git("rev-parse", "HEAD"),
        "git_describe": git("describe", "--always", "--dirty"),
        "git_subject": git("log", "-1", "--format=%s"),
    }
    info["nested_kvm"] = info["kvm"] and not info["cpu_flags_vmx_or_svm"]
    return info


def load_average():
    return [round(x, 2) for x in os.getloadavg()]


# --- hugepages ----------------------------------------------------------------------------------

POOL_FILES = {"2M": f"{HUGEPAGES}/hugepages-2048kB", "1G": f"{HUGEPAGES}/hugepages-1048576kB"}
ORIGINAL_POOLS = {}


def pool_free(size):
    d = POOL_FILES[size]
    try:
        return int(open(f"{d}/free_hugepages").read()) - int(open(f"{d}/resv_hugepages").read())
    except OSError:
        return 0


def reserve(size, mib):
    """Makes `mib` MiB of `size` pages free (through qt-vmm allocator); False if the host cannot."""
    d = POOL_FILES[size]
    if not os.path.exists(d):
        return False
    ORIGINAL_POOLS.setdefault(size, open(f"{d}/nr_hugepages").read().strip())
    p = run([QT_VMM, "allocator", "--mem", str(mib), "--hugepage-size", size], check=False)
    return p.returncode == 0


def restore_pools():
    for size, n in ORIGINAL_POOLS.items():
        try:
            with open(f"{POOL_FILES[size]}/nr_hugepages", "w") as f:
                f.write(n)
        except OSError:
            pass


# --- memory of a process ------------------------------------------------------------------------

def process_memory(pid):
    """RSS of every mapping that is not guest RAM (guest RAM = the hugetlb mappings), in KiB, and
    the same split by kind. Private = Private_Clean + Private_Dirty (not shared with any process).
    File-backed = mappings of files (the binary, shared libraries: what static linking and a lean
    binary change); anonymous = the rest (heap, thread stacks, malloc arenas, kvm_run, [vdso]: what
    the daemon allocates or inherits from the CLI it was forked from)."""
    exe = os.path.realpath(f"/proc/{pid}/exe").replace(" (deleted)", "")
    kinds = {}
    total = private = guest = file_backed = 0
    current = None

    def close():
        nonlocal total, private, guest, file_backed
        if current is None:
            return
        if current["kps"] > 4:
            guest += current["rss"] + current["hugetlb"]
            return
        total += current["rss"]
        private += current["private"]
        if current["file"]:
            file_backed += current["rss"]
        kinds[current["kind"]] = kinds.get(current["kind"], 0) + current["rss"]

    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            m = re.match(r"^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$", line)
            if m:
                close()
                name = m.group(1).replace(" (deleted)", "")
                if name == exe:
                    kind = "binary"
                elif re.search(r"\.so(\.[0-9.]+)?$", name):
                    kind = "shared libraries"
                elif name in ("[heap]",):
                    kind = "heap"
                elif name == "[stack]" or name == "":
                    kind = "anonymous (thread stacks, malloc arenas, buffers)"
                elif name.startswith("anon_inode:kvm") or name.startswith("anon_inode:[kvm"):
                    kind = "KVM (kvm_run pages)"
                elif name.startswith("["):
                    kind = "kernel-provided ([vdso], [vvar], ...)"
                else:
                    kind = "other files (" + name.split("/")[-1] + ")"
                current = {"kind": kind, "rss": 0, "private": 0, "kps": 4, "hugetlb": 0, "file": name.startswith("/")}
                continue
            key, _, rest = line.partition(":")
            if current is None:
                continue
            value = rest.split()
            if not value or not value[0].isdigit():
                continue
            v = int(value[0])
            if key == "Rss":
                current["rss"] = v
            elif key in ("Private_Clean", "Private_Dirty"):
                current["private"] += v
            elif key == "KernelPageSize":
                current["kps"] = v
            elif key in ("Private_Hugetlb", "Shared_Hugetlb"):
                current["hugetlb"] += v
    close()
    threads = len(os.listdir(f"/proc/{pid}/task"))
    return {"rss_kib": total, "private_kib": private, "guest_kib": guest, "threads": threads, "kinds": kinds,
            "file_kib": file_backed, "anon_kib": total - file_backed}


# --- qt-vmm enclaves ----------------------------------------------------------------------------

POOL_DIR = None  # set while the pre-zeroed pool rows run (section_launch); else starts get fresh pages


def qt_env():
    env = dict(os.environ)
    env["QT_VMM_RUN_DIR"] = RUN_DIR
    # Fresh pages unless a pool row runs: a host's own pool (/run/qt-vmm-hugepages) never mixes in.
    env["QT_VMM_POOL_DIR"] = POOL_DIR or os.path.join(WORK, "no-pool")
    return env


def make_probe_eif(path, cmdline):
    ramdisk = os.path.join(WORK, "probe-ramdisk.bin")
    if not os.path.exists(ramdisk):
        with open(ramdisk, "wb") as f:
            f.write(os.urandom(65536))
    run([EIF_TESTDATA, path, PROBE, cmdline, ramdisk])
    return path


def query(eid):
    p = run([QT_VMM, "enclave", "query", "--enclave-id", str(eid)], check=False, env=qt_env())
    try:
        arr = json.loads(p.stdout)
    except ValueError:
        return None
    return arr[0] if arr else None


def stop(eid):
    run([QT_VMM, "enclave", "stop", "--enclave-id", str(eid)], check=False, env=qt_env())


def stop_all():
    if not os.path.isdir(RUN_DIR):
        return
    for name in os.listdir(RUN_DIR):
        if name.endswith(".sock"):
            stop(name[:-5])


def qt_launch(eif, mem, cpus, page=None, debug=False, first_io=True, heartbeat=False, accel=None, measure=True,
              keep=False):
    """Starts an enclave under bench_exec; returns what was measured. With keep=True the enclave is
    left running and its EnclaveID is in the result (the caller stops it)."""
    cmd = [QT_VMM, "enclave", "start", "--eif", eif, "--cpus", str(cpus), "--mem", str(mem)]
    if page:
        cmd += ["--hugepage-size", page]
    # QingTian's rules (an even count, node CPUs − 2, the parent keeps 2 CPUs) leave no room for
    # an enclave on a 2-CPU host; the opt-out still takes free cores first.
    cmd += ["--allow-shared-cpus"]
    if debug:
        cmd += ["--debug-mode"]
    if accel:
        cmd += ["--accel", accel]
    if FEATURES["heartbeat_timeout"]:
        cmd += ["--heartbeat-timeout", "0" if not heartbeat else "30"]
    out_path = os.path.join(WORK, "start.json")
    for attempt in range(2):
        t = Timed(cmd, env=qt_env(), child_stdout=out_path, timeout=120)
        ex = t.finish()
        if ex and ex["status"] == 0:
            break
        err = t.stderr()
        if attempt == 0 and "HUGEPAGES_SHORT" in err:  # someone shrank the pool meanwhile
            reserve(page or "2M", mem)
            continue
        raise BenchError(f"enclave start --mem {mem} --cpus {cpus}: {err}")
    info = json.load(open(out_path))
    eid = info["EnclaveID"]
    res = {"id": eid, "pid": info.get("ProcessID"), "t0": t.t0, "start_returned_ms": ex["elapsed_ns"] / 1e6,
           "start_cpu_ms": (ex["user_s"] + ex["sys_s"]) * 1e3, "timings_ms": info.get("LaunchTimingsMs") or {},
           "info": info}
    try:
        lm = info.get("LaunchMonotonicNs")
        want = "Heartbeat" if heartbeat else "FirstGuestIo"
        if lm is not None and (first_io or heartbeat):
            deadline = time.time() + (30 if heartbeat else 10)
            while not lm.get(want) and time.time() < deadline:
                time.sleep(0.02)
                q = query(eid)
                if not q:
                    break
                lm = q.get("LaunchMonotonicNs") or lm
            res["monotonic"] = lm
            if lm.get("FirstGuestIo"):
                res["first_io_ms"] = (lm["FirstGuestIo"] - t.t0) / 1e6
            if lm.get("Heartbeat"):
                res["heartbeat_ms"] = (lm["Heartbeat"] - t.t0) / 1e6
        if measure and res["pid"]:
            time.sleep(0.3)  # the guest reaches its idle loop; the daemon settles
            res["memory"] = process_memory(res["pid"])
    finally:
        if not keep:
            stop(eid)
    return res


def breakdown(res):
    """The launch split into consecutive steps (ms), from LaunchMonotonicNs and LaunchTimingsMs."""
    steps = {}
    lm = res.get("monotonic") or {}
    if lm.get("DaemonStarted"):
        steps["cli"] = (lm["DaemonStarted"] - res["t0"]) / 1e6
    for k, v in res["timings_ms"].items():
        steps["daemon." + k] = v
    if lm.get("DaemonStarted") and lm.get("FirstGuestIo"):
        # VcpusStarted is read after the vCPU threads were launched, often after the guest's
        # first write already happened, so the rest is one step up to FirstGuestIo.
        inside = (lm["FirstGuestIo"] - lm["DaemonStarted"]) / 1e6
        steps["rest"] = inside - sum(res["timings_ms"].values())
    return steps


STEP_LABELS = {
    "cli": "exec of `qt-vmm enclave start` → daemon started (process start, EIF read and measured (CRC, PCRs), host and placement checks, attestation leaf (on a thread), fork)",
    "daemon.Memory": "guest memory reserved and mapped (hugetlb, NUMA-bound)",
    "daemon.VM": "KVM VM, guest memory registered (before the irqchip: after it, 5-7 ms here), irqchip, devices",
    "daemon.Load": "kernel, initrd and boot structures loaded into guest RAM",
    "daemon.VCPUs": "vCPUs created and configured",
    "rest": "the rest until the guest's first I/O exit (control socket, vsock device, heartbeat timer, vCPU threads, KVM entry, first instruction)",
}


# --- QEMU ---------------------------------------------------------------------------------------

def qemu_launch(mem=128, measure=True):
    """QEMU microvm under KVM with the same probe bzImage (QEMU's -kernel path: qboot, then the
    probe's 16-bit entry, whose first instruction is the same `out 0x80`); isa-debugcon on port
    0x80 forwards that byte to bench_exec. Guest RAM is hugetlb memfd, like qt-vmm's."""
    cmd = ["qemu-system-x86_64", "-M", "microvm,x-option-roms=off,isa-serial=on,rtc=on,acpi=off", "-accel", "kvm",
           "-m", f"{mem}M", "-smp", "1", "-nodefaults", "-no-user-config", "-display", "none", "-serial", "null",
           "-no-reboot",
           "-object", f"memory-backend-memfd,id=ram,size={mem}M,hugetlb=on,hugetlbsize=2M",
           "-machine", "memory-backend=ram",
           "-chardev", "stdio,id=post", "-device", "isa-debugcon,iobase=0x80,chardev=post",
           "-kernel", PROBE, "-append", "probe.mode=hlt"]
    t = Timed(cmd, wait_byte=0x42, timeout=60, stderr_path=os.path.join(WORK, "qemu.err"))
    try:
        byte = t.wait_event("byte")
        if not byte:
            raise BenchError(f"QEMU ended before the guest's first port write: {t.stderr()}")
        res = {"first_io_ms": byte["elapsed_ns"] / 1e6}
        if measure:
            time.sleep(0.3)
            res["memory"] = process_memory(t.pid)
        return res
    finally:
        t.kill()
        t.finish()


# --- sections -----------------------------------------------------------------------------------

def section_vsock():
    log("vsock device cost (in process, synthetic guest driver)")
    js = os.path.join(WORK, "vsock.json")
    mib = 16 if QUICK else 256
    p = run([VSOCK_BENCH, "--runs", str(RUNS), "--mib", str(mib), "--rtt-rounds", "200" if QUICK else "2000",
             "--json", js], timeout=1800)
    print(p.stdout, end="")
    s = json.load(open(js))["samples"]
    gb = lambda key: [v / 1e9 for v in s[key]]
    sec = "vsock"
    R.samples("vsock.g2h_per_cpu", sec, "guest → parent, GB per VMM (device loop) CPU-second", "GB/core-s",
              gb("device_g2h_bytes_per_cpu_s"))
    R.samples("vsock.h2g_per_cpu", sec, "parent → guest, GB per VMM (device loop) CPU-second", "GB/core-s",
              gb("device_h2g_bytes_per_cpu_s"))
    R.samples("vsock.g2h_wall", sec, "guest → parent, wall throughput (3 threads on 2 cores)", "GB/s",
              gb("device_g2h_bytes_per_wall_s"))
    R.samples("vsock.h2g_wall", sec, "parent → guest, wall throughput", "GB/s", gb("device_h2g_bytes_per_wall_s"))
    R.samples("vsock.socketpair_writer", sec, "Unix socketpair, GB per writer CPU-second", "GB/core-s",
              gb("socketpair_writer_bytes_per_cpu_s"))
    R.samples("vsock.socketpair_reader", sec, "Unix socketpair, GB per reader CPU-second", "GB/core-s",
              gb("socketpair_reader_bytes_per_cpu_s"))
    R.samples("vsock.socketpair_both", sec, "Unix socketpair, GB per CPU-second (writer + reader)", "GB/core-s",
              gb("socketpair_both_bytes_per_cpu_s"))
    R.samples("vsock.ratio_g2h", sec, "device g→p ÷ socketpair writer (per CPU-second)", "ratio",
              s["ratio_g2h_vs_socketpair_writer"], kind="ratio")
    R.samples("vsock.ratio_h2g", sec, "device p→g ÷ socketpair reader (per CPU-second)", "ratio",
              s["ratio_h2g_vs_socketpair_reader"], kind="ratio")
    # A diagnostic beside the goal: the reader doing what the device must (scattered reads into a
    # guest-like ring another thread reads back); what is left between the two is the device's own.
    R.samples("vsock.scatter_reader", sec, "Unix socketpair, GB per reader CPU-second, readv into 3,776-byte slots a guest thread reads back",
              "GB/core-s", gb("scatter_reader_bytes_per_cpu_s"))
    R.samples("vsock.ratio_h2g_vs_scatter", sec, "device p→g ÷ that scattering reader (per CPU-second; diagnostic)", "ratio",
              s["ratio_h2g_vs_scatter_reader"], kind="ratio")
    # The ceiling of vsock.ratio_h2g for any device that copies the parent's bytes into guest
    # buffers: that copy alone (the scattering reader), with no ring, event loop or interrupt.
    R.samples("vsock.ratio_h2g_ceiling", sec, "that scattering reader ÷ socketpair reader: the most any copying device can reach",
              "ratio", s["ratio_scatter_vs_socketpair_reader"], kind="ratio")
    R.samples("vsock.rtt_device", sec, "1-byte round trip guest → parent → guest through the device", "µs",
              s["device_rtt_us"])
    R.samples("vsock.rtt_socketpair", sec, "1-byte round trip over a socketpair", "µs", s["socketpair_rtt_us"])
    R.samples("vsock.ratio_rtt", sec, "round trip: device ÷ socketpair", "ratio", s["ratio_rtt_device_vs_socketpair"],
              kind="ratio")


def section_image():
    log("image build (make-img vs sha384sum over the same layer bytes)")
    sec = "image"
    d = os.path.join(WORK, "image")
    os.makedirs(d, exist_ok=True)
    big, small_files = (15, 200) if QUICK else (150, 2000)
    # One uncompressed tar layer holding one big random file and many 25 KiB ones (200 MiB;
    # 20 MiB in QUICK mode). `BENCH_SECTIONS=image make bench` runs this section alone.
    script = f"""
set -euo pipefail
source "{TOP}/tools/image/testdata/image_helpers.sh"
w="{d}"
mkdir -p "$w/root/data" "$w/root/small"
head -c {big}M /dev/urandom > "$w/root/data/big.bin"
for i in $(seq 1 {small_files}); do head -c 25600 /dev/urandom > "$w/root/small/f$i"; done
layer_tar "$w/layer.tar" "$w/root" .
rm -rf "$w/root"
oci_image "$w/layout" "$(image_config '{{"Cmd":["/data/big.bin"]}}' "$w/layer.tar")" latest tar:"$w/layer.tar" >/dev/null
"""
    run(["bash", "-c", script], timeout=900)
    layer = os.path.join(d, "layer.tar")
    size = os.path.getsize(layer)
    eif = os.path.join(d, "out.eif")
    subprocess.run(["cat", layer], stdout=subprocess.DEVNULL, check=False)  # warm the page cache for both
    img_s, sha_s, img_cpu, eif_sizes = [], [], [], []
    for r in range(RUNS):
        def sha():
            ex = Timed(["sha384sum", layer]).finish()
            sha_s.append(ex["elapsed_ns"] / 1e9)

        def img():
            ex = Timed([QT_VMM, "--only-show-errors", "enclave", "make-img", "--docker-uri", f"oci:{d}/layout", "--eif",
                        eif, "--kernel", KERNEL], timeout=600).finish()
            if ex["status"] != 0:
                raise BenchError("make-img failed: " + open(os.path.join(WORK, "timed.err")).read()[-400:])
            img_s.append(ex["elapsed_ns"] / 1e9)
            img_cpu.append(ex["user_s"] + ex["sys_s"])
            eif_sizes.append(os.path.getsize(eif))
            os.unlink(eif)
        for f in ((sha, img) if r % 2 == 0 else (img, sha)):
            f()
    mib = size / 1048576
    R.samples("image.make_img_s", sec, f"make-img of a {mib:.0f} MiB single-layer OCI image", "s", img_s)
    R.samples("image.make_img_mibs", sec, "make-img throughput (layer bytes)", "MiB/s", [mib / s for s in img_s])
    R.samples("image.make_img_cpu_s", sec, "make-img CPU time (user + system)", "s", img_cpu)
    R.samples("image.sha384sum_s", sec, "sha384sum over the same layer", "s", sha_s)
    R.ratio("image.ratio", sec, "sha384sum time ÷ make-img time (same round)", sha_s, img_s)
    R.samples("image.eif_vs_layer", sec, "EIF size ÷ image (layer) size", "ratio",
              [e / size for e in eif_sizes], kind="ratio",
              note=f"layer {size} bytes; EIF {eif_sizes[0] if eif_sizes else '?'} bytes (kernel {os.path.getsize(KERNEL)} bytes included)")


# The daemon's LaunchTimingsMs steps, each a scaling.<step>_ms.<key> row (where a big launch goes).
LAUNCH_STEPS = ("Memory", "VM", "Load", "VCPUs")
# BENCH_SCALING_ONLY=1: the rows of the scaling ratios, no more (in the L1 each costs seconds).
SCALING_ONLY_KEYS = ("128M-2M-1", "1G-1G-1", "4G-1G-1", "8G-1G-1")
SCALING = [
    # key, MiB, page size, vCPUs
    ("128M-2M-1", 128, "2M", 1),
    ("512M-2M-1", 512, "2M", 1),
    ("1G-1G-1", 1024, "1G", 1),
    ("2G-1G-1", 2048, "1G", 1),
    ("4G-1G-1", 4096, "1G", 1),
    ("8G-1G-1", 8192, "1G", 1),
    ("128M-2M-2", 128, "2M", 2),
]


def section_launch():
    sec = "launch"
    log("launch, VMM memory and scaling (probe guest; qt-vmm and QEMU alternating)")
    hlt = make_probe_eif(os.path.join(WORK, "hlt.eif"), "probe.mode=hlt")
    # Pools: 2 MiB pages for the 512 MiB row and QEMU's 128 MiB; 1 GiB pages for the big rows.
    want_2m = 256 if SCALING_ONLY else 1024
    if not reserve("2M", want_2m):
        raise BenchError(f"could not reserve {want_2m} MiB of 2 MiB hugepages: " + run(
            [QT_VMM, "allocator", "--mem", str(want_2m), "--hugepage-size", "2M"], check=False).stderr.strip())
    configs, missing = [], {}
    biggest_1g = max([m for _, m, p, _ in SCALING if p == "1G" and m <= MAX_MEM_MIB] or [0])
    got_1g = 0
    if biggest_1g:
        want = biggest_1g
        while want >= 1024 and not reserve("1G", want):
            want -= 1024
        got_1g = want if want >= 1024 else 0
    for key, mem, page, cpus in SCALING:
        if SCALING_ONLY and key not in SCALING_ONLY_KEYS:
            missing[key] = "not in the BENCH_SCALING_ONLY rows"
        elif mem > MAX_MEM_MIB:
            missing[key] = f"above BENCH_MAX_MEM_MIB={MAX_MEM_MIB}"
        elif page == "1G" and mem > got_1g:
            missing[key] = (f"the host could not reserve {mem // 1024} 1 GiB pages now (granted {got_1g // 1024}); "
                            "1 GiB pages need contiguous free memory")
        else:
            configs.append((key, mem, page, cpus))
    qemu_ok = not SCALING_ONLY and shutil.which("qemu-system-x86_64") is not None
    heartbeat_eif = None
    if not SCALING_ONLY and FEATURES["probe_heartbeat"] and FEATURES["monotonic"]:
        heartbeat_eif = make_probe_eif(os.path.join(WORK, "heartbeat.eif"), "probe.mode=vsock-heartbeat")

    # Warm-up (discarded): page cache, the run directory's host-quirks cache, QEMU's binary.
    qt_launch(hlt, 128, 1, "2M")
    if qemu_ok:
        qemu_launch()

    samples = {k: [] for k, *_ in configs}
    qemu, heartbeat, noop = [], [], []
    for r in range(RUNS):
        # The baseline pair alternates qt-vmm/QEMU; the scaling rows rotate so no size always
        # comes first or last in a round.
        steps = [("qt", configs[0])] + ([("qemu", None)] if qemu_ok else [])
        if r % 2:
            steps.reverse()
        rest = configs[1:]
        k = r % len(rest) if rest else 0
        steps += [("qt", c) for c in rest[k:] + rest[:k]]
        if not SCALING_ONLY:
            steps.append(("noop", None))
        if heartbeat_eif:
            steps.append(("heartbeat", None))
        for what, c in steps:
            if what == "qemu":
                qemu.append(qemu_launch())
            elif what == "noop":
                ex = Timed([QT_VMM, "--version"]).finish()
                noop.append(ex["elapsed_ns"] / 1e6)
            elif what == "heartbeat":
                heartbeat.append(qt_launch(heartbeat_eif, 128, 1, "2M", first_io=False, heartbeat=True, measure=False))
            else:
                key, mem, page, cpus = c
                samples[key].append(qt_launch(hlt, mem, cpus, page))
        log(f"  round {r + 1}/{RUNS} done")

    base = samples[configs[0][0]]
    have_first_io = FEATURES["monotonic"]
    no_mono = "the daemon does not report LaunchMonotonicNs yet (the lead engineer's change); " \
              "only the time until `start` returned is measured"
    # 1. Launch.
    if have_first_io:
        R.samples("launch.qt_first_io", sec, "qt-vmm: `enclave start` exec → guest's first instruction (128 MiB, 2 MiB pages, 1 vCPU)",
                  "ms", [s.get("first_io_ms") for s in base])
    else:
        R.unavailable("launch.qt_first_io", sec, "qt-vmm: `enclave start` exec → guest's first instruction", "ms", no_mono)
    R.samples("launch.qt_start_returned", sec, "qt-vmm: `enclave start` exec → command returned (daemon running the guest)",
              "ms", [s["start_returned_ms"] for s in base])
    R.samples("launch.qt_start_cpu", sec, "qt-vmm: CPU time of the `enclave start` process (without the daemon)", "ms",
              [s["start_cpu_ms"] for s in base])
    if qemu_ok:
        R.samples("launch.qemu_first_io", sec, "QEMU microvm -accel kvm: exec → guest's first instruction (qboot, -kernel, 128 MiB)",
                  "ms", [q["first_io_ms"] for q in qemu])
        if have_first_io:
            R.ratio("launch.ratio_qt_qemu", sec, "qt-vmm ÷ QEMU, exec → first instruction (same round)",
                    [s.get("first_io_ms") for s in base], [q["first_io_ms"] for q in qemu])
        else:
            R.unavailable("launch.ratio_qt_qemu", sec, "qt-vmm ÷ QEMU, exec → first instruction", "ratio", no_mono)
    else:
        R.unavailable("launch.qemu_first_io", sec, "QEMU microvm: exec → first instruction", "ms", "qemu-system-x86_64 not installed")
        R.unavailable("launch.ratio_qt_qemu", sec, "qt-vmm ÷ QEMU", "ratio", "qemu-system-x86_64 not installed")
    steps_seen = []
    for s in base:
        for k in breakdown(s):
            if k not in steps_seen:
                steps_seen.append(k)
    for k in steps_seen:
        R.samples("launch.step." + k, "launch-breakdown", STEP_LABELS.get(k, k), "ms", [breakdown(s).get(k) for s in base])
    R.samples("launch.noop_exec", "launch-breakdown",
              "for scale: exec → exit of a no-op `qt-vmm --version` (process start, dynamic linking; part of the first step)",
              "ms", noop)
    if heartbeat_eif:
        R.samples("launch.qt_heartbeat", sec, "qt-vmm: `enclave start` exec → heartbeat (probe.mode=vsock-heartbeat, 128 MiB)", "ms",
                  [h.get("heartbeat_ms") for h in heartbeat])
    else:
        why = []
        if not FEATURES["probe_heartbeat"]:
            why.append("the probe guest has no probe.mode=vsock-heartbeat yet")
        if not FEATURES["monotonic"]:
            why.append("the daemon does not report LaunchMonotonicNs yet")
        R.unavailable("launch.qt_heartbeat", sec, "qt-vmm: `enclave start` exec → heartbeat", "ms", "; ".join(why))

    # 2. VMM memory (idle, production mode, probe in its halt loop).
    msec = "memory"
    mib = lambda kib: kib / 1024
    R.samples("memory.qt_idle_rss", msec, "qt-vmm daemon: RSS of every non-guest-RAM mapping, idle (128 MiB, 1 vCPU)", "MiB",
              [mib(s["memory"]["rss_kib"]) for s in base])
    R.samples("memory.qt_idle_private", msec, "qt-vmm daemon: of which private (not shared with other processes)", "MiB",
              [mib(s["memory"]["private_kib"]) for s in base])
    R.samples("memory.qt_idle_file_backed", msec, "qt-vmm daemon: of which file-backed (binary, shared libraries)", "MiB",
              [mib(s["memory"]["file_kib"]) for s in base])
    R.samples("memory.qt_idle_anonymous", msec, "qt-vmm daemon: of which anonymous (heap, stacks, arenas, kvm_run)", "MiB",
              [mib(s["memory"]["anon_kib"]) for s in base])
    kinds = sorted({k for s in base for k in s["memory"]["kinds"]})
    for k in kinds:
        R.samples("memory.qt_kind." + re.sub(r"\W+", "_", k).strip("_"), "memory-breakdown", k, "MiB",
                  [mib(s["memory"]["kinds"].get(k, 0)) for s in base])
    R.samples("memory.qt_threads", msec, "qt-vmm daemon: threads", "threads", [s["memory"]["threads"] for s in base])
    if qemu_ok:
        R.samples("memory.qemu_idle_rss", msec, "QEMU microvm: RSS of every non-guest-RAM mapping, idle (128 MiB hugetlb RAM)", "MiB",
                  [mib(q["memory"]["rss_kib"]) for q in qemu])
        R.ratio("memory.ratio_qt_qemu", msec, "qt-vmm ÷ QEMU non-guest RSS (same round)",
                [s["memory"]["rss_kib"] for s in base], [q["memory"]["rss_kib"] for q in qemu])

    # 5. Scaling.
    ssec = "scaling"
    for key, mem, page, cpus in SCALING:
        label = f"{mem} MiB, {page} pages, {cpus} vCPU{'s' if cpus > 1 else ''}"
        if key in missing:
            for m in ("first_io", "start_returned", "rss"):
                R.unavailable(f"scaling.{m}.{key}", ssec, label, "ms" if m != "rss" else "MiB", missing[key])
            continue
        ss = samples[key]
        if have_first_io:
            R.samples(f"scaling.first_io.{key}", ssec, label, "ms", [s.get("first_io_ms") for s in ss])
        else:
            R.unavailable(f"scaling.first_io.{key}", ssec, label, "ms", no_mono)
        R.samples(f"scaling.start_returned.{key}", ssec, label, "ms", [s["start_returned_ms"] for s in ss])
        R.samples(f"scaling.rss.{key}", ssec, label, "MiB", [mib(s["memory"]["rss_kib"]) for s in ss])
        for step in LAUNCH_STEPS:
            R.samples(f"scaling.{step.lower()}_ms.{key}", ssec, label, "ms", [s["timings_ms"].get(step) for s in ss])
    metric = "first_io_ms" if have_first_io else "start_returned_ms"
    for key, other in (("4G-1G-1", "128M-2M-1"), ("4G-1G-1", "1G-1G-1"), ("512M-2M-1", "128M-2M-1"),
                       ("128M-2M-2", "128M-2M-1"), ("8G-1G-1", "1G-1G-1")):
        rid = f"scaling.ratio.{key}.vs.{other}"
        label = f"launch {key} ÷ {other} ({'first instruction' if have_first_io else 'start returned'}, same round)"
        if key in missing or other in missing:
            R.unavailable(rid, ssec, label, "ratio", missing.get(key) or missing.get(other))
        else:
            R.ratio(rid, ssec, label, [s.get(metric) for s in samples[key]], [s.get(metric) for s in samples[other]])
    R.unavailable("scaling.4G-2M", ssec, "4096 MiB with 2 MiB pages", "ms",
                  "refused by the QingTian placement rules (at most 512 MiB with 2 MiB pages; MEMORY_TOO_LARGE_FOR_2M)")
    try:
        pool_rows(hlt, configs, missing, metric)
    except BenchError as e:  # the fresh rows stand; say why the pool rows do not
        log(f"  pre-zeroed pool rows: {e}")
        R.unavailable("scaling.pool", "scaling-prezeroed", "launches from the pre-zeroed pool", "ms", str(e))
    return samples, missing


SCALING_GOAL_IDS = ("scaling.ratio.4G-1G-1.vs.128M-2M-1", "scaling.ratio.4G-1G-1.vs.1G-1G-1", "scaling.ratio.8G-1G-1.vs.1G-1G-1")


def pool_wait_ready(page, mib, timeout=None):
    """Until the bench's pool has `mib` MiB of `page` chunks ready (the last enclave's monitor
    scrubs its chunks after the enclave; not part of any launch). The default timeout allows 20 s
    per GiB: in the nested L1 (TCG) zeroing runs at ≈ 150 MB/s."""
    deadline = time.time() + (timeout or 60 + 20 * mib / 1024)
    while time.time() < deadline:
        p = run([QT_VMM, "allocator", "--show"], check=False, env=qt_env())
        try:
            rows = json.loads(p.stdout)
        except ValueError:
            rows = []
        pools = [r.get("Prezeroed") or {} for r in rows if r.get("HugepageSize") == page]
        # Ready, and no chunk in use any more: the last enclave's monitor has scrubbed them all,
        # work that is not part of the next launch (and, before ChunkClaim::scrub_and_return
        # unlocked each chunk as it went back, a start in between could not claim them).
        if sum(p.get("ReadyMiB", 0) for p in pools) >= mib and not any(p.get("InUseMiB", 0) for p in pools):
            return True
        time.sleep(0.1)
    return False


def pool_rows(hlt, configs, missing, metric):
    """The scaling rows again with guest RAM from a pre-zeroed pool (`allocator --prezero`, a
    private QT_VMM_POOL_DIR): launch cost without the kernel zeroing pages on first touch. The
    issue's two scaling ratios come from here when it can run (else from the fresh rows above)."""
    global POOL_DIR
    ssec = "scaling-prezeroed"
    keys = [c for c in configs if c[3] == 1]
    if os.environ.get("BENCH_PREZERO", "1") == "0" or not keys:
        for key, *_ in keys:
            R.unavailable(f"scaling.pool.first_io.{key}", ssec, key, "ms", "BENCH_PREZERO=0")
        return
    POOL_DIR = os.path.join(WORK, "pool")
    reason = None
    biggest = {}
    for key, mem, page, cpus in keys:
        biggest[page] = max(biggest.get(page, 0), mem)
    try:
        for page, mem in biggest.items():
            p = run([QT_VMM, "allocator", "--mem", str(mem), "--hugepage-size", page, "--prezero"], check=False, env=qt_env())
            if p.returncode != 0:
                reason = f"allocator --prezero --mem {mem} --hugepage-size {page}: {p.stderr.strip()}"
                keys = [c for c in keys if c[2] != page]
                for key, *_ in [c for c in configs if c[2] == page]:
                    missing.setdefault("pool:" + key, reason)
        samples = {k: [] for k, *_ in keys}
        for r in range(RUNS):
            k = r % len(keys) if keys else 0
            for key, mem, page, cpus in keys[k:] + keys[:k]:
                if not pool_wait_ready(page, mem):
                    raise BenchError(f"the pre-zeroed pool did not get {mem} MiB of {page} chunks back within 60 s")
                res = qt_launch(hlt, mem, cpus, page, measure=False)
                if res["info"].get("MemorySource") != "prezeroed-pool":
                    raise BenchError(f"{key}: start did not use the pre-zeroed pool: MemorySource={res['info'].get('MemorySource')}")
                samples[key].append(res)
            log(f"  pre-zeroed pool round {r + 1}/{RUNS} done")
    finally:
        for page, mem in biggest.items():
            if os.path.ismount(os.path.join(POOL_DIR, page)):
                pool_wait_ready(page, mem)  # the last enclave's monitor may still be scrubbing
            run([QT_VMM, "allocator", "--mem", str(mem), "--hugepage-size", page, "--prezero", "--release"], check=False, env=qt_env())
            for _ in range(50):
                mount = os.path.join(POOL_DIR, page)
                if not os.path.ismount(mount) or run(["umount", mount], check=False).returncode == 0:
                    break
                time.sleep(0.1)
        POOL_DIR = None
    for key, mem, page, cpus in configs:
        if cpus != 1:
            continue
        label = f"{mem} MiB, {page} pages, pre-zeroed pool"
        if key not in samples:
            R.unavailable(f"scaling.pool.first_io.{key}", ssec, label, "ms", missing.get("pool:" + key) or reason or "not measured")
            continue
        R.samples(f"scaling.pool.{metric.replace('_ms', '')}.{key}", ssec, label, "ms", [s.get(metric) for s in samples[key]])
        for step in LAUNCH_STEPS:
            R.samples(f"scaling.pool.{step.lower()}_ms.{key}", ssec, f"{label}: the daemon's {step} step", "ms",
                      [s["timings_ms"].get(step) for s in samples[key]])
    for key, other in (("4G-1G-1", "128M-2M-1"), ("4G-1G-1", "1G-1G-1"), ("8G-1G-1", "1G-1G-1"), ("2G-1G-1", "128M-2M-1"),
                       ("1G-1G-1", "128M-2M-1")):
        if key in samples and other in samples:
            rid = f"scaling.ratio.{key}.vs.{other}"
            label = f"launch {key} ÷ {other}, both from the pre-zeroed pool (same round)"
            if rid in SCALING_GOAL_IDS:
                # The figure: with the pool (what a host set up for big enclaves runs);
                # the fresh-pages figure stays as scaling.fresh.ratio.*.
                if rid in R.by_id:
                    R._add(dict(R.by_id[rid], id=f"scaling.fresh.ratio.{key}.vs.{other}"))
            else:
                rid = f"scaling.pool.ratio.{key}.vs.{other}"
            R.ratio(rid, ssec, label, [s.get(metric) for s in samples[key]], [s.get(metric) for s in samples[other]])


def vsock_connect(path, port, timeout=5):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(path)
    s.sendall(f"CONNECT {port}\n".encode())
    line = b""
    while not line.endswith(b"\n"):
        b = s.recv(1)
        if not b:
            raise BenchError(f"vsock CONNECT {port}: closed by the VMM")
        line += b
    if not line.startswith(b"OK "):
        raise BenchError(f"vsock CONNECT {port}: {line!r}")
    return s


def section_connections():
    sec = "memory"
    label = "qt-vmm daemon: non-guest RSS with 100 open vsock connections (probe.mode=vsock-echo)"
    why = []
    if not FEATURES["probe_echo"]:
        why.append("the probe guest has no probe.mode=vsock-echo yet")
    if not FEATURES["vsock_socket"]:
        why.append("the daemon has no hybrid-vsock socket yet (no VsockSocket in query)")
    if why:
        R.unavailable("memory.qt_100_conns_rss", sec, label, "MiB", "; ".join(why))
        R.unavailable("memory.qt_100_conns_delta", sec, "extra RSS for 100 connections", "MiB", "; ".join(why))
        R.unavailable("memory.qt_per_conn_kib", sec, "extra RSS per open, idle vsock connection", "KiB", "; ".join(why))
        return
    log("VMM memory with 100 open vsock connections")
    port = ECHO_PORT
    eif = make_probe_eif(os.path.join(WORK, "echo.eif"), f"probe.mode=vsock-echo probe.port={port}")
    idle, busy, busy_anon = [], [], []
    for r in range(RUNS):
        res = qt_launch(eif, 128, 1, "2M", keep=True, measure=True)
        socks = []
        try:
            uds = res["info"].get("VsockSocket") or (query(res["id"]) or {}).get("VsockSocket")
            deadline = time.time() + 10
            while True:  # the guest's listener may take a moment
                try:
                    socks.append(vsock_connect(uds, port))
                    break
                except (OSError, BenchError):
                    if time.time() > deadline:
                        raise
                    time.sleep(0.05)
            while len(socks) < 100:
                socks.append(vsock_connect(uds, port))
            for s in socks:
                s.sendall(b"x")
            for s in socks:
                if s.recv(1) != b"x":
                    raise BenchError("vsock-echo did not echo")
            time.sleep(0.2)
            idle.append(res["memory"]["rss_kib"] / 1024)
            now = process_memory(res["pid"])
            busy.append(now["rss_kib"] / 1024)
            busy_anon.append(now["anon_kib"] / 1024)
        finally:
            for s in socks:
                s.close()
            stop(res["id"])
    R.samples("memory.qt_echo_idle_rss", sec, "qt-vmm daemon: non-guest RSS, vsock-echo guest, no connection", "MiB", idle)
    R.samples("memory.qt_100_conns_rss", sec, label, "MiB", busy)
    R.samples("memory.qt_100_conns_delta", sec, "extra RSS for 100 connections (same enclave)", "MiB",
              [b - i for b, i in zip(busy, idle)])
    R.samples("memory.qt_100_conns_anonymous", sec, "of which anonymous (heap, stacks, buffers), 100 connections", "MiB", busy_anon)
    R.samples("memory.qt_per_conn_kib", sec, "extra RSS per open, idle vsock connection (delta ÷ 100)", "KiB",
              [(b - i) * 1024 / 100 for b, i in zip(busy, idle)])


def boot_real_kernel(eif, accel=None, timeout=600, heartbeat=False):
    """One boot of the project's kernel (guest-init as /init, a static app): times console lines
    as they arrive (`enclave console` follows the ring from its start; `start` returns as soon as
    the vCPUs run, so nothing is missed) and, with heartbeat=True, the daemon's heartbeat time."""
    res = qt_launch(eif, 256, 1, None if accel == "tcg" else "2M", debug=True, accel=accel, first_io=False,
                    measure=False, keep=True)
    marks = {}
    lm_heartbeat = 0
    try:
        con = subprocess.Popen([QT_VMM, "enclave", "console", "--enclave-id", str(res["id"])], stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, env=qt_env())
        buf = b""
        end = time.time() + timeout
        last_query = 0
        console_done = False
        while time.time() < end and not ("init" in marks and (lm_heartbeat or not heartbeat)):
            if time.time() - last_query > (0.2 if heartbeat else 2):
                last_query = time.time()
                q = query(res["id"])
                if not q:
                    break
                lm_heartbeat = (q.get("LaunchMonotonicNs") or {}).get("Heartbeat") or lm_heartbeat
                if q.get("State") == "TERMINATED" and not lm_heartbeat:
                    break
            if console_done:  # the console ended with the enclave; only the query is left
                time.sleep(0.2)
                continue
            r, _, _ = select.select([con.stdout], [], [], 0.2)
            if not r:
                continue
            chunk = os.read(con.stdout.fileno(), 65536)
            t = now_ns()
            if not chunk:
                console_done = True
                continue
            buf += chunk
            marks.setdefault("first_output", t)
            if b"Linux version" in buf:
                marks.setdefault("linux_version", t)
            if b"Run /init as init process" in buf:
                marks.setdefault("init", t)
            buf = buf[-4096:]
        con.kill()
        con.wait()
    finally:
        stop(res["id"])
    out = {k: (v - res["t0"]) / 1e9 for k, v in marks.items()}
    if lm_heartbeat:
        out["heartbeat"] = (lm_heartbeat - res["t0"]) / 1e9
    return out


def kernel_eif():
    """make-img's layout by hand: ramdisk 0 = guest-init as /init + /dev; ramdisk 1 = a rootfs
    with a static app (tests/apps/app_echo_env, exits 0), /cmd, /env; the EIF command line
    make-img writes."""
    r0, r1 = os.path.join(WORK, "kr0"), os.path.join(WORK, "kr1")
    for d in (f"{r0}/dev", f"{r1}/rootfs/usr/bin", *(f"{r1}/rootfs/{x}" for x in ("dev", "proc", "sys", "tmp", "run"))):
        os.makedirs(d, exist_ok=True)
    shutil.copy(os.path.join(BUILD, "guest", "init"), f"{r0}/init")
    shutil.copy(os.path.join(BUILD, "guest", "app_echo_env"), f"{r1}/rootfs/usr/bin/echo-env")
    with open(f"{r1}/cmd", "w") as f:
        f.write("echo-env\n--exit=0\n")
    with open(f"{r1}/env", "w") as f:
        f.write("PATH=/usr/bin\n")
    cpios = []
    for r in (r0, r1):
        run(["bash", "-c", f'cd "{r}" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0 > "{r}.cpio"'])
        cpios.append(r + ".cpio")
    eif = os.path.join(WORK, "linux.eif")
    run([EIF_TESTDATA, eif, KERNEL, "console=ttyS0 reboot=k panic=-1 random.trust_cpu=on"] + cpios)
    return eif


def section_kernel():
    sec = "kernel"
    kvm_label = ("project kernel on KVM here: `enclave start` exec → \"Run /init\" "
                 "(host-limited: this nested KVM emulates guest kernel code)")
    tcg_label = "project kernel with `--accel tcg` (QEMU TCG): exec → \"Run /init\""
    tcg_hb_label = "project kernel with `--accel tcg`: exec → guest-init's heartbeat"
    if not REAL_KERNEL:
        R.unavailable("kernel.kvm_init", sec, kvm_label, "s", "skipped: QUICK=1" if QUICK else "skipped: REAL_KERNEL=0")
    do_tcg = FEATURES["accel"] and not QUICK
    if not FEATURES["accel"]:
        for id, label in (("kernel.tcg_init", tcg_label), ("kernel.tcg_heartbeat", tcg_hb_label)):
            R.unavailable(id, sec, label, "s", "`qt-vmm enclave start --accel tcg` does not exist yet")
    elif QUICK:
        for id, label in (("kernel.tcg_init", tcg_label), ("kernel.tcg_heartbeat", tcg_hb_label)):
            R.unavailable(id, sec, label, "s", "skipped: QUICK=1")
    if not (REAL_KERNEL or do_tcg):
        return
    if not os.path.exists(KERNEL):
        R.unavailable("kernel.kvm_init", sec, kvm_label, "s", f"{KERNEL} missing (make kernel)")
        return
    eif = kernel_eif()
    if do_tcg:
        log(f"  real kernel under --accel tcg, {RUNS} runs")
        runs = [boot_real_kernel(eif, accel="tcg", timeout=120, heartbeat=True) for _ in range(RUNS)]
        R.samples("kernel.tcg_init", sec, tcg_label, "s", [x.get("init") for x in runs],
                  note="256 MiB, 1 vCPU, debug mode; QEMU microvm under TCG, qt-vmm's vsock device over vhost-user")
        R.samples("kernel.tcg_heartbeat", sec, tcg_hb_label, "s", [x.get("heartbeat") for x in runs])
    if REAL_KERNEL:
        runs = []
        for r in range(REAL_KERNEL_RUNS):
            log(f"  real kernel on KVM, run {r + 1}/{REAL_KERNEL_RUNS} (minutes on this nested KVM)")
            runs.append(boot_real_kernel(eif))
            log(f"    {runs[-1]}")
        R.samples("kernel.kvm_first_output", sec, "project kernel on KVM here: exec → first console output (host-limited)",
                  "s", [x.get("first_output") for x in runs])
        R.samples("kernel.kvm_init", sec, kvm_label, "s", [x.get("init") for x in runs],
                  note=f"{REAL_KERNEL_RUNS} runs only (minutes each); 256 MiB, 1 vCPU, debug mode; guest user mode "
                       "cannot run on this host, so no heartbeat")


# The nested L1 for the scaling rows: 8 GiB of 1 GiB pages (the 8 GiB row; the pool rows reuse
# them after the fresh rows), 256 MiB of 2 MiB pages (the 128 MiB row, fresh and pooled), the
# rest for L1's own system and its RAM overlay. 12 GiB, not 10: q35 puts 2 GiB below the 4 GiB
# hole, and the kernel's early allocations at the top of RAM cost one of 8 GiB above it (10 GiB
# gave 7 pages). Half of this host's 24 GiB; the L1 allocates only what it touches (≈ 9 GiB).
NESTED_SCALING_L1 = ["--mem", "12288", "--hugepages-1g", "8", "--hugepages-2m", "128"]


def section_nested_scaling():
    """The scaling rows where 1 GiB pages can be had: inside the nested L1, which reserves them on
    its kernel command line (nested_bench.py --scaling runs bench.py's launch section there with
    BENCH_SCALING_ONLY=1). Every L1 figure is kept as nested.<id>; a scaling.ratio.* this host could
    not measure (no 1 GiB pages to spare) is replaced by the L1's, its note saying so."""
    sec = "nested-scaling"
    rounds = NESTED_SCALING_RUNS
    log(f"nested scaling: booting L1 ({' '.join(NESTED_SCALING_L1)}) for {rounds} round(s) of the scaling rows")
    logs = os.path.join(WORK, "nested-scaling-logs")
    env = dict(os.environ, BUILD=BUILD, QT_VMM=QT_VMM)
    run([os.path.join(TOP, "tests", "nested", "l1.sh"), "--quiet", "--timeout", str(900 + 150 * rounds),
         *NESTED_SCALING_L1, "--log-dir", logs, "--", "python3", os.path.join(TOP, "tools", "bench", "nested_bench.py"),
         "--scaling", "--rounds", str(rounds), "--out", "/run/l1/logs/scaling.json"],
        env=env, timeout=1000 + 150 * rounds)
    with open(os.path.join(logs, "scaling.json")) as f:
        data = json.load(f)
    where = (f"inside the nested L1 ({data['l1']}; its load average {data['load_start']} at the start, "
             f"{data['load_end']} at the end): every level emulated, only the same-round ratios compare")
    for fig in data["figures"]:
        R._add(dict(fig, id="nested." + fig["id"], section=sec, label="nested L1: " + fig["label"], note=where))
        if fig["status"] != "ok" or not fig["id"].startswith(("scaling.ratio.", "scaling.fresh.ratio.")):
            continue
        mine = R.by_id.get(fig["id"])
        if mine is None or mine["status"] != "ok":
            R._add(dict(fig, section=mine["section"] if mine else sec, label="nested L1: " + fig["label"],
                        note=f"this host could not measure it ({mine['reason'] if mine else 'not run'}); "
                             f"measured {where} (also nested.{fig['id']})"))


# --- feature detection --------------------------------------------------------------------------

def section_nested():
    """The whole enclave where KVM runs guest user mode: inside the nested L1, qt-vmm against QEMU
    -M microvm -accel kvm with the same kernel, initrd and command line (nested_bench.py). Every
    level is emulated there, so only the same-round ratios are reported."""
    sec = "nested"
    labels = {"heartbeat": "nested L1: qt-vmm ÷ QEMU microvm -accel kvm, EIF start → init's heartbeat (2 vCPUs, 256 MiB, same round)",
              "app": "nested L1: qt-vmm ÷ QEMU microvm -accel kvm, EIF start → the app's first output (its first vsock connection, same round)"}
    if shutil.which("qemu-system-x86_64") is None or not os.path.exists(KERNEL):
        for k, label in labels.items():
            R.unavailable(f"nested.ratio_{k}", sec, label, "ratio", "needs qemu-system-x86_64 and the guest kernel (make kernel)")
        return
    rounds = RUNS
    log(f"nested: booting L1 under TCG for {rounds} round(s) of qt-vmm and QEMU (minutes)")
    logs = os.path.join(WORK, "nested-logs")
    env = dict(os.environ, BUILD=BUILD, QT_VMM=QT_VMM, KERNEL=os.path.realpath(KERNEL))
    run([os.path.join(TOP, "tests", "nested", "l1.sh"), "--quiet", "--timeout", str(900 + 240 * rounds),
         "--log-dir", logs, "--", "python3", os.path.join(TOP, "tools", "bench", "nested_bench.py"),
         "--rounds", str(rounds), "--out", "/run/l1/logs/nested.json"], env=env, timeout=1000 + 240 * rounds)
    with open(os.path.join(logs, "nested.json")) as f:
        data = json.load(f)
    for k, label in labels.items():
        R.samples(f"nested.ratio_{k}", sec, label, "ratio", data["ratio"][k], kind="ratio",
                  note="nested KVM inside QEMU TCG: ratios only, absolute times mean nothing here")


def detect_features():
    f = {}
    help_text = run([QT_VMM, "enclave", "start", "--help"], check=False).stdout
    f["heartbeat_timeout"] = "--heartbeat-timeout" in help_text
    f["accel"] = "--accel" in help_text
    probe = open(PROBE, "rb").read() if os.path.exists(PROBE) else b""
    f["probe_heartbeat"] = b"vsock-heartbeat" in probe
    f["probe_echo"] = b"vsock-echo" in probe
    f["monotonic"] = False   # set by the first launch
    f["vsock_socket"] = False
    return f


def probe_daemon_features():
    """One throwaway launch: which fields the daemon reports."""
    eif = make_probe_eif(os.path.join(WORK, "hlt.eif"), "probe.mode=hlt")
    reserve("2M", 1024)
    res = qt_launch(eif, 128, 1, "2M", first_io=False, measure=False)
    FEATURES["monotonic"] = "LaunchMonotonicNs" in res["info"]
    FEATURES["vsock_socket"] = "VsockSocket" in res["info"]


# --- output -------------------------------------------------------------------------------------

def fmt(v, unit):
    if v is None:
        return "—"
    if unit == "ratio":
        return f"{v:.2f}"
    a = abs(v)
    if a >= 100:
        return f"{v:.0f}"
    if a >= 10:
        return f"{v:.1f}"
    if a >= 1:
        return f"{v:.2f}"
    return f"{v:.3f}"


def figure_row(f):
    if f["status"] != "ok":
        return f"| {f['label']} | not available | | | | {f['reason']} |"
    note = f.get("note", "")
    return (f"| {f['label']} | **{fmt(f['median'], f['unit'])}** {f['unit']} | {fmt(f['min'], f['unit'])} | "
            f"{fmt(f['max'], f['unit'])} | {f['n']} | {note} |")


def table(figs):
    lines = ["| Figure | Median | Min | Max | Runs | Note |", "|---|---|---|---|---|---|"]
    return lines + [figure_row(f) for f in figs]


def write_plot(path):
    rows = []
    for key, mem, page, cpus in SCALING:
        if cpus != 1:
            continue
        fi = R.by_id.get(f"scaling.first_io.{key}")
        if not fi or fi["status"] != "ok":
            fi = R.by_id.get(f"scaling.start_returned.{key}")
        rss = R.by_id.get(f"scaling.rss.{key}")
        if fi and fi["status"] == "ok" and rss and rss["status"] == "ok":
            rows.append((mem, page, fi["median"], fi["min"], fi["max"], rss["median"]))
    if not rows or not shutil.which("gnuplot"):
        return None
    data = os.path.join(WORK, "scaling.dat")
    with open(data, "w") as f:
        for page in ("2M", "1G"):
            f.write(f'"{page} pages"\n')
            for mem, p, med, lo, hi, rss in rows:
                if p == page:
                    f.write(f"{mem} {med} {lo} {hi} {rss}\n")
            f.write("\n\n")
    metric = "first instruction" if FEATURES["monotonic"] else "start returned"
    script = f"""
set terminal pngcairo size 720,460 font ",9"
set output "{path}"
set title "qt-vmm launch ({metric}) and VMM memory vs guest RAM — median, min..max"
set logscale x 2
set xlabel "guest RAM (MiB)"
set ylabel "launch (ms)"
set y2label "VMM non-guest RSS (MiB)"
set ytics nomirror
set y2tics
set yrange [0:*]
set y2range [0:*]
set key below horizontal
set grid
plot "{data}" index 0 using 1:2:3:4 with yerrorlines lw 2 title "launch, 2 MiB pages", \\
     "{data}" index 1 using 1:2:3:4 with yerrorlines lw 2 title "launch, 1 GiB pages", \\
     "{data}" index 0 using 1:5 axes x1y2 with linespoints dt 2 title "RSS, 2 MiB pages", \\
     "{data}" index 1 using 1:5 axes x1y2 with linespoints dt 2 title "RSS, 1 GiB pages"
"""
    p = subprocess.run(["gnuplot"], input=script, capture_output=True, text=True)
    if p.returncode != 0:
        log("gnuplot failed: " + p.stderr.strip()[-300:])
        return None
    return path


SECTION_TITLES = [
    ("launch", "1. Launch: `qt-vmm enclave start` → the guest's first instruction"),
    ("launch-breakdown", "1a. Where qt-vmm's launch time goes (consecutive steps)"),
    ("kernel", "1b. The project's Linux kernel (guest-side time: host-limited here)"),
    ("memory", "2. VMM memory overhead (daemon RSS outside guest RAM)"),
    ("memory-breakdown", "2a. qt-vmm idle non-guest RSS by mapping kind"),
    ("vsock", "3. vsock device cost (in process, synthetic guest driver, no VM)"),
    ("image", "4. Image build"),
    ("scaling", "5. Scaling with guest RAM and vCPUs"),
    ("scaling-prezeroed", "5a. Scaling, guest RAM from the pre-zeroed pool (`allocator --prezero`)"),
    ("nested-scaling", "5b. Scaling inside the nested L1 (8 GiB of 1 GiB pages reserved on its command line)"),
    ("nested", "6. The whole enclave on a KVM with guest user mode (nested L1 under TCG: ratios only)"),
]


def write_outputs(meta, plot):
    os.makedirs(OUT, exist_ok=True)
    doc = dict(meta)
    doc["figures"] = R.figures
    doc["goals"] = R.goals
    doc["not_available"] = [{"id": f["id"], "label": f["label"], "reason": f["reason"]} for f in R.figures
                            if f["status"] != "ok"]
    with open(os.path.join(OUT, "results.json.tmp"), "w") as f:
        json.dump(doc, f, indent=1, ensure_ascii=False)
        f.write("\n")
    os.replace(os.path.join(OUT, "results.json.tmp"), os.path.join(OUT, "results.json"))

    h = meta["host"]
    md = [f"# qt-vmm benchmarks — {meta['date']}", ""]
    if meta["quick"]:
        md += ["**QUICK=1 smoke run: one run each, small sizes. These numbers mean nothing.**", ""]
    if not meta.get("complete", True):
        md += ["**Partial: written after a section; the run had not finished (or was cut short) here.**", ""]
    md += [
        f"Generated by `make bench` ({'QUICK=1, ' if meta['quick'] else ''}{meta['runs']} runs per figure: "
        "median, min, max; ratios are medians of per-round ratios, sides alternating). "
        f"Took {meta['duration_s'] / 60:.1f} min.", "",
        f"- Host: `{h['hostname']}`, {h['cpu']}, {h['cpus']} CPUs, {h['memory_gib']} GiB, {h['os']}",
        f"- Kernel: {h['kernel']} ({h['kernel_version']}); KVM: "
        + ("nested, software-assisted (no vmx/svm flag): guest kernel code is emulated" if h["nested_kvm"]
           else ("hardware" if h["kvm"] else "none")),
        f"- QEMU: {h['qemu'] or 'not installed'}",
        f"- Git: `{h['git_describe']}` ({h['git_revision']}) — {h['git_subject']}",
        f"- Load average (1/5/15 min): {' / '.join(map(str, meta['load_start']))} at start, "
        f"{' / '.join(map(str, meta['load_end']))} at the end",
        "",
        "## Goals", "",
        "| Goal | Target | Measured (median) | Met |", "|---|---|---|---|",
    ]
    for g in R.goals:
        met = "n/a" if g["met"] is None else ("yes" if g["met"] else "**no**")
        val = "not available" if g["value"] is None else f"{fmt(g['value'], g['unit'])} {g['unit']}"
        md.append(f"| {g['goal']} | {g['target']} | {val} | {met}{' — ' + g['note'] if g.get('note') else ''} |")
    md.append("")
    for sec, title in SECTION_TITLES:
        figs = [f for f in R.figures if f["section"] == sec]
        if sec == "scaling":
            md += [f"## {title}", ""]
            md += scaling_tables(figs)
            if plot:
                md += ["", f"![launch and memory vs guest RAM]({os.path.basename(plot)})"]
            md.append("")
            continue
        if not figs:
            continue
        md += [f"## {title}", ""] + table(figs) + [""]
    na = doc["not_available"]
    md += ["## Not available in this run", ""]
    seen = []
    for x in na:
        line = f"- {x['label']}: {x['reason']}"
        if line not in seen:
            seen.append(line)
    md += seen or ["- nothing"]
    md += ["", "## How it is measured", "", *HOW, ""]
    with open(os.path.join(OUT, "results.md.tmp"), "w") as f:
        f.write("\n".join(md))
    os.replace(os.path.join(OUT, "results.md.tmp"), os.path.join(OUT, "results.md"))


def scaling_tables(figs):
    lines = ["| Guest | First instruction (ms) | `start` returned (ms) | Memory step (ms) | Load step (ms) | Non-guest RSS (MiB) |",
             "|---|---|---|---|---|---|"]

    def cell(id):
        f = R.by_id.get(id)
        if not f:
            return "—"
        if f["status"] != "ok":
            return "n/a"
        return f"{fmt(f['median'], f['unit'])} [{fmt(f['min'], f['unit'])}–{fmt(f['max'], f['unit'])}]"
    for key, mem, page, cpus in SCALING:
        f = R.by_id.get(f"scaling.rss.{key}")
        label = f"{mem} MiB, {page} pages, {cpus} vCPU{'s' if cpus > 1 else ''}"
        if f and f["status"] != "ok":
            lines.append(f"| {label} | not available: {f['reason']} | | | | |")
            continue
        lines.append(f"| {label} | {cell('scaling.first_io.' + key)} | {cell('scaling.start_returned.' + key)} | "
                     f"{cell('scaling.memory_ms.' + key)} | {cell('scaling.load_ms.' + key)} | {cell('scaling.rss.' + key)} |")
    lines.append("")
    lines += table([f for f in figs if f["id"].startswith("scaling.ratio") or f["id"] == "scaling.4G-2M"])
    return lines


HOW = [
    "- **Launch**: `bench_exec` (tools/bench) reads CLOCK_MONOTONIC in the child right before `execve` of "
    "`qt-vmm enclave start` (production mode, `--heartbeat-timeout 0` when it exists); the daemon's "
    "`LaunchMonotonicNs.FirstGuestIo` (same clock, at the first KVM_EXIT_IO) minus that is the figure. The probe "
    "guest's first instruction is `out 0x80, 0x42`. QEMU (`-M microvm -accel kvm`, qboot, `-kernel` of the same "
    "probe bzImage, hugetlb memfd RAM) forwards that write through `isa-debugcon` on port 0x80 to a pipe; the "
    "figure is exec → that byte read by `bench_exec`. Each round runs qt-vmm and QEMU back to back, the order "
    "alternating; one warm-up launch of each is discarded.",
    "- **Breakdown**: `LaunchMonotonicNs` (DaemonStarted, VcpusStarted, FirstGuestIo) and `LaunchTimingsMs` "
    "(Memory, VM, Load, VCPUs) of the same launches.",
    "- **Memory**: /proc/<daemon>/smaps 0.3 s after the first instruction (the probe halts), summing `Rss` of every "
    "mapping whose KernelPageSize is 4 KiB (guest RAM is the hugetlb mappings); QEMU measured the same way (its "
    "guest RAM is a hugetlb memfd; its 64 KiB qboot ROM counts as QEMU's). Firecracker's bar is 5 MiB "
    "(tests/host_tools/memory.py sums RSS the same way).",
    "- **vsock**: `vsock_bench` (tools/bench/vsock_bench.cc): device loop thread CPU time (CLOCK thread CPU time) per "
    "byte moved between a synthetic guest driver and a real Unix socket, 64 KiB writes; baseline a Unix socketpair "
    "in the same process and run; the device's g→p cost is compared with the socketpair writer (its irreducible "
    "`write`), p→g with the reader (the device reads the parent's socket with one recvmsg scattered over up to 64 "
    "rx buffers, 128 KiB, where the reader reads 64 KiB into one hot buffer). The driver behaves like Linux 6.1's: "
    "it kicks only when the device's avail_event asks, refills rx in half-ring batches, and when idle sets used_event "
    "and sleeps on the device's interrupt, so the device pays for its interrupts and wake-ups. Diagnostic beside "
    "the goal: a reader doing the device's copy (readv into 3,776-byte slots of a ring a guest thread reads back); "
    "that reader ÷ the plain reader is the ceiling of vsock.ratio_h2g for any device that copies into guest buffers. "
    "GB = 10^9 bytes.",
    "- **Image build**: one 200 MiB uncompressed tar layer (one 150 MiB random file and 2000 × 25 KiB) in an OCI "
    "layout, `make-img` and `sha384sum` alternating, page cache warm.",
    "- **Real kernel**: the project's bzImage in an EIF laid out as make-img does (guest-init as /init, a static "
    "app), 256 MiB, 1 vCPU, debug mode, `--heartbeat-timeout 0`; `enclave console` is followed and the arrival of "
    "\"Run /init as init process\" is timed from the exec of `start`; under `--accel tcg` also the daemon's "
    "`LaunchMonotonicNs.Heartbeat`. On this host KVM emulates guest kernel code (and guest user mode cannot run, so "
    "there is no heartbeat under KVM): that figure is a property of the host, not of qt-vmm.",
    "- **Scaling**: the same launch for each guest size in every round, the order rotating from round to round; "
    "`Load` includes the first touch of the hugepages holding the kernel, the boot structures and the initrd (the "
    "kernel zeroes a hugepage when it is first faulted: a 1 GiB page costs far more than a 2 MiB one).",
]


def goals():
    R.goal("Launch: qt-vmm ÷ QEMU, exec → first instruction", "≤ 0.25", "launch.ratio_qt_qemu", "<=", 0.25)
    R.goal("Launch with 4 GiB (1 GiB pages) ÷ 128 MiB (2 MiB pages)", "≤ 1.2", "scaling.ratio.4G-1G-1.vs.128M-2M-1", "<=", 1.2)
    R.goal("Launch with 4 GiB ÷ 1 GiB (both 1 GiB pages)", "≤ 1.2", "scaling.ratio.4G-1G-1.vs.1G-1G-1", "<=", 1.2)
    R.goal("Launch with 8 GiB ÷ 1 GiB (both 1 GiB pages)", "≤ 1.2", "scaling.ratio.8G-1G-1.vs.1G-1G-1", "<=", 1.2)
    R.goal("VMM memory overhead, idle (Firecracker's bar: 5 MiB)", "≤ 2 MiB", "memory.qt_idle_rss", "<=", 2.0)
    R.goal("VMM memory overhead with 100 vsock connections", "≤ 3 MiB", "memory.qt_100_conns_rss", "<=", 3.0)
    R.goal("VMM memory per idle vsock connection", "≤ 10 KiB", "memory.qt_per_conn_kib", "<=", 10.0)
    R.goal("vsock guest → parent: device ÷ socketpair writer, per CPU-second", "≥ 1.0", "vsock.ratio_g2h", ">=", 1.0)
    R.goal("vsock parent → guest: device ÷ socketpair reader, per CPU-second", "≥ 1.0", "vsock.ratio_h2g", ">=", 1.0)
    R.goal("Image build: sha384sum time ÷ make-img time", "≥ 0.8", "image.ratio", ">=", 0.8)


# --- main ---------------------------------------------------------------------------------------

def main():
    global WORK, RUN_DIR, FEATURES
    started = time.time()
    for f in (QT_VMM, BENCH_EXEC, VSOCK_BENCH, EIF_TESTDATA, PROBE):
        if not os.path.exists(f):
            sys.exit(f"bench: {f} missing; run make BUILD={BUILD}")
    WORK = tempfile.mkdtemp(prefix="qt-vmm-bench.")
    # The run directory on tmpfs, as /run/qt-vmm is in production: on the work disk each launch
    # paid for fsyncs of its reservation (≈ 12 ms here) that /run never costs.
    run_parent = tempfile.mkdtemp(prefix="qt-vmm-bench-run.", dir="/dev/shm") if os.path.isdir("/dev/shm") else WORK
    RUN_DIR = os.path.join(run_parent, "run")
    os.makedirs(RUN_DIR)
    FEATURES = detect_features()

    def cleanup(*_):
        stop_all()
        restore_pools()
        shutil.rmtree(WORK, ignore_errors=True)
        shutil.rmtree(os.path.dirname(RUN_DIR), ignore_errors=True)

    def on_signal(signum, _frame):
        cleanup()
        sys.exit(128 + signum)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    meta = {"schema": 1, "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "quick": QUICK, "runs": RUNS, "host": host_info(), "load_start": load_average()}
    log(f"{'QUICK, ' if QUICK else ''}{RUNS} runs per figure; load average {meta['load_start']}; output {OUT}")
    errors = []

    def publish(complete):
        """results.md and results.json as they stand: after every section, so that a run cut
        short (the nested sections take long) keeps what it measured, and says it is partial."""
        R.goals = []
        goals()
        meta["complete"] = complete
        meta["features"] = FEATURES
        meta["errors"] = errors
        meta["load_end"] = load_average()
        meta["duration_s"] = round(time.time() - started, 1)
        os.makedirs(OUT, exist_ok=True)
        write_outputs(meta, write_plot(os.path.join(OUT, "scaling.png")))

    def section(name, fn):
        if name not in SECTIONS:
            return
        try:
            fn()
        except (BenchError, OSError, subprocess.TimeoutExpired, ValueError, KeyError) as e:
            errors.append(f"{name}: {e}")
            log(f"section {name} FAILED: {e}")
        publish(False)

    can_kvm = os.geteuid() == 0 and os.access("/dev/kvm", os.R_OK | os.W_OK)
    try:
        section("vsock", section_vsock)
        section("image", section_image)
        if can_kvm:
            section("launch", probe_daemon_features)
            section("launch", section_launch)
        # The two scaling ratios need the L1 here: early, before the long real-kernel
        # and nested-heartbeat sections.
        section("nested-scaling", section_nested_scaling)
        if can_kvm:
            section("connections", section_connections)
            section("kernel", section_kernel)
        else:
            why = "needs root and /dev/kvm (run make bench as root)"
            for id, sec, label, unit in (("launch.qt_first_io", "launch", "qt-vmm launch", "ms"),
                                         ("memory.qt_idle_rss", "memory", "qt-vmm VMM memory", "MiB"),
                                         ("kernel.kvm_init", "kernel", "real kernel on KVM", "s")):
                R.unavailable(id, sec, label, unit, why)
        section("nested", section_nested)
        publish(True)
    finally:
        cleanup()
    log(f"wrote {OUT}/results.md and results.json" + (" (with errors: " + "; ".join(errors) + ")" if errors else ""))
    for g in R.goals:
        met = "n/a" if g["met"] is None else ("met" if g["met"] else "NOT met")
        val = "not available" if g["value"] is None else f"{fmt(g['value'], g['unit'])} {g['unit']}"
        log(f"  goal {g['goal']}: {val} (target {g['target']}): {met}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
