#!/bin/sh
# tests/fuzz/run.sh SECONDS: run every libFuzzer harness (build/fuzz/fuzz_NAME, made by
# `make fuzz` or `make test`) for SECONDS each, from the repository root.  Each first runs
# every regression input under tests/fuzz/regress/NAME/ (crashes found earlier, kept), then
# fuzzes from a working corpus in build/fuzz/corpus/NAME seeded with tests/fuzz/corpus/NAME.
# One line per harness: its executions, the corpus, and whether it found anything; a crash
# is left in build/fuzz/crash-NAME-* (add it to tests/fuzz/regress/NAME/ once fixed).
# Exit 1 when a harness crashed, leaked, timed out or failed a check.
cd "$(dirname "$0")/../.." || exit 1
secs=${1:-60}
status=0
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
for bin in build/fuzz/fuzz_*; do
	[ -x "$bin" ] || continue
	name=${bin#build/fuzz/fuzz_}
	work=build/fuzz/corpus/$name
	log=build/fuzz/$name.log
	mkdir -p "$work"
	cp -n tests/fuzz/corpus/"$name"/* "$work"/ 2>/dev/null
	regress=$(ls tests/fuzz/regress/"$name"/* 2>/dev/null)
	if [ -n "$regress" ] && ! "$bin" $regress >"$log.regress" 2>&1; then
		echo "fuzz $name: a regression input fails again (see $log.regress)"
		status=1
		continue
	fi
	if "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="build/fuzz/crash-$name-" "$work" >"$log" 2>&1; then
		runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
		echo "fuzz $name: ${runs:-?} runs in ${secs} s, corpus $(ls "$work" | wc -l), nothing found"
	else
		echo "fuzz $name: FAILED (see $log and build/fuzz/crash-$name-*)"
		grep -m 3 -E 'ERROR|SUMMARY|runtime error' "$log"
		status=1
	fi
done
exit $status
