#!/bin/bash
# tests/fuzz/run.sh SECONDS NAME… — runs build/fuzz/fuzz_NAME for SECONDS over
# tests/fuzz/corpus/NAME (read only: new inputs go to a scratch directory). Prints one
# PASS/FAIL line per target; a crash, leak or UB report is a FAIL with its artifact kept.
set -u
secs=$1
shift
cd "$(dirname "$0")/../.." || exit 1
scratch=$(mktemp -d /tmp/jfe-fuzz.XXXXXX)
trap 'rm -rf "$scratch"' EXIT
rc=0
for n in "$@"; do
	bin=build/fuzz/fuzz_$n
	mkdir -p "$scratch/$n" "$scratch/$n.art"
	if [[ ! -x $bin ]]; then
		echo "FAIL: fuzz.$n (not built)"
		rc=1
		continue
	fi
	if "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
		-artifact_prefix="$scratch/$n.art/" "$scratch/$n" "tests/fuzz/corpus/$n" \
		>"$scratch/$n.log" 2>&1; then
		runs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$scratch/$n.log" | awk '{print $2}')
		[[ -n $runs ]] || runs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$scratch/$n.log" | tail -1)
		echo "PASS: fuzz.$n (${secs}s, ${runs:-?} runs)"
	else
		echo "FAIL: fuzz.$n"
		grep -E 'ERROR|SUMMARY|runtime error' "$scratch/$n.log" | head -5 | sed 's/^/  # /'
		mkdir -p build/fuzz/artifacts && cp -r "$scratch/$n.art" "build/fuzz/artifacts/$n" 2>/dev/null
		rc=1
	fi
done
exit $rc
