// Runs inside a scratch namespace: sends each probe from its source address
// and prints what came back as one JSON object: accept (connected, or an
// echo reply), reject (refused or unreachable), or silence (nothing within
// the timeout). UDP datagrams that arrive are seen by the listener instead.
// Usage: node net-prober.mjs '[{"id":"1","proto":"tcp","saddr":"…","daddr":"…","dport":22}]' TIMEOUT_MS
import net from "node:net";
import dgram from "node:dgram";
import { spawn } from "node:child_process";

const probes = JSON.parse(process.argv[2]);
const timeout = Number(process.argv[3] ?? 400);

function tcp(p) {
  return new Promise((resolve) => {
    const socket = net.connect({ host: p.daddr, port: p.dport, localAddress: p.saddr });
    const done = (r) => {
      socket.destroy();
      resolve(r);
    };
    socket.setTimeout(timeout, () => done("silence"));
    socket.on("connect", () => done("accept"));
    socket.on("error", (e) => done(["ECONNREFUSED", "EHOSTUNREACH", "ENETUNREACH", "EACCES"].includes(e.code) ? "reject" : `error:${e.code}`));
  });
}

function udp(p) {
  return new Promise((resolve) => {
    const socket = dgram.createSocket(p.saddr.includes(":") ? "udp6" : "udp4");
    let result = "silence";
    socket.on("error", (e) => {
      result = e.code === "ECONNREFUSED" || e.code === "EHOSTUNREACH" ? "reject" : `error:${e.code}`;
    });
    socket.bind({ address: p.saddr, port: 0 }, () => {
      socket.connect(p.dport, p.daddr, () => {
        socket.send(p.id, () => {
          // a second datagram lets the kernel report an ICMP error from the first
          setTimeout(() => socket.send(p.id, () => {}), timeout / 2);
        });
      });
    });
    setTimeout(() => {
      socket.close();
      resolve(result);
    }, timeout);
  });
}

function icmp(p) {
  return new Promise((resolve) => {
    const ping = spawn("ping", ["-n", "-c", "1", "-W", String(Math.max(1, Math.ceil(timeout / 1000))), "-I", p.saddr, p.daddr]);
    let out = "";
    ping.stdout.on("data", (d) => (out += d));
    ping.on("close", (code) => resolve(code === 0 ? "accept" : /Unreachable|Prohibited/i.test(out) ? "reject" : "silence"));
  });
}

const results = {};
await Promise.all(
  probes.map(async (p) => {
    results[p.id] = await (p.proto === "tcp" ? tcp(p) : p.proto === "udp" ? udp(p) : icmp(p));
  }),
);
console.log(JSON.stringify(results));
