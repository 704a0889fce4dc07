#!/usr/bin/env bash
# Mutation testing with gremlins (issue 11: tests that bite).
#
#   scripts/mutation.sh [PACKAGE...]     default: ./wire ./fdb ./snoop
#
# Runs `gremlins unleash --workers 2 --timeout-coefficient 5` on each
# package in turn, with gremlins' default mutators, and prints one line a
# package from its JSON report:
#
#   ./fdb killed=81 lived=0 not_covered=0 timed_out=0 efficacy=100.00% coverage=100.00%
#
# efficacy is killed / (killed + lived), coverage (killed + lived) / (the
# same + not covered); timed-out mutants count in neither, so on a loaded
# machine look at timed_out first. gremlins' own output, with each mutant's
# status and place, and the time each package took go to stderr. Installs gremlins v0.6.0 from the Go module proxy
# if it is missing. Not part of CI: it takes minutes.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

gremlins_version=v0.6.0
gobin=$(go env GOBIN)
if [[ -z $gobin ]]; then
	gobin=$(go env GOPATH)/bin
fi
export PATH="$gobin:$PATH"

installed() {
	command -v gremlins >/dev/null &&
		go version -m "$(command -v gremlins)" | grep -q "mod[[:space:]]*github.com/go-gremlins/gremlins[[:space:]]*$gremlins_version"
}
if ! installed; then
	echo "installing gremlins $gremlins_version into $gobin" >&2
	go install "github.com/go-gremlins/gremlins/cmd/gremlins@$gremlins_version"
fi
if ! command -v jq >/dev/null; then
	echo "mutation.sh: jq is needed to read gremlins' report (apt-get install jq)" >&2
	exit 1
fi

if (($# == 0)); then
	set -- ./wire ./fdb ./snoop
fi

# gremlins times each mutant's test run out at --timeout-coefficient times
# its first, coverage run, which go test may answer from its cache in a
# few milliseconds: then every mutant times out. -count=1 stops that.
export GOFLAGS="${GOFLAGS:+$GOFLAGS }-count=1"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

for pkg in "$@"; do
	report=$tmp/report.json
	rm -f "$report"
	start=$SECONDS
	gremlins unleash --workers 2 --timeout-coefficient 5 --output "$report" "$pkg" >&2
	echo "$pkg: $((SECONDS - start)) s" >&2
	if [[ ! -s $report ]]; then
		# gremlins writes no report when it finds no mutant.
		echo "$pkg killed=0 lived=0 not_covered=0 timed_out=0 efficacy=n/a coverage=n/a"
		continue
	fi
	read -r killed lived not_covered timed_out efficacy coverage < <(jq -r '
		[.files[]?.mutations[]?.status] as $s
		| def n(st): [$s[] | select(. == st)] | length;
		[n("KILLED"), n("LIVED"), n("NOT COVERED"), n("TIMED OUT"), .test_efficacy, .mutations_coverage] | @tsv' "$report")
	if ((timed_out > 0)); then
		echo "$pkg: $timed_out mutants timed out, neither killed nor lived: a loaded machine? (see above)" >&2
	fi
	printf '%s killed=%d lived=%d not_covered=%d timed_out=%d efficacy=%.2f%% coverage=%.2f%%\n' \
		"$pkg" "$killed" "$lived" "$not_covered" "$timed_out" "$efficacy" "$coverage"
done
