#!/bin/bash
# tests/valgrind.sh — every unit-test binary of the release tree (build/rel/tests/test_*, no
# sanitizers: valgrind and ASan do not mix) under valgrind memcheck: no invalid access, no use
# of uninitialised memory, no definite or indirect leak, in the test or in any child it forks.
# Build first: `make valgrind` does both.
#
# usage: tests/valgrind.sh [FILTER…]   (only the binaries whose name contains a FILTER)
# Prints "PASS: valgrind.test_x (N cases, Ts)" or "FAIL: valgrind.test_x" with the report's
# head, then "N passed, M failed". Third-party noise is suppressed by tests/valgrind.supp
# (each entry explained there). JFE_VALGRIND_TIMEOUT: seconds per binary (default 600).
set -u
cd "$(dirname "$0")/.." || exit 2
command -v valgrind >/dev/null || { echo "FAIL: valgrind (not installed: tests/deps.sh)"; exit 1; }

logs=$(mktemp -d /tmp/jfe-valgrind.XXXXXX) || exit 2
trap 'rm -rf "$logs"' EXIT
passed=0 failed=0
for bin in build/rel/tests/test_*; do
	[[ -f $bin && -x $bin ]] || continue
	case $bin in *.o | *.d) continue ;; esac
	name=$(basename "$bin")
	if (($#)); then
		sel=0
		for f in "$@"; do [[ $name == *"$f"* ]] && sel=1; done
		((sel)) || continue
	fi
	mkdir -p "$logs/$name"
	start=$SECONDS
	# One log per process (%p): forked children are checked too, each at its exit.
	timeout -k 10 "${JFE_VALGRIND_TIMEOUT:-600}" valgrind -q --error-exitcode=1 \
		--leak-check=full --errors-for-leak-kinds=definite,indirect \
		--show-leak-kinds=definite,indirect --track-fds=no --num-callers=30 \
		--suppressions=tests/valgrind.supp --log-file="$logs/$name/vg.%p" \
		"$bin" >"$logs/$name/out" 2>&1 </dev/null
	rc=$?
	secs=$((SECONDS - start))
	cases=$(grep -c '^PASS: ' "$logs/$name/out")
	report=$(cat "$logs/$name"/vg.* 2>/dev/null)
	if [[ $rc == 0 && -z $report ]] && ! grep -q '^FAIL: ' "$logs/$name/out"; then
		echo "PASS: valgrind.$name ($cases cases, ${secs}s)"
		passed=$((passed + 1))
		continue
	fi
	echo "FAIL: valgrind.$name (exit $rc, ${secs}s)"
	failed=$((failed + 1))
	grep '^FAIL: ' "$logs/$name/out" | head -5 | sed 's/^/  # /'
	[[ -n $report ]] && printf '%s\n' "$report" | head -40 | sed 's/^/  # /'
done
echo "$passed passed, $failed failed"
((failed == 0 && passed > 0))
