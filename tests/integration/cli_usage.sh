#!/usr/bin/env bash
# The command line is checked before anything runs: mistyped commands are named with the closest
# one and the choices, a group without its command says so, negative or malformed numbers are
# refused as written (never wrapped into huge unsigned values) before any KVM probe or
# allocation, a missing file is FILE_OPEN (exit 8) in every command, and every command's -h
# ends with examples. The commands of the companion qt-vmm-tools (make-img, vsock proxy) behave
# as qt-vmm's own, qt-vmm without its companion says so in one line, and qt-vmm (what every
# launch execs) loads none of the image-building or YAML libraries.
source "$TOP/tests/lib.sh"
export QT_VMM_RUN_DIR="$TEST_TMP/run"

# run ARGS...: sets OUT (stderr+stdout) and RC
run() { RC=0; OUT=$("$QT_VMM" "$@" 2>&1) || RC=$?; echo "\$ qt-vmm $*  -> $RC: $OUT"; }

run enclave fly
expect_eq "$RC" 2 "exit status of an unknown command"
expect_contains "$OUT" "error [USAGE]: 'fly' is not a command of 'qt-vmm enclave'"
expect_contains "$OUT" "choose from: console, describe-eif, make-img, pcr, query, sign, start, stop"
run enclave strat --eif x.eif
expect_contains "$OUT" "did you mean 'qt-vmm enclave start'?"
run --output table enclav query
expect_contains "$OUT" "'enclav' is not a command of 'qt-vmm'; did you mean 'qt-vmm enclave'?"
run vsock
expect_eq "$RC" 2 "exit status of a group without its command"
expect_contains "$OUT" "'qt-vmm vsock' needs a command: connect, forward, proxy, vhost-user"

# Numbers as written, refused before any probe: the run directory stays untouched.
run enclave start --eif "$TEST_TMP/none.eif" --cpus 2 --mem 512 --cid -5
expect_eq "$RC" 2 "exit status of --cid -5"
expect_contains "$OUT" "--cid: '-5' is not a whole number 0 or more"
run enclave start --eif "$TEST_TMP/none.eif" --cpus 2 --mem 512 --cid 3
expect_eq "$RC" 3 "exit status of --cid 3"
expect_contains "$OUT" "error [CID_OUT_OF_RANGE]: --cid 3 is out of range; use a CID from 4 to 4294967294"
run enclave start --eif "$TEST_TMP/none.eif" --cpus -2 --mem 512
expect_contains "$OUT" "--cpus: '-2' is not a whole number 0 or more"
run enclave start --eif "$TEST_TMP/none.eif" --mem 12x
expect_contains "$OUT" "--mem: '12x' is not a whole number 0 or more"
[ ! -e "$QT_VMM_RUN_DIR" ] || [ -z "$(ls -A "$QT_VMM_RUN_DIR")" ] \
  || fail "a refused command line still touched the run directory: $(ls -A "$QT_VMM_RUN_DIR")"
for cmd in "enclave query" "enclave stop" "enclave console"; do
  run $cmd --enclave-id -1
  expect_eq "$RC" 2 "exit status of $cmd --enclave-id -1"
  expect_contains "$OUT" "--enclave-id: '-1' is not a whole number 0 or more"
done

# One code for a missing file, whichever command meets it.
run enclave start --eif "$TEST_TMP/none.eif" --cpus 2 --mem 512
expect_eq "$RC" 8 "exit status of start with a missing EIF"
expect_contains "$OUT" "error [FILE_OPEN]: cannot open $TEST_TMP/none.eif"
run enclave describe-eif --eif "$TEST_TMP/none.eif"
expect_eq "$RC" 8 "exit status of describe-eif with a missing EIF"
expect_contains "$OUT" "error [FILE_OPEN]: cannot open $TEST_TMP/none.eif"

# The companion program: same options, same errors, found beside qt-vmm.
run enclave make-img --docker-uri "oci:$TEST_TMP/none" --eif "$TEST_TMP/out.eif"
expect_eq "$RC" 8 "exit status of make-img (through qt-vmm-tools) with a missing layout"
expect_contains "$OUT" "error [IMG_SOURCE_NOT_FOUND]: image layout directory '$TEST_TMP/none' does not exist"
run --output yaml vsock proxy 8000 example.com 443 --uds-path "$TEST_TMP/none.sock" --config "$TEST_TMP/none.yaml"
expect_eq "$RC" 8 "exit status of vsock proxy (through qt-vmm-tools) with a missing allowlist"
expect_contains "$OUT" "cannot open $TEST_TMP/none.yaml"
run vsock proxy 0 example.com 443
expect_eq "$RC" 2 "exit status of vsock proxy with port 0"
run enclave make-img -h
expect_contains "$OUT" "--docker-uri"
mkdir -p "$TEST_TMP/alone" && cp "$QT_VMM" "$TEST_TMP/alone/qt-vmm"
(cd "$TEST_TMP" && expect_cli_error 8 TOOLS_MISSING "$TEST_TMP/alone/qt-vmm" enclave make-img --docker-uri oci:x --eif y.eif)
expect_contains "$(cat "$TEST_TMP/err.txt")" "$TEST_TMP/alone/qt-vmm-tools, which does not exist; install qt-vmm-tools beside qt-vmm"
"$TEST_TMP/alone/qt-vmm" enclave query >/dev/null || fail "qt-vmm alone cannot run its own commands"
libs=$(ldd "$QT_VMM")
for lib in libarchive libxml2 libicu libyaml-cpp liblzma libbz2; do
  ! grep -q "$lib" <<<"$libs" || fail "qt-vmm loads $lib, which launching never needs: $libs"
done

# Examples in every command's -h.
for cmd in "enclave make-img" "enclave start" "enclave stop" "enclave query" "enclave console" "enclave describe-eif" \
  "enclave pcr" "enclave sign" "allocator" "host-check" "vsock connect" "vsock forward" "vsock proxy" "vsock vhost-user" \
  "attestation root-cert" "attestation verify"; do
  help=$("$QT_VMM" $cmd -h)
  grep -q "^Examples:" <<<"$help" || fail "$cmd -h has no examples"
  grep -q "^  qt-vmm $cmd\|^  sudo qt-vmm $cmd\|^  echo .* | qt-vmm $cmd\|^  qt-vmm .*$cmd" <<<"$help" || fail "$cmd -h: no example runs $cmd"
done
echo PASS
