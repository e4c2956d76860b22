#!/bin/sh
# Runs every test suite (unit, then end-to-end) with the ASan+UBSan build, from the
# repository root, and prints one closing line with the totals.
cd "$(dirname "$0")/.." || exit 1
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
status=0
for suite in unit-tests e2e-tests; do
	echo "== $suite"
	./build/asan/$suite --jobs=2 2>&1 | tee "build/asan/$suite.log" || status=1
	# criterion exits non-zero on failure; tee hides it, so read the synthesis line
	grep -q 'Failing: 0 | Crashing: 0' "build/asan/$suite.log" || status=1
done
echo "== interpreters"
grep -h '^interpreter ' build/asan/e2e-tests.log | sort || true
exit $status
