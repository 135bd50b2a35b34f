#!/usr/bin/env bash
# timeout: 1200
# Every libFuzzer target builds (each links its own list of sources, which can drift from the
# libraries': five of them once stopped linking unnoticed) and runs over its seed inputs without
# a crash or sanitizer report (`make fuzz FUZZ_SECONDS=0`).
source "$TOP/tests/lib.sh"
command -v clang++ >/dev/null || skip "clang++ is not installed (scripts/install-deps.sh installs it)"
out=$(make -C "$TOP" -j2 --no-print-directory fuzz FUZZ_SECONDS=0 BUILD="$BUILD" 2>&1) || { echo "$out" | tail -n 40; fail "make fuzz FUZZ_SECONDS=0 failed"; }
echo "$out" | grep '^fuzz:'
targets=$(grep -h '^FUZZERS +=' "$TOP"/*/module.mk "$TOP"/*/*/module.mk | wc -l)
ran=$(echo "$out" | grep -c '^fuzz: .* over its seeds')
expect_eq "$ran" "$targets" "fuzz targets run over their seeds"
echo PASS
