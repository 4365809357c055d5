#!/bin/bash
# tests/integration/test_fuzz_smoke.sh — every libFuzzer target built and run briefly over its
# seed corpus (the short version of `make fuzz`): no crash, leak or undefined behaviour.
set -u
cd "$(dirname "$0")/../.." || exit 1
if ! make -s fuzz-build >/tmp/jfe-fuzz-build.$$ 2>&1; then
	echo "FAIL: fuzz.build"
	tail -20 /tmp/jfe-fuzz-build.$$ | sed 's/^/  # /'
	rm -f /tmp/jfe-fuzz-build.$$
	exit 1
fi
rm -f /tmp/jfe-fuzz-build.$$
# shellcheck disable=SC2046
tests/fuzz/run.sh "${FUZZ_SMOKE_SECONDS:-8}" $(sed -n 's/^FUZZ_NAMES *:= *//p' tests/fuzz/targets.mk)
