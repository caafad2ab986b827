#!/usr/bin/env bash
# Build and test modelfs the way CI does (STYLE §12), from the repository root:
#
#   1. release  Release build, warnings are errors (build/release), ctest
#   2. asan     ASan+UBSan build (build/asan), ctest with leak checks on
#   3. fuzz     if clang is installed: libFuzzer build (build/fuzz), each
#               fuzzer run for MF_FUZZ_SECONDS (default 60) on a copy of its
#               corpus
#
# Every stage runs even when an earlier one failed; a summary with each
# stage's verdict and time comes last, and the exit status is non-zero when
# any stage failed.  Needs the packages of `contrib/install-deps.sh --test`.
#
# Environment: MF_JOBS (default 2), MF_FUZZ_SECONDS (default 60),
# MF_STAGES (default "release asan fuzz"), MF_BUILD_ROOT (default build: the
# stages use build/release, build/asan, build/fuzz), CTEST_ARGS (extra
# ctest arguments, e.g. "-L unit").
set -uo pipefail

cd "$(dirname "$0")/.." || exit 2
repo=$(pwd)
jobs=${MF_JOBS:-2}
fuzz_seconds=${MF_FUZZ_SECONDS:-60}
stages=${MF_STAGES:-release asan fuzz}
build_root=${MF_BUILD_ROOT:-build}
read -r -a ctest_extra <<< "${CTEST_ARGS:-}"

summary=()
failed=0
n_passed=0
n_failed=0
t_all=$(date +%s)

note() { printf '\n=== %s\n' "$*"; }

# record NAME START STATUS [DETAIL]
record() {
	local took=$(( $(date +%s) - $2 ))
	if [ "$3" -eq 0 ]; then
		summary+=("$(printf 'PASS  %-8s %4ds  %s' "$1" "$took" "${4:-}")")
	else
		summary+=("$(printf 'FAIL  %-8s %4ds  %s' "$1" "$took" "${4:-}")")
		failed=1
	fi
}

# build_and_test NAME DIR CMAKE_ARGS...
build_and_test() {
	local name=$1 dir=$2 start rc log
	shift 2
	start=$(date +%s)
	note "$name: configure $dir"
	if ! cmake -S "$repo" -B "$dir" "$@"; then
		record "$name" "$start" 1 "configure failed"
		return
	fi
	note "$name: build"
	if ! cmake --build "$dir" -j "$jobs"; then
		record "$name" "$start" 1 "build failed"
		return
	fi
	note "$name: ctest"
	log="$dir/ctest-summary.txt"
	(cd "$dir" && ctest --output-on-failure --no-tests=error -j "$jobs" "${ctest_extra[@]}") \
		2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	local detail
	detail=$(grep -E 'tests passed, [0-9]+ tests failed' "$log" | tail -n 1)
	if [[ $detail =~ ([0-9]+)\ tests\ failed\ out\ of\ ([0-9]+) ]]; then
		n_failed=$(( n_failed + BASH_REMATCH[1] ))
		n_passed=$(( n_passed + BASH_REMATCH[2] - BASH_REMATCH[1] ))
	fi
	if [ "$rc" -ne 0 ]; then
		detail="$detail; failed: $(sed -n '/tests FAILED:/,$ s/^[[:space:]]*[0-9]* - \([^ ]*\) .*/\1/p' "$log" | tr '\n' ' ')"
	fi
	record "$name" "$start" "$rc" "$detail"
}

fuzz_stage() {
	local start rc=0 dir=$build_root/fuzz tsv name bin corpus work ran=0 bad=""
	start=$(date +%s)
	if ! command -v clang >/dev/null 2>&1; then
		summary+=("SKIP  fuzz        0s  clang is not installed")
		return
	fi
	note "fuzz: configure $dir"
	if ! CC=clang cmake -S "$repo" -B "$dir" -DCMAKE_BUILD_TYPE=Debug -DMODELFS_FUZZ=ON; then
		record fuzz "$start" 1 "configure failed"
		return
	fi
	note "fuzz: build"
	if ! cmake --build "$dir" -j "$jobs" --target fuzzers; then
		record fuzz "$start" 1 "build failed"
		return
	fi
	tsv="$dir/fuzz-targets.tsv"
	work=$(mktemp -d)
	while IFS=$'\t' read -r name bin corpus; do
		[ -n "$name" ] || continue
		note "fuzz: $name for ${fuzz_seconds}s"
		mkdir -p "$work/$name/corpus" "$work/$name/artifacts"
		if [ -d "$corpus" ]; then
			cp -r "$corpus/." "$work/$name/corpus/"
		fi
		if ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
		   UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		   "$bin" -max_total_time="$fuzz_seconds" -timeout=25 -rss_limit_mb=2048 \
			  -print_final_stats=1 -artifact_prefix="$work/$name/artifacts/" \
			  "$work/$name/corpus" > "$work/$name/log" 2>&1; then
			tail -n 12 "$work/$name/log"
		else
			rc=1
			bad="$bad $name"
			tail -n 60 "$work/$name/log"
			mkdir -p "$dir/fuzz-artifacts/$name"
			cp -r "$work/$name/artifacts/." "$dir/fuzz-artifacts/$name/" 2>/dev/null
			echo "fuzz: $name failed; crashing inputs kept in $dir/fuzz-artifacts/$name/"
		fi
		ran=$((ran + 1))
	done < "$tsv"
	rm -rf "$work"
	if [ "$ran" -eq 0 ]; then
		record fuzz "$start" 0 "no fuzz targets yet"
	elif [ "$rc" -eq 0 ]; then
		record fuzz "$start" 0 "$ran fuzzers, ${fuzz_seconds}s each"
	else
		record fuzz "$start" 1 "failed:$bad"
	fi
}

for stage in $stages; do
	case "$stage" in
	release)
		build_and_test release "$build_root/release" -DCMAKE_BUILD_TYPE=Release \
			-DCMAKE_COMPILE_WARNING_AS_ERROR=ON ;;
	asan)
		export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
		export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
		export LSAN_OPTIONS="suppressions=$repo/tests/lsan.supp"
		build_and_test asan "$build_root/asan" -DCMAKE_BUILD_TYPE=ASan
		unset ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS ;;
	fuzz)
		fuzz_stage ;;
	*)
		echo "test.sh: unknown stage '$stage' (release, asan, fuzz)" >&2
		exit 2 ;;
	esac
done

printf '\n=== summary (%ds)\n' "$(( $(date +%s) - t_all ))"
printf '%s\n' "${summary[@]}"
if [ "$failed" -ne 0 ]; then
	echo "test.sh: FAILED"
	echo "ctest: $n_passed passed, $n_failed failed"
	exit 1
fi
echo "test.sh: all passed"
echo "ctest: $n_passed passed, $n_failed failed"
