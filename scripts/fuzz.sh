#!/bin/sh
# Runs every fuzz target of the module for a while each (default 3s; `make
# fuzz` gives 20s, `sh scripts/fuzz.sh 10m` is a long run). Targets are found
# by their "func FuzzX" line, so a new one is never left out. A crash fails
# the run; the input that caused it lands in the package's testdata/fuzz/.
set -eu
cd "$(dirname "$0")/.."
fuzztime=${1:-3s}
GO=${GO:-go}
grep -rl --include='*_test.go' '^func Fuzz' . | xargs -n1 dirname | sort -u | while read -r dir; do
	for target in $(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' "$dir"/*_test.go); do
		echo "fuzz $dir $target for $fuzztime"
		$GO test -run '^$' -fuzz "^$target\$" -fuzztime "$fuzztime" "$dir" >/tmp/fuzz.$$.log 2>&1 || {
			cat /tmp/fuzz.$$.log
			rm -f /tmp/fuzz.$$.log
			exit 1
		}
	done
done
rm -f /tmp/fuzz.$$.log
