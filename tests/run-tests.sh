#!/usr/bin/env bash
# Runs every qt-vmm test and prints one summary line: "N passed, N failed[, N skipped]".
#
#   tests/run-tests.sh UNIT_TEST_BINARY...     (make test calls this)
#
# Unit tests: each doctest binary counts its test cases.
# Integration tests: every tests/integration/*.sh is one test, run with a fresh TEST_TMP and a
# timeout (TEST_TIMEOUT, default 600 s; a test that needs longer says so in a "# timeout: S"
# line). Exit 0 = passed, 77 = skipped (the test prints "SKIP: <reason>", shown here), anything
# else = failed (the tail of its log is shown). A test that runs several tests of its own (e.g.
# kvm_e2e, inside the nested L1) prints one line per test, "SUBTEST ok|FAIL|skip NAME [detail]";
# each then counts on its own, and the script's exit status counts only if no SUBTEST failed.
# Why each test failed (the tails shown as it ran) is shown again just before the summary, so the
# end of the output says it. Full logs: $BUILD/test-logs/. TESTS=glob runs only matching integration tests (e.g. TESTS='eif_*').
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
: "${BUILD:?BUILD must name the build directory}"
export BUILD QT_VMM="$BUILD/bin/qt-vmm" TOP="$top"
KERNEL=$("$top/kernel-config/build-kernel.sh" --path 2>/dev/null || true)
export KERNEL
logs="$BUILD/test-logs"
rm -rf "$logs"
mkdir -p "$logs"

passed=0 failed=0 skipped=0
failures=()
why="$logs/why-failed.txt"   # each failure's tail, repeated at the end
: >"$why"

# fail_tail NAME LINES LOG: prints the last LINES of LOG now and keeps them for the end.
fail_tail() {
  local name=$1 lines=$2 log=$3
  { echo "== $name"; tail -n "$lines" "$log" | sed 's/^/    /'; } | tee -a "$why" | tail -n +2
}

for bin in "$@"; do
  name=$(basename "$bin")
  log="$logs/$name.log"
  "$bin" --no-colors=true >"$log" 2>&1
  status=$?
  line=$(grep -E '^\[doctest\] test cases:' "$log" | tail -n1)
  p=$(sed -nE 's/.*\| *([0-9]+) passed.*/\1/p' <<<"$line")
  f=$(sed -nE 's/.*\| *([0-9]+) failed.*/\1/p' <<<"$line")
  s=$(sed -nE 's/.*\| *([0-9]+) skipped.*/\1/p' <<<"$line")
  if [ -z "$p" ]; then
    p=0 f=1 s=0   # crashed before doctest could report: count the binary as one failure
  fi
  if [ "$status" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
  passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
  if [ "$f" -ne 0 ]; then
    echo "FAIL unit $name ($f failed) — log: $log"
    fail_tail "unit $name" 40 "$log"
    failures+=("$name")
  else
    echo "ok   unit $name ($p test cases)"
  fi
done

pattern="${TESTS:-*}"
for t in "$here"/integration/$pattern.sh; do
  [ -f "$t" ] || continue
  name=$(basename "$t" .sh)
  log="$logs/$name.log"
  export TEST_TMP
  TEST_TMP=$(mktemp -d "${TMPDIR:-/tmp}/qt-vmm-test-$name.XXXXXX")
  start=$(date +%s.%N)
  limit=$(sed -nE 's/^# timeout: ([0-9]+)$/\1/p' "$t" | head -n1)
  limit=${TEST_TIMEOUT:-${limit:-600}}
  timeout --kill-after=10 "$limit" bash "$t" >"$log" 2>&1 </dev/null
  status=$?
  secs=$(printf '%.1f' "$(echo "$(date +%s.%N) - $start" | bc)")
  if grep -qE '^SUBTEST (ok|FAIL|skip) ' "$log"; then
    sub_failed=0
    while read -r verdict sub detail; do
      case "$verdict" in
        ok)   passed=$((passed + 1)); echo "ok   $name/$sub${detail:+ $detail}" ;;
        skip) skipped=$((skipped + 1)); echo "skip $name/$sub${detail:+: $detail}" ;;
        *)    failed=$((failed + 1)); sub_failed=1; failures+=("$name/$sub")
              echo "FAIL $name/$sub${detail:+ $detail} — log: $log"
              # the indented lines after its SUBTEST line: the tail of its own log
              { echo "== $name/$sub"
                awk -v s="$sub" '$1 == "SUBTEST" && $3 == s { on = 1; next } on && /^    / { print; next } { on = 0 }' "$log"
              } >>"$why" ;;
      esac
    done < <(sed -nE 's/^SUBTEST (ok|FAIL|skip) /\1 /p' "$log")
    if [ "$status" -ne 0 ] && [ "$status" -ne 77 ] && [ "$sub_failed" -eq 0 ]; then
      failed=$((failed + 1)); failures+=("$name")
      [ "$status" -eq 124 ] && echo "FAIL $name (timed out after $limit s) — log: $log" \
                            || echo "FAIL $name (exit $status, ${secs} s) — log: $log"
      fail_tail "$name" 30 "$log"
    elif [ "$sub_failed" -ne 0 ]; then
      tail -n 30 "$log" | sed 's/^/    /'
    else
      echo "     $name took ${secs} s"
    fi
    rm -rf "$TEST_TMP"
    continue
  fi
  case "$status" in
    0)  passed=$((passed + 1)); echo "ok   $name (${secs} s)" ;;
    77) skipped=$((skipped + 1))
        reason=$(grep -E '^SKIP: ' "$log" | tail -n1 | cut -c7-)
        echo "skip $name: ${reason:-no reason given}" ;;
    *)  failed=$((failed + 1)); failures+=("$name")
        [ "$status" -eq 124 ] && echo "FAIL $name (timed out after $limit s) — log: $log" \
                              || echo "FAIL $name (exit $status, ${secs} s) — log: $log"
        fail_tail "$name" 30 "$log" ;;
  esac
  rm -rf "$TEST_TMP"
done

summary="$passed passed, $failed failed"
[ "$skipped" -gt 0 ] && summary="$summary, $skipped skipped"
if [ "${#failures[@]}" -gt 0 ]; then
  echo "---- why they failed (the end of each log) ----"
  cat "$why"
  echo "failed: ${failures[*]}"
fi
echo "$summary"
[ "$failed" -eq 0 ]
