#!/usr/bin/env bash
# fuzz.sh runs every fuzz target of the module (every `func FuzzX(f
# *testing.F)` in a _test.go file) for FUZZTIME each (default 30s), one at a
# time, and adds the time to docs/fuzz-ledger.tsv (target, package, total
# seconds fuzzed, runs, last run). A crash the fuzzer finds is written by Go
# to the package's testdata/fuzz/FuzzX/ and from then on runs as a seed in
# every `go test`; the script names it and exits non-zero at the end.
#
#   make fuzz FUZZTIME=2m          every target, 2 minutes each
#   make fuzz FUZZ=FuzzReadHeader  one target (a regular expression)
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
FUZZTIME=${FUZZTIME:-30s}
FUZZ=${FUZZ:-.}
ledger=docs/fuzz-ledger.tsv
[ -f "$ledger" ] || printf 'target\tpackage\tseconds\truns\tlast_run\n' > "$ledger"

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

# The ledger counts the fuzzing time asked for (not the build).
case "$FUZZTIME" in
*h) fuzzsecs=$(( ${FUZZTIME%h} * 3600 )) ;;
*m) fuzzsecs=$(( ${FUZZTIME%m} * 60 )) ;;
*s) fuzzsecs=${FUZZTIME%s} ;;
*) echo "FUZZTIME=$FUZZTIME: give a whole number of seconds, minutes or hours (30s, 10m, 1h)" >&2; exit 2 ;;
esac

failed=()
for t in "${targets[@]}"; do
	dir=${t% *}
	name=${t#* }
	pkg=${dir#./}
	echo "=== $name ($pkg) for $FUZZTIME"
	if ! $GO test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" "./$pkg"; then
		failed+=("$name ($pkg): the failing input is in $pkg/testdata/fuzz/$name/; fix the code, keep the input as a seed")
	fi
	secs=$fuzzsecs
	awk -F'\t' -v OFS='\t' -v t="$name" -v p="$pkg" -v s="$secs" -v d="$(date -u +%Y-%m-%d)" '
		NR == 1 { print; next }
		$1 == t && $2 == p { $3 += s; $4 += 1; $5 = d; found = 1 }
		{ print }
		END { if (!found) print t, p, s, 1, d }' "$ledger" > "$ledger.tmp" && mv "$ledger.tmp" "$ledger"
done
echo
column -t -s $'\t' "$ledger"
if [ ${#failed[@]} -gt 0 ]; then
	echo
	echo "FUZZING FOUND CRASHES:"
	printf '  %s\n' "${failed[@]}"
	exit 1
fi
