import * as net from "node:net";

/** A loopback TCP proxy whose link can be cut and restored, to simulate a network outage. */
export interface TcpProxy {
  readonly url: string;
  /** Destroys every proxied connection and refuses new ones until restore(). */
  cut(): void;
  restore(): void;
  /**
   * Lets the next request through to the hub and drops its connection when the answer starts:
   * the hub acted on it, the client never hears back.
   */
  cutOnNextRequest(): void;
  close(): Promise<void>;
}

export async function startTcpProxy(targetPort: number): Promise<TcpProxy> {
  const open = new Set<net.Socket>();
  let down = false;
  let armed = false;
  let refuse = 0;
  const server = net.createServer((client) => {
    if (down || refuse > 0) {
      if (refuse > 0) refuse--;
      client.destroy();
      return;
    }
    const upstream = net.connect(targetPort, "127.0.0.1");
    for (const s of [client, upstream]) {
      open.add(s);
      s.on("close", () => open.delete(s));
      s.on("error", () => {
        client.destroy();
        upstream.destroy();
      });
    }
    let dropResponse = false;
    client.on("data", (chunk: Buffer) => {
      // Armed: this request goes through, its response does not (the connection drops first).
      if (armed) {
        armed = false;
        dropResponse = true;
      }
      if (!upstream.write(chunk)) client.pause();
    });
    upstream.on("drain", () => client.resume());
    client.on("end", () => upstream.end());
    upstream.on("data", (chunk: Buffer) => {
      if (dropResponse) {
        // And refuses the next connection, so an HTTP stack that retries by itself fails too.
        refuse = 1;
        client.destroy();
        upstream.destroy();
        return;
      }
      if (!client.write(chunk)) upstream.pause();
    });
    client.on("drain", () => upstream.resume());
    upstream.on("end", () => client.end());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    cut() {
      down = true;
      for (const s of open) s.destroy();
    },
    restore() {
      down = false;
    },
    cutOnNextRequest() {
      armed = true;
    },
    close() {
      for (const s of open) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
