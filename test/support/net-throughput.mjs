// A bulk TCP transfer between scratch namespaces.
//   node net-throughput.mjs server PORT          prints "ready", then serves
//   node net-throughput.mjs client HOST PORT S   sends for S seconds, prints {"bytes","seconds"}
// The server answers each connection, once the sender is done, with the
// number of bytes it received; the client counts the time until that answer.
import net from "node:net";

const [mode, ...args] = process.argv.slice(2);
if (mode === "server") {
  const server = net.createServer((socket) => {
    let bytes = 0;
    socket.on("data", (chunk) => (bytes += chunk.length));
    socket.on("end", () => socket.end(String(bytes)));
    socket.on("error", () => {});
  });
  server.listen({ port: Number(args[0]), host: "::", ipv6Only: false }, () => console.log("ready"));
  setTimeout(() => process.exit(0), 5 * 60_000).unref();
} else {
  const [host, port, seconds] = args;
  const chunk = Buffer.alloc(64 * 1024, 0x5a);
  const started = process.hrtime.bigint();
  const elapsed = () => Number(process.hrtime.bigint() - started) / 1e9;
  const socket = net.connect({ host, port: Number(port) }, () => {
    const pump = () => {
      while (elapsed() < Number(seconds)) {
        if (!socket.write(chunk)) return socket.once("drain", pump);
      }
      socket.end();
    };
    pump();
  });
  let answer = "";
  socket.on("data", (d) => (answer += d));
  socket.on("close", () => console.log(JSON.stringify({ bytes: Number(answer), seconds: elapsed() })));
  socket.on("error", (e) => {
    console.error(e.message);
    process.exit(1);
  });
}
