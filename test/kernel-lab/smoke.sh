# A first look at the full kernel: the modules wgpc's seed needs are there.
set -e
echo "kernel $(cat /proc/sys/kernel/osrelease)"
ip netns add a
ip netns add b
ip link add va netns a type veth peer name vb netns b
ip -n a addr add 10.9.0.1/24 dev va
ip -n b addr add 10.9.0.2/24 dev vb
ip -n a link set va up
ip -n b link set vb up
ip netns exec a /usr/sbin/tc qdisc add dev va root netem delay 100ms
ip netns exec a /usr/sbin/ping -c 3 -i 0.3 10.9.0.2 | tail -1
ip netns exec a /usr/sbin/tc qdisc replace dev va root fq_codel
ip netns exec a /usr/sbin/tc qdisc show dev va
ip -n a link add wg0 type wireguard
ip netns exec a /usr/sbin/wg show wg0 | head -1
echo smoke-ok
