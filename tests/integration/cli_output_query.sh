#!/usr/bin/env bash
# --query (JMESPath) and --output as knack renders them, on real command output: every format of
# describe-eif, pcr, enclave query (no enclaves), allocator --show (fake sysfs) and host-check's
# structure, with and without queries, against golden files (tests/integration/golden/cli_output/
# NAME.FORMAT; `none` must print nothing); --query before or after the command; jsonc and yamlc
# coloured only on a terminal; bad queries refused in one line before the command runs.
# UPDATE_GOLDEN=1 rewrites the golden files (check the diff: they were verified against knack).
source "$TOP/tests/lib.sh"
source "$TOP/tests/fake_sysfs.sh"
golden=$TOP/tests/integration/golden/cli_output
mk="$BUILD/bin/eif-testdata"
[ -x "$mk" ] || fail "$mk missing; run make"
cd "$TEST_TMP"

# --- deterministic inputs: an EIF whose every byte is fixed -----------------------------------
head -c 70000 < <(yes kernel) > kernel
printf '#\n# Automatically generated file; DO NOT EDIT.\n# Linux/x86_64 6.1.99 Kernel Configuration\n#\n' > kernel.config
head -c 20000 < <(yes rd0) > rd0
head -c 30000 < <(yes rd1) > rd1
printf '{"team":"enclaves","ticket":42,"answer":"yes","tags":["a","b"]}' > custom.json
SOURCE_DATE_EPOCH=1700000000 "$mk" image.eif kernel "console=ttyS0 reboot=k" rd0 rd1 --name hello --version 3.1 \
  --metadata custom.json > /dev/null
mkdir run && export QT_VMM_RUN_DIR=$TEST_TMP/run
make_fake_sysfs "$TEST_TMP/sys"
export QT_VMM_SYSFS_ROOT=$TEST_TMP/sys

checked=0
# golden NAME ARGS...: qt-vmm -o FORMAT ARGS... in every format, stdout a file (so no colour).
golden() {
  local name=$1 f; shift
  for f in json jsonc yaml yamlc table tsv; do
    "$QT_VMM" -o "$f" "$@" > "$name.$f" || fail "qt-vmm -o $f $* failed"
    [ "${UPDATE_GOLDEN:-0}" = 1 ] && cp "$name.$f" "$golden/$name.$f"
    cmp -s "$golden/$name.$f" "$name.$f" || { diff "$golden/$name.$f" "$name.$f" | head -n 20; fail "$name.$f differs from the golden file"; }
    checked=$((checked + 1))
  done
  cmp -s "$name.json" "$name.jsonc" || fail "$name: jsonc into a file is not plain json"
  cmp -s "$name.yaml" "$name.yamlc" || fail "$name: yamlc into a file is not plain yaml"
  [ -z "$("$QT_VMM" -o none "$@")" ] || fail "$name: --output none printed something"
}

golden describe-eif enclave describe-eif --eif image.eif
golden describe-eif.measurements --query Measurements enclave describe-eif --eif image.eif
golden describe-eif.projection --query '{Version: EifVersion, Name: ImageName, PCR0: Measurements.PCR0, Signed: IsSigned, Meta: Metadata}' \
  enclave describe-eif --eif image.eif
golden describe-eif.pcr0 --query Measurements.PCR0 enclave describe-eif --eif image.eif
golden describe-eif.keys --query 'keys(@)' enclave describe-eif --eif image.eif
golden describe-eif.list --query '[EifVersion, IsSigned, Metadata.tags, Metadata]' enclave describe-eif --eif image.eif
golden describe-eif.as-record --query '@' enclave describe-eif --eif image.eif
golden pcr enclave pcr --input rd1
golden query enclave query
golden query.ids --query '[].EnclaveID' enclave query
golden query.count --query 'length(@)' enclave query
golden allocator-show allocator --show
golden allocator-show.filter --query "[?HugepageSize=='1G'].{Node: NumaNode, Free: Free, MiB: FreeMiB}" allocator --show
golden allocator-show.sorted --query 'sort_by(@, &Free)[].[NumaNode, HugepageSize, Free]' allocator --show
# host-check's values depend on the host; its shape does not.
golden host-check.keys --query '[0] | keys(@)' host-check
golden host-check.verdicts --query "length([?!contains(['ok', 'warn', 'fail'], Verdict)])" host-check
[ "$checked" -eq 96 ] || fail "checked $checked golden files, expected 96"

# A query selecting nothing prints nothing, in every format (knack prints no null result).
for f in json yaml table tsv; do
  [ -z "$("$QT_VMM" -o "$f" --query NoSuchField enclave describe-eif --eif image.eif)" ] || fail "null result printed in $f"
done
# --query after the command works too.
"$QT_VMM" enclave describe-eif --eif image.eif --query Measurements.PCR0 | cmp - describe-eif.pcr0.json \
  || fail "--query after the command"

# --- colour: only when stdout and stderr are terminals --------------------------------------
on_tty() { script -qec "$*" /dev/null | tr -d '\r'; }
tty_jsonc=$(on_tty "$QT_VMM" -o jsonc enclave pcr --input rd1)
expect_contains "$tty_jsonc" $'\x1b[94m"PCR"\x1b[39;49;00m' "jsonc on a terminal"
[ "$(sed 's/\x1b\[[0-9;]*m//g' <<<"$tty_jsonc")" = "$(cat pcr.json)" ] || fail "jsonc on a terminal differs from json once uncoloured"
tty_yamlc=$(on_tty "$QT_VMM" -o yamlc enclave pcr --input rd1)
expect_contains "$tty_yamlc" $'\x1b[94mPCR\x1b[39;49;00m:' "yamlc on a terminal"
[ "$(sed 's/\x1b\[[0-9;]*m//g' <<<"$tty_yamlc")" = "$(cat pcr.yaml)" ] || fail "yamlc on a terminal differs from yaml once uncoloured"
expect_not_contains "$(on_tty "$QT_VMM" -o json enclave pcr --input rd1)" $'\x1b[' "json on a terminal"
expect_not_contains "$(on_tty "$QT_VMM -o jsonc enclave pcr --input rd1 | cat")" $'\x1b[' "jsonc into a pipe"

# --- bad queries: one line, INVALID_QUERY, usage status, nothing on stdout, before the command -
run_fail() { # STATUS CODE NEEDLE ARGS...
  local want=$1 code=$2 needle=$3; shift 3
  set +e; "$QT_VMM" "$@" > out.txt 2> err.txt; local got=$?; set -e
  [ "$got" -eq "$want" ] || { cat err.txt; fail "qt-vmm $* exited $got, expected $want"; }
  [ "$(wc -l < err.txt)" -eq 1 ] || { cat err.txt; fail "qt-vmm $*: stderr is not one line"; }
  expect_contains "$(cat err.txt)" "[$code]" "stderr of qt-vmm $*"
  expect_contains "$(cat err.txt)" "$needle" "stderr of qt-vmm $*"
  [ ! -s out.txt ] || fail "qt-vmm $*: printed a result despite failing"
}
run_fail 2 INVALID_QUERY "syntax error at column 5" --query 'foo[' enclave describe-eif --eif image.eif
run_fail 2 INVALID_QUERY "fix the JMESPath expression" --query 'a ==' enclave pcr --input rd1
run_fail 2 INVALID_QUERY "unknown function" --query 'nosuch(@)' enclave query
run_fail 2 INVALID_QUERY "invalid-arity" --query 'length(a, b)' enclave query
run_fail 2 INVALID_QUERY "invalid-type" --query 'abs(ImageName)' enclave describe-eif --eif image.eif
run_fail 2 INVALID_QUERY "syntax error" --query $'a\nb' enclave pcr --input rd1
run_fail 2 INVALID_QUERY "syntax error" --query "$(printf "'\xff'")" enclave pcr --input rd1
# The query is checked before the command runs: a missing file is not even looked at.
run_fail 2 INVALID_QUERY "syntax error" --query '[' enclave describe-eif --eif missing.eif
run_fail 2 TABLE_UNAVAILABLE "--query" -o table --query '{m: Measurements}' enclave describe-eif --eif image.eif
echo "cli output and --query: $checked golden files and all checks passed"
