#!/usr/bin/env bash
# Under `set -o pipefail` (tests/lib.sh, scripts/*.sh) `cmd | grep -q PATTERN` fails now and then
# although PATTERN is there: grep -q exits at its first match, and a cmd that writes again after
# that dies of SIGPIPE, which pipefail makes the pipeline's status. It skipped nested_l1_wedge in
# a CI run (`/bin/busybox --list | grep -qx insmod` in l1-assets.sh --check: 1 run in 200 here),
# and could skip vhost_user_qemu or tcg_attestation (`qemu -device help | grep -q`). The project
# writes `cmd | grep PATTERN >/dev/null` instead, which reads all of cmd's output. This test
# finds any pipe into `grep -q` in the project's shell scripts, then shows the failure itself.
source "$TOP/tests/lib.sh"
cd "$TOP"
scripts=$(find tests scripts kernel-config tools .ci -name build -prune -o -type f \( -name '*.sh' -o -path .ci/run \) -print | sort)
[ -n "$scripts" ] || fail "no shell scripts found under $TOP"
# Comment lines aside, and this file (whose demonstration below does it on purpose).
offenders=$(grep -nE '\|[[:space:]]*grep[[:space:]]+-[A-Za-z]*q' $scripts | grep -vE '^[^:]+:[0-9]+:[[:space:]]*#' \
  | grep -v '^tests/integration/shell_pipefail_grep.sh:' || true)
[ -z "$offenders" ] || fail "pipes into grep -q (use 'grep PATTERN >/dev/null' under pipefail):"$'\n'"$offenders"
echo "ok: no pipe into grep -q in $(wc -l <<<"$scripts") shell scripts"

# The mechanism, made certain: a writer that goes on writing after the match until the pipe
# breaks (SIGPIPE, or EPIPE where SIGPIPE is ignored) — grep -q has stopped reading by then.
endless() { echo match; while echo more; do sleep 0.05; done; }
rc=0; ( set -o pipefail; endless | grep -q match ) || rc=$?
rc_q=$rc
[ "$rc" -ne 0 ] || fail "'endless | grep -q match' passed under pipefail: grep -q should have broken the pipe"
finite() { echo match; sleep 0.1; echo more; }
rc=0; ( set -o pipefail; finite | grep match >/dev/null ) || rc=$?
expect_eq "$rc" 0 "pipefail status of 'finite | grep match >/dev/null'"
echo "ok: under pipefail 'cmd | grep -q' fails ($rc_q) once cmd writes after the match; 'cmd | grep >/dev/null' passes"
