// A fault-injecting HTTP proxy on 127.0.0.1 in front of the real MLflow server: it can answer
// chosen statuses, stall, or be down, and records what passed through. MLflow stays the judge of
// what was delivered; the proxy only makes the outage.
import { createServer, request, type IncomingHttpHeaders, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export type Fault = { status: number; body?: string; headers?: Record<string, string> } | "stall";

export interface SeenRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  /** The status the client got (the fault's or MLflow's). */
  status: number;
}

export class FaultProxy {
  readonly seen: SeenRequest[] = [];
  /** Faults applied to the next matching requests, in order. */
  readonly faults: { match: RegExp; fault: Fault }[] = [];
  private server: Server | undefined;
  private stalled: (() => void)[] = [];
  port = 0;

  constructor(private readonly target: string) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Next `count` requests whose path matches get `fault` instead of reaching MLflow. */
  inject(match: RegExp, fault: Fault, count = 1): void {
    for (let i = 0; i < count; i++) this.faults.push({ match, fault });
  }

  async start(port = 0): Promise<void> {
    const target = new URL(this.target);
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        if (req.url?.startsWith("/__proxy/")) return this.control(req.method ?? "", req.url, Buffer.concat(chunks).toString("utf8"), res);
        const record: SeenRequest = { method: req.method ?? "", path: req.url ?? "", headers: req.headers, status: 0 };
        this.seen.push(record);
        const i = this.faults.findIndex((f) => f.match.test(record.path));
        if (i >= 0) {
          const { fault } = this.faults.splice(i, 1)[0]!;
          if (fault === "stall") {
            this.stalled.push(() => res.destroy());
            return;
          }
          record.status = fault.status;
          res.writeHead(fault.status, { "Content-Type": "application/json", ...fault.headers });
          res.end(fault.body ?? '{"error_code": "INTERNAL_ERROR", "message": "injected fault"}');
          return;
        }
        const upstream = request(
          { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: { ...req.headers, host: target.host } },
          (up) => {
            record.status = up.statusCode ?? 0;
            res.writeHead(up.statusCode ?? 502, up.headers);
            up.pipe(res);
          },
        );
        upstream.on("error", (e) => {
          record.status = 502;
          res.writeHead(502);
          res.end(String(e));
        });
        upstream.end(Buffer.concat(chunks));
      });
    });
    await new Promise<void>((resolve, reject) => {
      this.server!.once("error", reject);
      this.server!.listen(port, "127.0.0.1", () => resolve());
    });
    this.port = (this.server.address() as AddressInfo).port;
  }

  /** Stops listening: connections to the port are refused until `start(port)` again. */
  async stop(): Promise<void> {
    for (const release of this.stalled.splice(0)) release();
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /**
   * The same controls over HTTP, for tests that run inside workerd and cannot reach this object:
   *   POST /__proxy/faults {"match": "<regex>", "status": 503, "count": 2, "body"?, "headers"?}
   *   GET  /__proxy/count?match=<regex>   → {"count": n}
   *   GET  /__proxy/auth?match=<regex>    → {"authorization": [the Authorization header each matching request carried, or null]}
   *   POST /__proxy/reset                  clears faults and the request log
   */
  private control(method: string, url: string, body: string, res: ServerResponse): void {
    const u = new URL(url, "http://proxy");
    const reply = (status: number, value: unknown) => {
      res.writeHead(status, { "Content-Type": "application/json" });
      res.end(JSON.stringify(value));
    };
    try {
      if (method === "POST" && u.pathname === "/__proxy/faults") {
        const f = JSON.parse(body) as { match: string; status: number; count?: number; body?: string; headers?: Record<string, string> };
        this.inject(new RegExp(f.match), { status: f.status, body: f.body, headers: f.headers }, f.count ?? 1);
        return reply(200, { queued: this.faults.length });
      }
      if (method === "GET" && u.pathname === "/__proxy/count") return reply(200, { count: this.count(new RegExp(u.searchParams.get("match") ?? "")) });
      if (method === "GET" && u.pathname === "/__proxy/auth") {
        const match = new RegExp(u.searchParams.get("match") ?? "");
        return reply(200, { authorization: this.seen.filter((r) => match.test(r.path)).map((r) => r.headers.authorization ?? null) });
      }
      if (method === "POST" && u.pathname === "/__proxy/reset") {
        this.faults.splice(0);
        this.seen.splice(0);
        return reply(200, {});
      }
      reply(404, { error: "unknown proxy control" });
    } catch (error) {
      reply(400, { error: String(error) });
    }
  }

  /** How many requests reached a path matching `match`. */
  count(match: RegExp): number {
    return this.seen.filter((r) => match.test(r.path)).length;
  }
}
