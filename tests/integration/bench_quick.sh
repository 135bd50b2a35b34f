#!/usr/bin/env bash
# `make bench QUICK=1`, the benchmarks' smoke mode (one run each, small sizes, no real-kernel
# boot), so the harness cannot rot. Checks that results.md and results.json are written and
# well-formed — never the timings. Without root or /dev/kvm the launch rows say "not available"
# and the rest is still checked.
source "$TOP/tests/lib.sh"
need_kernel
command -v python3 >/dev/null || fail "python3 missing; run scripts/install-deps.sh"
out="$TEST_TMP/bench"
# The nested section (an L1 boot under TCG, minutes) is left to `make bench`; its driver runs
# in the nested tier's own tests (tests/nested/, kvm_e2e).
BUILD="$BUILD" QUICK=1 BENCH_OUT="$out" BENCH_SECTIONS=vsock,image,launch,connections,kernel "$TOP/scripts/bench.sh" || fail "make bench QUICK=1 failed"

json="$out/results.json" md="$out/results.md"
[ -s "$json" ] || fail "no $json"
[ -s "$md" ] || fail "no $md"
jq -e . "$json" >/dev/null || fail "results.json is not JSON"
check() { jq -e "$1" "$json" >/dev/null || fail "results.json: $2 ($1)"; }
check '.schema == 1 and .quick == true and .runs == 1' "header"
check '.host.kernel != "" and (.host.git_revision | test("^[0-9a-f]{40}$")) and (.load_start | length == 3)' "host, kernel, git revision, load"
check '.figures | length > 20' "too few figures"
check '[.figures[] | select(.status == "ok") | (.n >= 1 and .min <= .median and .median <= .max and (.samples | length) == .n)] | all' \
  "a figure with no samples or min <= median <= max broken"
check '[.figures[] | select(.status != "ok") | (.status == "not available" and (.reason | length) > 0)] | all' \
  "a figure neither ok nor 'not available' with a reason"
check '[.figures[] | (.id and .section and .label and .unit)] | all' "a figure without id, section, label or unit"
check '.goals | length >= 8' "goals missing"
check '[.goals[] | (.met == true or .met == false or .met == null)] | all' "goal verdicts"
for id in vsock.g2h_per_cpu vsock.h2g_per_cpu vsock.rtt_device vsock.socketpair_writer image.ratio image.eif_vs_layer; do
  check ".figures | any(.id == \"$id\" and .status == \"ok\")" "$id not measured"
done
if [ "$(id -u)" -eq 0 ] && [ -w /dev/kvm ]; then
  for id in launch.qt_first_io launch.qt_start_returned memory.qt_idle_rss scaling.rss.128M-2M-1; do
    check ".figures | any(.id == \"$id\" and .status == \"ok\")" "$id not measured (root and KVM are here)"
  done
  if command -v qemu-system-x86_64 >/dev/null; then
    check '.figures | any(.id == "launch.ratio_qt_qemu" and .status == "ok")' "no qt-vmm/QEMU ratio"
  fi
  [ -s "$out/scaling.png" ] && [ "$(head -c 4 "$out/scaling.png" | tail -c 3)" = PNG ] || fail "no scaling.png"
fi
check '.errors == []' "sections failed: $(jq -c .errors "$json")"
grep -q '^# qt-vmm benchmarks' "$md" || fail "results.md has no title"
grep -q '^## Goals' "$md" || fail "results.md has no goals table"
[ "$(grep -c '^| ' "$md")" -gt 20 ] || fail "results.md has too few table rows"
grep -q 'QUICK=1 smoke run' "$md" || fail "results.md does not say it is a smoke run"
echo "bench QUICK=1: $(jq '.figures | length' "$json") figures, $(jq '[.figures[] | select(.status != "ok")] | length' "$json") not available, $(jq .duration_s "$json") s"

# The scaling rows as the nested L1 runs them (nested_bench.py --scaling: bench.py's launch
# section with BENCH_SCALING_ONLY=1), here on the host for one round: whatever 1 GiB pages the
# host lacks is "not available", the 128 MiB row (fresh and from the pre-zeroed pool) is measured
# with every LaunchTimingsMs step, and the rows outside the issue's ratios are not run at all.
if [ "$(id -u)" -eq 0 ] && [ -w /dev/kvm ]; then
  sj="$TEST_TMP/scaling.json"
  BUILD="$BUILD" QT_VMM="$BUILD/bin/qt-vmm" /usr/bin/python3 "$TOP/tools/bench/nested_bench.py" --scaling --rounds 1 \
    --work "$TEST_TMP/nested-bench" --out "$sj" || fail "nested_bench.py --scaling failed"
  sc() { jq -e "$1" "$sj" >/dev/null || fail "nested_bench.py --scaling: $2 ($1)"; }
  sc '(.l1 | test("vCPUs")) and (.load_start | length == 3) and (.load_end | length == 3)' "header"
  sc '[.figures[] | .id | startswith("scaling")] | all' "a figure outside scaling.*"
  for id in first_io vm_ms load_ms vcpus_ms memory_ms pool.first_io; do
    sc ".figures | any(.id == \"scaling.$id.128M-2M-1\" and .status == \"ok\" and .n == 1)" "scaling.$id.128M-2M-1 not measured"
  done
  sc '.figures | any(.id == "scaling.first_io.512M-2M-1" and .status == "not available" and (.reason | test("BENCH_SCALING_ONLY")))' \
    "the 512 MiB row ran in the scaling-only mode"
  sc '[.figures[] | select(.id | test("^scaling\\.(fresh\\.)?ratio\\.(4G-1G-1\\.vs\\.128M-2M-1|8G-1G-1\\.vs\\.1G-1G-1)$"))] | length >= 2' \
    "the issue's two scaling ratios are missing (measured or not available)"
  echo "nested_bench.py --scaling (host, 1 round): $(jq '[.figures[] | select(.status == "ok")] | length' "$sj") figures measured"
fi
