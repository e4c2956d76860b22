#!/bin/sh
# Runs every test suite (unit, then end-to-end) with the ASan+UBSan build, then the real-server
# tests with the release build, from the repository root, and prints one closing line with
# the totals.
cd "$(dirname "$0")/.." || exit 1
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}"
export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$PWD/tests/lsan.supp:print_suppressions=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
# a fresh layout cache, so every run parses DWARF at least once
export XDG_CACHE_HOME="$PWD/build/test-cache"
rm -rf "$XDG_CACHE_HOME"
status=0
failed=
export TGATTACH="${TGATTACH:-./tgattach}"
# run_step NAME COMMAND...: runs COMMAND with its output shown and kept in build/NAME.log; on
# failure, names the step and its failing lines in the summary printed last
# (and how long it took: make test has 20 minutes on a fresh 2-core machine)
run_step() {
	name=$1
	shift
	step_t0=$(date +%s)
	{
		"$@" 2>&1
		echo $? >"build/$name.rc"
	} | tee "build/$name.log"
	echo "step $name: $(($(date +%s) - step_t0)) s"
	if [ "$(cat "build/$name.rc")" != 0 ]; then
		status=1
		failed="$failed$name: FAILED (build/$name.log)
$(grep -E 'FAIL|ERROR|SUMMARY|not handled|harmed|: failed \(|missed, run again' "build/$name.log" |
			grep -v ' passed ' | head -n 8)
"
	fi
}
tests_t0=$(date +%s)
for suite in unit-tests e2e-tests; do
	echo "== $suite"
	step_t0=$(date +%s)
	./build/asan/$suite --jobs=2 2>&1 | tee "build/asan/$suite.log" || status=1
	echo "step $suite: $(($(date +%s) - step_t0)) s"
	# criterion exits non-zero on failure; tee hides it, so read the synthesis line
	if ! grep -q 'Failing: 0 | Crashing: 0' "build/asan/$suite.log"; then
		status=1
		failed="$failed$(grep -E '^\[(FAIL|----)\]|Synthesis' "build/asan/$suite.log" |
			grep -v -E '^\[----\] *$')
"
	fi
	# LeakSanitizer reports from a test process come after Criterion counted the test
	if grep -q 'ERROR: LeakSanitizer' "build/asan/$suite.log"; then
		echo "$suite: LeakSanitizer reported leaks (see build/asan/$suite.log)"
		status=1
		failed="$failed$suite: LeakSanitizer reported leaks (build/asan/$suite.log)
"
	fi
done
echo "== interpreters"
grep -h -E '^(interpreter|scenarios|launcher) ' build/asan/e2e-tests.log | sort || true
# Real servers (gunicorn, Flask, http.server, multiprocessing) under ab's load: is memory
# growth charged to the code that allocated it?  With the release ./tgattach, not the ASan
# build: ASan slows the sampler about 3x, and these tests measure its accuracy.
# SIGKILLs of tgattach at random moments against a signal-counting, forking target: every
# thread left untraced and running, every signal handled (make soak runs ten times more).
# libFuzzer harnesses (tests/fuzz/): the regression inputs, then a few seconds of each
# (make fuzz runs them for a minute each)
echo "== fuzz"
run_step fuzz sh tests/fuzz/run.sh "${FUZZ_SMOKE_SECONDS:-3}"
# fixtures/torn_edges.py (known calls, churning threads, recursion, generators,
# exceptions) at -r 2000 on every interpreter: no recorded stack may never have existed
echo "== torn"
rm -rf build/torn-failed
run_step torn /usr/bin/python3 tests/torn_edges.py --seconds 4 --keep-failed build/torn-failed
# fixtures/embed_calls.c (a C program calling Python once per request, as uWSGI does) built
# against every interpreter's shared libpython: a call returns about once per call made
echo "== embed"
run_step embed /usr/bin/python3 tests/embed_calls.py
echo "== killanywhere"
run_step killanywhere /usr/bin/python3 tests/killanywhere.py --tgattach "$TGATTACH"
run_step killanywhere-native /usr/bin/python3 tests/killanywhere.py --tgattach "$TGATTACH" \
	--kills 100 --profile both
echo "== realserver"
# Issue 11's accuracy thresholds, asserted where tgattach meets them reliably (docs/memory.md):
# by default the job loop, the multiprocessing.Pool (a tree) and gunicorn sync and gthread
# (since December 2026: all 120 runs of CI #72 - #94 met them), gunicorn's master with two
# sync workers (a tree; since its workers' turns for bursts were fair), Debian's uWSGI worker
# embedding libpython3.11 (since its state's stale TID no longer fails its walks), and the same
# worker serving on four threads uWSGI makes in C (five runs by hand: leak path 76 - 83 %,
# churn -3 - 1 %), and its master with two workers as a tree (four runs: 74 - 83 %, churn
# 4 - 6 %); gunicorn sync and gthread
# under --realtime too.  A real server under load with a burner beside it varies from run to
# run: a combination that misses only the thresholds is run again, and fails when four runs
# in a row miss them (the Pool's leak SELF falls on a busier machine: docs/memory.md, "The
# Pool's leak by SELF on a busy machine").  For http.server they are reported on each line
# (and counted on the line before the totals), not failed on.  Crashes, phantom returns and
# functions never seen fail everywhere; a failed combination's recording is kept in
# build/realserver-failed/STEP/ for a look afterwards.
rm -rf build/realserver-failed
keep_failed=--keep-failed=build/realserver-failed
run_step realserver-default /usr/bin/python3 tests/realserver/run.py $keep_failed/default \
	--accuracy-tries 4 --case job-loop,mp-pool,gunicorn-sync,gunicorn-gthread,gunicorn-tree,uwsgi,uwsgi-threads,uwsgi-tree
run_step realserver-advisory /usr/bin/python3 tests/realserver/run.py \
	$keep_failed/advisory --accuracy-advisory --case http.server
# the servers again with the loop under real-time scheduling (docs/memory.md); http.server
# under --realtime is reported by hand (run.py --accuracy-advisory --tgattach-opt=--realtime
# --case http.server), not here: make test has 20 minutes on a fresh 2-core machine and
# took 19.8 with it (CI #147)
run_step realserver-realtime /usr/bin/python3 tests/realserver/run.py $keep_failed/realtime \
	--accuracy-tries 4 --tgattach-opt=--realtime --case gunicorn-sync,gunicorn-gthread,gunicorn-tree
echo "tests: $(($(date +%s) - tests_t0)) s in all (the build before them not counted)"
# the failures again, last: CI shows the end of the output
if [ -n "$failed" ]; then
	echo "== failed"
	printf '%s' "$failed"
fi
exit $status
