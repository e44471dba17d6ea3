// Instrumented responses on the wire, from a real workerd (wrangler's unstable_startWorker): the
// relayed body keeps what workerd sends with the handler's own response (Content-Length, a
// pre-compressed body not compressed again, WebSocket upgrades). Each case is compared with the
// same handler uninstrumented (`/raw/...`). Fixture: test/worker/fixture/wire/worker.ts.
import http from "node:http";
import type { AddressInfo } from "node:net";
import zlib from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { unstable_startWorker } from "wrangler";

type Wire = { status: number; headers: http.IncomingHttpHeaders; body: Buffer };

let worker: Awaited<ReturnType<typeof unstable_startWorker>>;
let base: URL;
let upstream: http.Server;
const upstreamBody = zlib.gzipSync(`${"x".repeat(5000)}END`);

beforeAll(async () => {
  process.env.WRANGLER_SEND_METRICS = "false";
  process.env.CLOUDFLARE_CF_FETCH_ENABLED = "false";
  upstream = http.createServer((_req, res) => {
    res.writeHead(200, { "content-encoding": "gzip", "content-length": upstreamBody.length, "content-type": "text/plain" });
    res.end(upstreamBody);
  });
  await new Promise<void>((resolve) => upstream.listen(0, "127.0.0.1", resolve));
  worker = await unstable_startWorker({
    config: "test/worker/fixture/wire/wrangler.toml",
    name: "workerd-response",
    entrypoint: "test/worker/fixture/wire/worker.ts",
    compatibilityDate: "2026-04-01",
    compatibilityFlags: ["nodejs_compat"],
    dev: { server: { hostname: "127.0.0.1", port: 0 }, inspector: false, persist: false, watch: false, logLevel: "none" },
  });
  await worker.ready;
  base = await worker.url;
}, 60_000);

afterAll(async () => {
  await worker?.dispose();
  upstream?.close();
});

/** Raw HTTP/1.1, so that nothing decodes the body on the way. */
function get(path: string, headers: Record<string, string> = {}): Promise<Wire> {
  return new Promise((resolve, reject) => {
    const req = http.request(new URL(path, base), { headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });
}

describe("instrumented responses on the wire (workerd)", () => {
  it("a handler's Content-Length, right or stale, never cuts the body: the whole of it arrives, as uninstrumented", async () => {
    for (const length of ["11", "5", "20"]) {
      for (const prefix of ["/raw", ""]) {
        const res = await get(`${prefix}/text?length=${length}`);
        expect(res.body.toString()).toBe("hello world");
      }
    }
  });

  it("a pre-compressed body (encodeBody: 'manual') arrives compressed once", async () => {
    for (const prefix of ["/raw", ""]) {
      const res = await get(`${prefix}/gzip`, { "accept-encoding": "gzip" });
      expect(res.headers["content-encoding"]).toBe("gzip");
      expect(zlib.gunzipSync(res.body).toString()).toBe("hello precompressed world");
    }
  });

  it("a compressed upstream response passed through (encodeResponseBody: 'manual') arrives compressed once", async () => {
    const port = (upstream.address() as AddressInfo).port;
    for (const prefix of ["/raw", ""]) {
      const res = await get(`${prefix}/upstream?port=${port}`, { "accept-encoding": "gzip" });
      expect(res.headers["content-encoding"]).toBe("gzip");
      expect(zlib.gunzipSync(res.body).toString()).toBe(`${"x".repeat(5000)}END`);
    }
  });

  it("a WebSocket upgrade still works", async () => {
    // A minimal client: the upgrade, one masked text frame, the echo's unmasked frame.
    const key = Buffer.from("mlflow-edge-test").toString("base64");
    const socket = await new Promise<import("node:stream").Duplex>((resolve, reject) => {
      const req = http.request(new URL("/ws", base), { headers: { connection: "Upgrade", upgrade: "websocket", "sec-websocket-key": key, "sec-websocket-version": "13" } });
      req.on("upgrade", (res, sock) => (res.statusCode === 101 ? resolve(sock) : reject(new Error(`status ${res.statusCode}`))));
      req.on("response", (res) => reject(new Error(`no upgrade: ${res.statusCode}`)));
      req.on("error", reject);
      req.end();
    });
    const mask = Buffer.from([1, 2, 3, 4]);
    const payload = Buffer.from("hi").map((b, i) => b ^ mask[i % 4]!);
    const reply = new Promise<string>((resolve) => socket.once("data", (frame: Buffer) => resolve(frame.subarray(2, 2 + (frame[1]! & 0x7f)).toString())));
    socket.write(Buffer.concat([Buffer.from([0x81, 0x80 | 2]), mask, payload]));
    expect(await reply).toBe("echo:hi");
    socket.destroy();
  });

  it("every instrumented request was exported, none left open", async () => {
    let body: { traces: { name: string; status: number }[]; open: number } = { traces: [], open: -1 };
    for (let i = 0; i < 50; i++) {
      body = (await (await fetch(new URL("/traces", base))).json()) as typeof body;
      if (body.traces.length >= 6 && body.open === 0) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(body.traces.map((t) => t.name).sort()).toEqual(["GET /gzip", "GET /text", "GET /text", "GET /text", "GET /upstream", "GET /ws"]);
    expect(body.open).toBe(0);
  });
});
