#!/usr/bin/env bash
# Checks and prints the figures issue 12 set for the code's layout: the
# size of the command, the largest type of the runtime, the command's
# dependencies and its build off Linux, and the runtime's unit-test
# coverage as an unprivileged user (nobody), from a copy of the tree in
# /tmp. It exits 1 if one is out of bounds.
set -euo pipefail
cd "$(dirname "$0")/.."
fail=0

lines=$(cat $(git ls-files 'cmd/igmpsnoop/*.go' | grep -v _test.go) | wc -l)
echo "cmd/igmpsnoop: $lines non-test Go lines (at most 1500)"
[ "$lines" -le 1500 ] || fail=1

read -r methods type < <(grep -hoE '^func \([a-z]+ \*?[A-Za-z]+\)' daemon/*.go | sed -E 's/^func \([a-z]+ \*?//; s/\)$//' | sort | uniq -c | sort -rn | head -1)
echo "daemon: at most $methods methods on one type ($type; at most 20)"
[ "$methods" -le 20 ] || fail=1

if go list -deps ./cmd/igmpsnoop | grep -q '/integration$'; then
  echo "cmd/igmpsnoop imports integration"; fail=1
else
  echo "cmd/igmpsnoop imports no integration package"
fi
GOOS=darwin go build -o /dev/null ./cmd/igmpsnoop && echo "GOOS=darwin go build ./cmd/igmpsnoop: ok"

if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
  dir=$(mktemp -d /tmp/igmpsnoop-nobody.XXXXXX)
  trap 'rm -rf "$dir"' EXIT
  mkdir -p "$dir/repo"
  git archive HEAD | tar -x -C "$dir/repo"
  chown -R 65534:65534 "$dir"
  # nobody cannot read root's module cache: it fetches into its own.
  who="as nobody"
  cover=$(cd "$dir/repo" && setpriv --reuid=65534 --regid=65534 --clear-groups \
    env HOME="$dir" GOCACHE="$dir/cache" GOMODCACHE="$dir/modcache" GOFLAGS=-mod=mod PATH="$PATH" \
    go test -count=1 -cover ./daemon 2>/dev/null | grep -o '[0-9.]*% of statements' || true)
else
  who="as $(id -un) (run as root to measure as nobody)"
  cover=$(go test -count=1 -cover ./daemon 2>/dev/null | grep -o '[0-9.]*% of statements' || true)
fi
echo "daemon unit tests $who: ${cover:-FAILED} (at least 70%)"
pct=${cover%%.*}
[ -n "$cover" ] && [ "${pct%%%*}" -ge 70 ] || fail=1
exit $fail
