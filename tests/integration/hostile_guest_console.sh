#!/usr/bin/env bash
# A guest writes terminal escape sequences (an OSC window-title change, a colour, a raw 8-bit CSI
# and malformed UTF-8) to its console: `console`, `console --no-follow` and the console saved
# after the end show them as visible text (\x1b, \x07, U+FFFD), never as raw control bytes that
# the viewer's terminal would act on; `--raw` still gives the guest's exact bytes.
source "$TOP/tests/lib.sh"
source "$TOP/tests/vmm_lib.sh"
vmm_setup

# The probe's report prints its command line back ("PROBE cmdline=..."): a tag is the payload.
payload=$'\e]0;pwned\a\e[31mRED\x9b2J\xc0\xaf'
probe_eif "$TEST_TMP/esc.eif" "probe.mode=report probe.tag=$payload"
out=$("$QT_VMM" enclave start --heartbeat-timeout 0 --eif "$TEST_TMP/esc.eif" --cpus 1 --allow-shared-cpus --mem 128 \
  --debug-mode --hugepage-size 2M)
id=$(jq -r .EnclaveID <<<"$out")
# Right after start: the live stream (replayed from the start, followed to the end).
"$QT_VMM" enclave console --enclave-id "$id" >"$TEST_TMP/live.txt" 2>/dev/null
wait_terminated "$id" 60

# control_bytes FILE: how many bytes a terminal would act on (C0 but \t \n \r, DEL, raw C1).
control_bytes() { LC_ALL=C tr -d '\t\n\r\040-\176\240-\377' <"$1" | wc -c; }
expected='probe.tag=\x1b]0;pwned\x07\x1b[31mRED'$'\xef\xbf\xbd''2J'$'\xef\xbf\xbd\xef\xbf\xbd'
check_safe() { # FILE WHAT
  echo "---- $2 (cat -v) ----"; cat -v "$1"
  [ "$(control_bytes "$1")" = 0 ] || fail "$2: $(control_bytes "$1") raw control bytes would reach the terminal"
  grep -qF -- "$expected" "$1" || fail "$2: the escape sequences are not shown as visible text"
}
check_safe "$TEST_TMP/live.txt" "console (followed)"
# The enclave has ended: the console it left behind, with and without --no-follow.
"$QT_VMM" enclave console --enclave-id "$id" --no-follow >"$TEST_TMP/nofollow.txt" 2>/dev/null
check_safe "$TEST_TMP/nofollow.txt" "console --no-follow"
"$QT_VMM" enclave console --enclave-id "$id" >"$TEST_TMP/saved.txt" 2>/dev/null
check_safe "$TEST_TMP/saved.txt" "saved console"
# --raw: the guest's exact bytes.
"$QT_VMM" enclave console --enclave-id "$id" --raw >"$TEST_TMP/raw.txt" 2>/dev/null
grep -qF -- "probe.tag=$payload" "$TEST_TMP/raw.txt" || fail "--raw: the guest's exact bytes expected"
"$QT_VMM" enclave stop --enclave-id "$id" >/dev/null
echo PASS
