#!/usr/bin/env bash
# fuzz-seeds.sh keeps part of what `make fuzz` found as seed corpora in the
# repository: for every fuzz target, up to FUZZSEEDS (default 12) inputs of
# at most 2 KiB from the fuzzer's cache ($GOCACHE/fuzz/...), those that
# widened coverage last, go to the package's testdata/fuzz/FuzzX/ (files Go
# names by their content's hash, so a file is never kept twice). `go test`
# runs every file there as a seed; a failing one fails the build.
#
#   make fuzz-seeds                after make fuzz
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
FUZZSEEDS=${FUZZSEEDS:-12}
module=$($GO list -m)
cache="$($GO env GOCACHE)/fuzz/$module"
[ -d "$cache" ] || { echo "no fuzzing cache in $cache: run make fuzz first" >&2; exit 1; }
added=0
while read -r dir; do
	rel=${dir#"$cache"/}
	pkg=${rel%/*}
	name=${rel##*/}
	[ -d "$pkg" ] || continue
	dest="$pkg/testdata/fuzz/$name"
	mkdir -p "$dest"
	# The newest small files: the last the fuzzer kept for new coverage.
	while read -r f; do
		[ -e "$dest/$(basename "$f")" ] && continue
		cp "$f" "$dest/"
		added=$((added + 1))
	done < <(find "$dir" -type f -size -2049c -printf '%T@ %p\n' | sort -rn | head -n "$FUZZSEEDS" | cut -d' ' -f2-)
done < <(find "$cache" -mindepth 1 -type d -name 'Fuzz*')
echo "added $added seed files under */testdata/fuzz/"
