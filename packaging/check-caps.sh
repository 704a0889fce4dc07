#!/bin/sh
# check-caps.sh: prove that igmpsnoop snoops with exactly the capabilities
# packaging/igmpsnoop.service gives it, and that it needs each of them.
#
#   sudo packaging/check-caps.sh [path/to/igmpsnoop]
#
# It builds a throw-away lab of network namespaces (a bridge with a querier
# and one host), then runs the daemon in it under setpriv(1) several times:
#
#   1. as root, with the bounding set cut to CAPS, no new privileges: the
#      unit's set-up (User=root, CapabilityBoundingSet=, NoNewPrivileges=);
#   2. as nobody, with CAPS as ambient capabilities: the set-up for running
#      it as an unprivileged user (User=, AmbientCapabilities=);
#   3. as root with each capability of CAPS left out in turn: each must fail.
#
# A run passes when the host's join appears in the bridge's MDB as an entry
# of igmpsnoop's (proto 77) and in `igmpsnoop show groups`. It prints what it
# verified and exits 0 only if every run went as expected. Needs root,
# iproute2 and setpriv (util-linux). Removes the lab on exit.
set -eu

CAPS="net_admin net_raw bpf"
BIN=${1:-$(command -v igmpsnoop || true)}
[ -n "$BIN" ] && [ -x "$BIN" ] || { echo "usage: $0 path/to/igmpsnoop" >&2; exit 2; }
BIN=$(readlink -f "$BIN")
[ "$(id -u)" = 0 ] || { echo "$0 needs root: it builds network namespaces" >&2; exit 2; }
for t in ip setpriv; do
	command -v $t >/dev/null || { echo "$0: $t not found (iproute2, util-linux)" >&2; exit 2; }
done

P=ck$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
SW=$P-sw RT=$P-rt H1=$P-h1
DIR=$(mktemp -d /tmp/igmpsnoop-caps.XXXXXX)
chmod 755 "$DIR" # the unprivileged run writes its socket here
mkdir "$DIR/nobody" && chown nobody "$DIR/nobody"
DAEMON=
cleanup() {
	[ -n "$DAEMON" ] && kill "$DAEMON" 2>/dev/null && wait "$DAEMON" 2>/dev/null
	for ns in $H1 $RT $SW; do ip netns del "$ns" 2>/dev/null || true; done
	rm -rf "$DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The lab: bridge br0 in $SW with ports rt0 (to a querier) and h1 (to a host).
for ns in $SW $RT $H1; do
	ip netns add "$ns"
	ip -n "$ns" link set lo up
	# IPv4 only: fewer messages in the logs shown on failure.
	ip netns exec "$ns" sh -c 'echo 1 >/proc/sys/net/ipv6/conf/all/disable_ipv6; echo 1 >/proc/sys/net/ipv6/conf/default/disable_ipv6'
done
ip -n $SW link add br0 type bridge mcast_snooping 1
ip -n $SW link set br0 up
for p in rt0:$RT h1:$H1; do
	port=${p%%:*} ns=${p#*:}
	ip link add "$port" netns $SW type veth peer name eth0 netns "$ns"
	ip -n $SW link set "$port" master br0 up
	ip -n "$ns" link set eth0 up
done
# The querier: a one-port bridge querying every 2 s from 10.99.0.1, turned
# on after creation (given to `ip link add`, some kernels query but do not
# snoop).
ip -n $RT link add rbr type bridge mcast_snooping 1 mcast_query_use_ifaddr 1 \
	mcast_query_interval 200 mcast_query_response_interval 100 mcast_startup_query_interval 50
ip -n $RT link set eth0 master rbr
ip -n $RT addr add 10.99.0.1/24 dev rbr
ip -n $RT link set rbr up
ip -n $RT link set rbr type bridge mcast_querier 1
ip -n $H1 addr add 10.99.0.11/24 dev eth0

caplist() { # "a b" -> "+a,+b" (setpriv's syntax)
	printf '%s\n' "$@" | sed 's/^/+/' | paste -sd, -
}

# try NAME WANT SETPRIV-ARGS...: run the daemon under setpriv; make h1 join
# a fresh group; WANT is "snoops" or "fails".
GROUP=0
FAILED=0
try() {
	name=$1 want=$2
	shift 2
	GROUP=$((GROUP + 1))
	g=239.99.0.$GROUP sock=$DIR/$GROUP.sock log=$DIR/$GROUP.log
	case "$*" in *--reuid*) sock=$DIR/nobody/$GROUP.sock ;; esac
	ip netns exec $SW setpriv "$@" -- "$BIN" run --bridge br0 --socket "$sock" \
		--query-interval 2s --query-response-interval 1s >"$log" 2>&1 &
	DAEMON=$!
	i=0
	while [ ! -S "$sock" ] && kill -0 $DAEMON 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
	# autojoin: the host's kernel joins the group and sends IGMP reports.
	ip -n $H1 addr add $g/32 dev eth0 autojoin
	got=fails mdb=no show=no
	i=0
	while kill -0 $DAEMON 2>/dev/null && [ $i -lt 100 ]; do
		ip netns exec $SW bridge -d mdb show dev br0 | grep -q "port h1 grp $g .*proto 77" && mdb=yes
		"$BIN" show groups --socket "$sock" 2>/dev/null | grep -qwF -- "$g" && show=yes
		if [ $mdb = yes ] && [ $show = yes ]; then
			got=snoops
			break
		fi
		sleep 0.1
		i=$((i + 1))
	done
	kill $DAEMON 2>/dev/null || true
	wait $DAEMON 2>/dev/null || true
	DAEMON=
	ip -n $H1 addr del $g/32 dev eth0
	why=
	[ $got = fails ] && why=$(grep -m1 -iE 'error|fatal|operation not permitted|denied' "$log" | sed 's/^.*igmpsnoop: //' | cut -c1-160)
	if [ $got = "$want" ]; then
		echo "ok    $name: $got${why:+ ($why)}"
	else
		echo "FAIL  $name: $got, want $want (MDB entry: $mdb, in show groups: $show)${why:+ ($why)}"
		FAILED=1
		sed 's/^/      | /' "$log" | tail -n 15
	fi
}

all=$(caplist $CAPS)
echo "igmpsnoop: $("$BIN" version)"
echo "kernel: $(uname -r); capabilities under test: $CAPS"
try "root, bounding set {$CAPS}, no new privileges" snoops \
	--bounding-set -all,$all --inh-caps -all --no-new-privs
try "nobody, ambient {$CAPS}, no new privileges" snoops \
	--reuid nobody --regid nogroup --clear-groups --inh-caps -all,$all --ambient-caps -all,$all \
	--bounding-set -all,$all --no-new-privs
for c in $CAPS; do
	rest=$(caplist $(printf '%s\n' $CAPS | grep -vx "$c"))
	try "root without $c, bounding set {$(echo $CAPS | tr ' ' '\n' | grep -vx "$c" | paste -sd' ' -)}" fails \
		--bounding-set -all,$rest --inh-caps -all --no-new-privs
done
if [ $FAILED = 0 ]; then
	echo "verified: igmpsnoop snoops with CAP_NET_ADMIN CAP_NET_RAW CAP_BPF and no other capability"
	echo "          (no CAP_SYS_ADMIN), as root or as an unprivileged user, and needs each of the three."
fi
exit $FAILED
