// The reference for the streaming benchmark: a plain node:http server with no protocol on top.
// POST /sink reads and discards the body; GET /source?bytes=N sends N bytes. Prints its URL as the
// first stdout line. Runs in its own process, like the hub.
import { createServer } from "node:http";

const block = new Uint8Array(1024 * 1024).fill(7);
const server = createServer((req, res) => {
  const url = new URL(req.url ?? "/", "http://x");
  if (req.method === "POST" && url.pathname === "/sink") {
    let bytes = 0;
    req.on("data", (d: Buffer) => {
      bytes += d.length;
    });
    req.on("end", () => res.end(String(bytes)));
    return;
  }
  if (req.method === "GET" && url.pathname === "/source") {
    let left = Number(url.searchParams.get("bytes"));
    res.writeHead(200, { "content-length": String(left) });
    const pump = () => {
      while (left > 0) {
        const n = Math.min(left, block.length);
        left -= n;
        if (!res.write(n === block.length ? block : block.subarray(0, n))) {
          res.once("drain", pump);
          return;
        }
      }
      res.end();
    };
    pump();
    return;
  }
  res.statusCode = 404;
  res.end();
});
server.listen(0, "127.0.0.1", () => {
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${port}` })}\n`);
});
process.on("SIGTERM", () => process.exit(0));
