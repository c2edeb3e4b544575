# The seed lab inside the full kernel, once per firewall backend: the three
# machines and an outsider on a bridge, kernel WireGuard with the keys in
# /lab/keys, each bundle of /lab/out applied by its apply.sh. Prints
# "RESULT <backend> <name> <value>" lines for the test to check.
set -eu
declare -A V4=([vpn-core]=10.0.123.2 [client-a]=10.0.123.3 [client-b]=10.0.123.4 [outsider]=10.0.123.99)
MEMBERS="vpn-core client-a client-b"

up() {
  ip netns add br
  ip -n br link add br0 type bridge
  ip -n br link set br0 up
  for h in vpn-core client-a client-b outsider; do
    ip netns add "$h"
    ip link add eth0 netns "$h" type veth peer name "p-$h" netns br
    ip -n br link set "p-$h" master br0 up
    ip -n "$h" link set lo up
    ip -n "$h" link set eth0 up
    ip -n "$h" addr add "${V4[$h]}/24" dev eth0
  done
  # kernel WireGuard, each with its own /etc/wireguard for the key
  for h in $MEMBERS; do
    nsenter --net="/run/netns/$h" unshare -m bash -c "mount -t tmpfs none /etc/wireguard && cp /lab/keys/$h.key /etc/wireguard/wg0.key && wg-quick up /lab/out/$h/wg0.conf > /tmp/wg-$h.log 2>&1" || { echo "wg-quick failed on $h"; cat "/tmp/wg-$h.log"; exit 1; }
  done
}

down() {
  for h in vpn-core client-a client-b outsider br; do ip netns del "$h" 2>/dev/null || true; done
  rm -rf /sys/fs/bpf/wgpc-*
}

for backend in nftables iptables; do
  up
  for h in $MEMBERS; do
    WGPC_BPFFS="/sys/fs/bpf/wgpc-$h" nsenter --net="/run/netns/$h" bash "/lab/out/$h/apply.sh" --firewall "$backend" > "/tmp/apply-$h.log" 2>&1 \
      && echo "RESULT $backend apply-$h ok" || { echo "RESULT $backend apply-$h failed"; cat "/tmp/apply-$h.log"; }
  done
  # the hub learns the clients' endpoints from their first packets
  for h in client-a client-b; do ip netns exec "$h" ping -c 1 -W 3 192.168.4.1 >/dev/null 2>&1 || true; done
  # (a) client-a to client-b over the VPN, through the hub's netem in both directions
  rtt=$(ip netns exec client-a ping -c 4 -i 0.5 -W 3 192.168.4.3 | sed -n 's/.*= \([0-9.]*\)\/.*/\1/p')
  echo "RESULT $backend rtt-min-ms ${rtt:-none}"
  # (b) the class of client-b's storage shaping counted the packets
  echo "RESULT $backend storage-class-packets $(ip netns exec vpn-core tc -s class show dev wg0 classid 1:10 | sed -n 's/.* \([0-9]*\) pkt.*/\1/p' | head -1)"
  # (c) native XDP on the hub's eth0 drops the seed's demo source and counts it
  ip -n outsider addr add 10.0.123.66/24 dev eth0
  if ip netns exec outsider ping -c 2 -W 1 -I 10.0.123.66 10.0.123.2 >/dev/null 2>&1; then echo "RESULT $backend demo-source passed"; else echo "RESULT $backend demo-source dropped"; fi
  if ip netns exec outsider ping -c 1 -W 2 -I 10.0.123.99 10.0.123.2 >/dev/null 2>&1; then echo "RESULT $backend outsider-ping answered"; else echo "RESULT $backend outsider-ping lost"; fi
  echo "RESULT $backend xdp-mode $(ip -n vpn-core -d link show eth0 | grep -o 'prog/xdp\|xdpgeneric' | head -1)"
  count=$(bpftool -j map lookup pinned /sys/fs/bpf/wgpc-vpn-core/eth0/wgpc_rule_stats key 0 0 0 0 | grep -o '"packets":[0-9]*' | cut -d: -f2 | awk '{ s += $1 } END { print s + 0 }')
  echo "RESULT $backend demo-source-drops $count"
  down
done
