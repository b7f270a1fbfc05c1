#!/usr/bin/env bash
# fuzz.sh runs every fuzz target of the module (every `func FuzzX(f
# *testing.F)` in a _test.go file) for FUZZTIME each (default 30s), FUZZJOBS
# at a time (default 1) with FUZZPARALLEL workers each (default: the cores),
# and adds to docs/fuzz-ledger.tsv the seconds fuzzed and the executions Go
# reports (target, package, total seconds, total executions, runs, last
# run). A crash the fuzzer finds is written by Go to the package's
# testdata/fuzz/FuzzX/ and from then on runs as a seed in every `go test`;
# the script names it and exits non-zero at the end.
#
#   make fuzz FUZZTIME=2m          every target, 2 minutes each
#   make fuzz FUZZ=FuzzReadHeader  one target (a regular expression)
#   make fuzz FUZZTIME=10m FUZZJOBS=4 FUZZPARALLEL=1
#                                  four targets at once, one worker each
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
FUZZTIME=${FUZZTIME:-30s}
FUZZ=${FUZZ:-.}
FUZZJOBS=${FUZZJOBS:-1}
FUZZPARALLEL=${FUZZPARALLEL:-$(nproc)}
ledger=docs/fuzz-ledger.tsv
[ -f "$ledger" ] || printf 'target\tpackage\tseconds\texecutions\truns\tlast_run\n' > "$ledger"

# Every fuzz target: package directory and function name.
mapfile -t targets < <(grep -rlE --include='*_test.go' '^func Fuzz[A-Za-z0-9_]*\(f \*testing\.F\)' . |
	grep -v '^./\.' | while read -r file; do
		dir=$(dirname "$file")
		grep -oE '^func Fuzz[A-Za-z0-9_]*\(f \*testing\.F\)' "$file" | sed -E 's/^func (Fuzz[A-Za-z0-9_]*).*/\1/' |
			while read -r name; do printf '%s %s\n' "$dir" "$name"; done
	done | sort -u | grep -E " .*${FUZZ}" || true)
if [ ${#targets[@]} -eq 0 ]; then
	echo "no fuzz target matches FUZZ=$FUZZ" >&2
	exit 1
fi

case "$FUZZTIME" in
*[0-9]h | *[0-9]m | *[0-9]s) ;;
*) echo "FUZZTIME=$FUZZTIME: give a whole number of seconds, minutes or hours (30s, 10m, 1h)" >&2; exit 2 ;;
esac

# run_one fuzzes one target and adds its time and executions to the ledger
# (under a lock: FUZZJOBS targets may run at once). The log is kept in
# $logs/NAME.log; a failure is recorded in $logs/NAME.failed.
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
run_one() {
	local dir=$1 name=$2 pkg=${1#./} start end secs execs
	echo "=== $name ($pkg) for $FUZZTIME"
	start=$(date +%s)
	if ! $GO test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" -parallel "$FUZZPARALLEL" "./$pkg" > "$logs/$name.log" 2>&1; then
		echo "$name ($pkg): the failing input is in $pkg/testdata/fuzz/$name/; fix the code, keep the input as a seed" > "$logs/$name.failed"
		tail -30 "$logs/$name.log"
	fi
	end=$(date +%s)
	# The fuzzing time Go reports (not the build), and its executions.
	secs=$(grep -oE 'elapsed: [0-9hms]+' "$logs/$name.log" | tail -1 | awk '{
		d = $2; s = 0
		if (match(d, /[0-9]+h/)) s += substr(d, RSTART, RLENGTH - 1) * 3600
		if (match(d, /[0-9]+m/)) s += substr(d, RSTART, RLENGTH - 1) * 60
		if (match(d, /[0-9]+s/)) s += substr(d, RSTART, RLENGTH - 1)
		print s } END { if (NR == 0) print 0 }')
	execs=$(grep -oE 'execs: [0-9]+' "$logs/$name.log" | tail -1 | grep -oE '[0-9]+' || echo 0)
	echo "--- $name: ${secs}s fuzzed, $execs executions ($((end - start))s with the build)"
	(
		flock 9
		awk -F'\t' -v OFS='\t' -v t="$name" -v p="$pkg" -v s="$secs" -v x="$execs" -v d="$(date -u +%Y-%m-%d)" '
			NR == 1 { print; next }
			$1 == t && $2 == p { $3 += s; $4 += x; $5 += 1; $6 = d; found = 1 }
			{ print }
			END { if (!found) print t, p, s, x, 1, d }' "$ledger" > "$ledger.tmp" && mv "$ledger.tmp" "$ledger"
	) 9> "$logs/ledger.lock"
}

for t in "${targets[@]}"; do
	while [ "$(jobs -rp | wc -l)" -ge "$FUZZJOBS" ]; do wait -n || true; done
	run_one "${t% *}" "${t#* }" &
done
wait
failed=()
for f in "$logs"/*.failed; do
	[ -e "$f" ] && failed+=("$(cat "$f")")
done
echo
column -t -s $'\t' "$ledger"
if [ ${#failed[@]} -gt 0 ]; then
	echo
	echo "FUZZING FOUND CRASHES:"
	printf '  %s\n' "${failed[@]}"
	exit 1
fi
