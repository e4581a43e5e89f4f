#!/bin/sh
# netns.sh COMMAND [ARG...]
#
# Runs COMMAND inside fresh network, PID and mount namespaces:
#   - network: lo up plus a veth pair v0/v1 holding 10.99.0.1/24 and
#     10.99.0.2/24, both ends inside the namespace, so WebRTC peers find a
#     non-loopback address and no packet can leave the machine;
#   - PID: when COMMAND exits (or this script is killed, e.g. by a meson
#     timeout), every process it left behind is killed by the kernel;
#   - mount: so that /proc matches the PID namespace, and so that
#     /etc/resolv.conf can be replaced for this namespace only (see below).
# Exits with COMMAND's status. If the namespaces cannot be made (not root, no
# unshare/ip), it says so on stderr and exits 1: a test must never pass
# without its private network.

set -u

die() {
  echo "netns.sh: FATAL: $*" >&2
  echo "netns.sh: FATAL: the end-to-end tests need root and unshare(1)/ip(8) to build a private network namespace" >&2
  exit 1
}

if [ "$#" -lt 1 ]; then
  echo "usage: netns.sh COMMAND [ARG...]" >&2
  exit 2
fi

if [ "${GW_NETNS_INSIDE:-}" != "1" ]; then
  command -v unshare >/dev/null 2>&1 || die "unshare not found"
  command -v ip >/dev/null 2>&1 || die "ip (iproute2) not found"
  probe_err=$(unshare --net --pid --fork --mount-proc true 2>&1) ||
    die "cannot create namespaces: $probe_err"
  GW_NETNS_INSIDE=1
  export GW_NETNS_INSIDE
  # --kill-child: if unshare itself is killed, the namespace's first process
  # gets SIGKILL, which takes every other process of the namespace with it.
  exec unshare --net --pid --fork --kill-child --mount-proc /bin/sh "$0" "$@"
fi

# Inside the namespaces (this shell is PID 1).
unset GW_NETNS_INSIDE
ip link set lo up || die "cannot bring lo up"
# Only the IPv4 addresses below: no IPv6 link-local candidates to gather.
for k in default all; do
  echo 1 >"/proc/sys/net/ipv6/conf/$k/disable_ipv6" 2>/dev/null ||
    echo "netns.sh: warning: cannot disable IPv6 ($k)" >&2
done
ip link add v0 type veth peer name v1 || die "cannot create veth pair v0/v1"
ip addr add 10.99.0.1/24 dev v0 || die "cannot set 10.99.0.1 on v0"
ip addr add 10.99.0.2/24 dev v1 || die "cannot set 10.99.0.2 on v1"
ip link set v0 up || die "cannot bring v0 up"
ip link set v1 up || die "cannot bring v1 up"

# Wait (bounded, 5 s) until both ends report carrier.
i=0
while [ "$i" -lt 50 ]; do
  if ip -o link show v0 | grep -q 'state UP' &&
    ip -o link show v1 | grep -q 'state UP'; then
    break
  fi
  i=$((i + 1))
  sleep 0.1
done
[ "$i" -lt 50 ] || die "veth pair did not come up: $(ip -o link show)"

# A default route, as every real machine has: without one Chromium finds no
# "default" interface and offers no ICE candidate at all. Packets to any
# other address go into v1 and are dropped there (no forwarding), so nothing
# leaves the namespace; DNS is pointed at 127.0.0.1 (refused at once) so a
# name lookup fails fast instead of timing out towards the real resolver.
ip route add default via 10.99.0.2 dev v0 || die "cannot add the default route"
resolv=$(mktemp /tmp/gw-netns-resolv.XXXXXX) || die "mktemp failed"
echo "nameserver 127.0.0.1" >"$resolv"
mount --bind "$resolv" /etc/resolv.conf || die "cannot bind-mount $resolv on /etc/resolv.conf"

export GW_NETNS=1
"$@"
rc=$?
umount /etc/resolv.conf 2>/dev/null
rm -f "$resolv"
exit "$rc"
