#!/usr/bin/env bash
# The quirk-free path, the one real users get: on a KVM whose guest user mode works, host-check
# says so and start applies none of the nested-KVM workarounds. Seen from inside the guest: its
# /proc/cmdline has none of the appended flags (noxsave nofsgsbase nopcid noinvpcid clearcpuid=),
# and its CPUID still shows cx16 and popcnt (hidden by the quirks) wherever the host has them.
source "$TOP/tests/lib.sh"
source "$TOP/tools/image/testdata/image_helpers.sh"
source "$TOP/tests/tcg_lib.sh"
kvm_e2e_setup 2

hc=$("$QT_VMM" host-check)
expect_eq "$(jq -r '.[] | select(.Check == "guest-user-mode") | .Verdict' <<<"$hc")" ok "host-check guest-user-mode"
tcg_image plain '{"Entrypoint":["app_echo_env","--file=/proc/cmdline","--file=/proc/cpuinfo"],"Env":["PATH=/bin"]}' app_echo_env
tcg_start "$TEST_TMP/plain.eif"
wait_terminated "$ID" 120
out=$(console "$ID")
cmdline=$(sed -nE 's/^ECHO file \/proc\/cmdline: //p' <<<"$out")
echo "guest cmdline: $cmdline"
[ -n "$cmdline" ] || fail "the app did not report /proc/cmdline"
for flag in noxsave nofsgsbase nopcid noinvpcid clearcpuid; do
  expect_not_contains "$cmdline" "$flag" "the guest's command line"
done
flags=$(sed -nE '0,/^ECHO file \/proc\/cpuinfo: flags\s*: /s///p' <<<"$out")
for f in cx16 popcnt; do
  if grep -qw "$f" /proc/cpuinfo; then
    grep -qw "$f" <<<"$flags" || fail "the host has $f but the guest's CPUID hides it: $flags"
  fi
done
expect_eq "$(field "$ID" AppStatus.Kind)" exited AppStatus.Kind
echo PASS
