// Runs inside a scratch namespace: listens on the given TCP and UDP ports
// (both families) and prints one JSON line per UDP datagram received.
// Usage: node net-listener.mjs '{"tcp":[22],"udp":[53]}'
import net from "node:net";
import dgram from "node:dgram";

const { tcp = [], udp = [] } = JSON.parse(process.argv[2] ?? "{}");
let pending = tcp.length + udp.length;
const ready = () => {
  if (--pending === 0) console.log(JSON.stringify({ ready: true }));
};
for (const port of tcp) {
  const server = net.createServer((socket) => socket.destroy());
  server.listen({ port, host: "::", ipv6Only: false }, ready);
}
for (const port of udp) {
  const socket = dgram.createSocket({ type: "udp6", ipv6Only: false });
  socket.on("message", (msg) => console.log(JSON.stringify({ udp: msg.toString() })));
  socket.bind(port, "::", ready);
}
if (pending === 0) console.log(JSON.stringify({ ready: true }));
// the test kills this process; never outlive it by much
setTimeout(() => process.exit(0), 5 * 60_000).unref();
