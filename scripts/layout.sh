#!/usr/bin/env bash
# Prints the figures issue 12 set for the code's layout: the size of the
# command, the largest type of the runtime, the command's dependencies and
# its build off Linux, and the runtime's unit-test coverage as an
# unprivileged user (nobody), from a copy of the tree in /tmp.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "cmd/igmpsnoop non-test Go lines: $(cat $(git ls-files 'cmd/igmpsnoop/*.go' | grep -v _test.go) | wc -l) (at most 1500)"
echo "daemon: most methods on one type: $(grep -hoE '^func \([a-z]+ \*?[A-Za-z]+\)' $(git ls-files 'daemon/*.go' | grep -v _test.go) | sort | uniq -c | sort -rn | head -1) (at most 20)"
if go list -deps ./cmd/igmpsnoop | grep -q '/integration$'; then
  echo "cmd/igmpsnoop imports integration: FAIL"; exit 1
fi
echo "cmd/igmpsnoop imports no integration package"
GOOS=darwin go build -o /dev/null ./cmd/igmpsnoop && echo "GOOS=darwin go build ./cmd/igmpsnoop: ok"

if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
  dir=$(mktemp -d /tmp/igmpsnoop-nobody.XXXXXX)
  trap 'rm -rf "$dir"' EXIT
  mkdir -p "$dir/repo"
  git archive HEAD | tar -x -C "$dir/repo"
  chown -R 65534:65534 "$dir"
  # nobody cannot read root's module cache: it fetches into its own.
  cover=$(cd "$dir/repo" && setpriv --reuid=65534 --regid=65534 --clear-groups \
    env HOME="$dir" GOCACHE="$dir/cache" GOMODCACHE="$dir/modcache" GOFLAGS=-mod=mod PATH="$PATH" \
    go test -count=1 -cover ./daemon 2>/dev/null | grep -o '[0-9.]*% of statements')
  echo "daemon unit tests as nobody: $cover (at least 70%)"
else
  echo "daemon unit tests: $(go test -count=1 -cover ./daemon 2>/dev/null | grep -o '[0-9.]*% of statements') (run as root to measure as nobody)"
fi
