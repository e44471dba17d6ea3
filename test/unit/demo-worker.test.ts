// The demo Worker's own routes (demo/worker.ts), called in Node through Hono's app.request():
// /demo/config never hands a credential to the page and finds the experiment with the buffer's
// credentials, /llm/v1 proxies only the model endpoints and only safe headers, and requests whose
// Host is not a loopback name (DNS rebinding) are refused. The collector behind it is tested in
// test/worker; these requests never reach the TraceBuffer.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

// The TraceBuffer class extends workerd's DurableObject; in Node a stand-in is enough to load it.
vi.mock("cloudflare:workers", () => ({ DurableObject: class {} }));

// Hono's app.request(). The module is imported by a variable name: this file is type-checked with
// Node's types (tsconfig.json), the Worker's sources with workers-types (tsconfig.worker.json).
type DemoApp = { request(url: string, init: RequestInit, env: Record<string, unknown>): Response | Promise<Response> };
const DEMO_WORKER = "../../demo/worker.js";

/** A fresh copy of the module per test: the Worker keeps its experiment lookup in module state. */
async function demoApp(): Promise<DemoApp> {
  vi.resetModules();
  return ((await import(/* @vite-ignore */ DEMO_WORKER)) as { default: DemoApp }).default;
}

const HOST = "127.0.0.1:8787";
const get = (app: DemoApp, path: string, env: Record<string, unknown>, host = HOST) => app.request(`http://${HOST}${path}`, { headers: { host } }, env);
const post = (app: DemoApp, path: string, env: Record<string, unknown>, body: unknown = {}, host = HOST) =>
  app.request(`http://${HOST}${path}`, { method: "POST", headers: { host, "content-type": "application/json" }, body: JSON.stringify(body) }, env);

let server: Server | undefined;
async function listen(handler: (req: IncomingMessage, res: ServerResponse, body: string) => void): Promise<string> {
  server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    handler(req, res, Buffer.concat(chunks).toString());
  });
  await new Promise<void>((r) => server!.listen(0, "127.0.0.1", () => r()));
  return `127.0.0.1:${(server.address() as AddressInfo).port}`;
}
afterEach(async () => {
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  server = undefined;
});

describe("/demo/config", () => {
  it("gives the page the MLflow address without a user name or password", async () => {
    const app = await demoApp();
    const env = { MLFLOW_TRACKING_URI: "http://alice:s3cr%40t@127.0.0.1:5000/prefix/", MLFLOW_EXPERIMENT_ID: "7" };
    const res = await get(app, "/demo/config", env);
    const text = await res.text();
    expect(JSON.parse(text)).toEqual({ mlflowUrl: "http://127.0.0.1:5000/prefix", experimentId: "7" });
    expect(text).not.toMatch(/alice|s3cr/);
  });

  it("strips credentials from MLFLOW_UI_URL too, and gives no address it cannot vouch for", async () => {
    const app = await demoApp();
    const base = { MLFLOW_TRACKING_URI: "http://127.0.0.1:5000", MLFLOW_EXPERIMENT_ID: "7" };
    const url = async (ui: string) => ((await (await get(app, "/demo/config", { ...base, MLFLOW_UI_URL: ui })).json()) as { mlflowUrl: unknown }).mlflowUrl;
    expect(await url("https://bob:pw@mlflow.example.com/")).toBe("https://mlflow.example.com");
    expect(await url("not a url")).toBeNull();
    expect(await url("javascript:alert(1)")).toBeNull();
    // Unencoded "#" or "/" in a password: the parser splits elsewhere and part of it would show.
    expect(await url("https://bob:12#xy@mlflow.example.com")).toBeNull();
    expect(await url("https://bob:p@ss/xy@mlflow.example.com")).toBeNull();
  });

  it("looks the experiment up with the buffer's credentials, and does not keep a miss", async () => {
    let created = false;
    const auths: (string | undefined)[] = [];
    const host = await listen((req, res) => {
      auths.push(req.headers.authorization);
      if (req.headers.authorization !== `Basic ${btoa("alice:pw")}`) return void res.writeHead(401).end("{}");
      res.writeHead(created ? 200 : 404, { "content-type": "application/json" });
      res.end(created ? '{"experiment":{"experiment_id":"42"}}' : '{"error_code":"RESOURCE_DOES_NOT_EXIST"}');
    });
    const app = await demoApp();
    const env = { MLFLOW_TRACKING_URI: `http://${host}`, MLFLOW_EXPERIMENT_NAME: "demo", MLFLOW_TRACKING_USERNAME: "alice", MLFLOW_TRACKING_PASSWORD: "pw" };
    const id = async () => ((await (await get(app, "/demo/config", env)).json()) as { experimentId: unknown }).experimentId;
    expect(await id()).toBeNull(); // a fresh server: the buffer has not created it yet
    created = true;
    expect(await id()).toBe("42");
    expect(auths.every((a) => a === `Basic ${btoa("alice:pw")}`)).toBe(true);
  });

  it("uses a token, or the user name and password in the URI, as the buffer does", async () => {
    const seen: (string | undefined)[] = [];
    const host = await listen((req, res) => {
      seen.push(req.headers.authorization);
      res.writeHead(200, { "content-type": "application/json" }).end('{"experiment":{"experiment_id":"9"}}');
    });
    let app = await demoApp();
    let body = await (await get(app, "/demo/config", { MLFLOW_TRACKING_URI: `http://${host}`, MLFLOW_EXPERIMENT_NAME: "demo", MLFLOW_TRACKING_TOKEN: "tok" })).json();
    expect(body).toEqual({ mlflowUrl: `http://${host}`, experimentId: "9" });
    app = await demoApp();
    body = await (await get(app, "/demo/config", { MLFLOW_TRACKING_URI: `http://bob:pw@${host}`, MLFLOW_EXPERIMENT_NAME: "demo" })).json();
    expect(body).toEqual({ mlflowUrl: `http://${host}`, experimentId: "9" });
    expect(seen).toEqual(["Bearer tok", `Basic ${btoa("bob:pw")}`]);
  });
});

describe("/demo/chat-config: the chat page's model and ingest key", () => {
  const config = async (env: Record<string, string>) => (await (await get(await demoApp(), "/demo/chat-config", env)).json()) as { model: string; ingestKey: string | null };

  it("answers at once, without the MLflow lookup /demo/config waits on (a hung MLflow delayed the page's first answer by 5 s)", async () => {
    const asked: string[] = [];
    const host = await listen((req) => void asked.push(req.url ?? "")); // an MLflow that never answers
    expect(await config({ MLFLOW_TRACKING_URI: `http://${host}`, MLFLOW_EXPERIMENT_NAME: "demo" })).toEqual({ model: "demo-mini", ingestKey: null });
    expect(asked).toEqual([]);
  });

  it("the model the page asks for: the built-in one's, or OPENAI_MODEL (default gpt-4o-mini) with a real provider (before: demo-mini, which a provider refuses)", async () => {
    expect((await config({})).model).toBe("demo-mini");
    expect((await config({ OPENAI_BASE_URL: "https://api.example/v1" })).model).toBe("demo-mini"); // no key: the built-in model answers
    expect((await config({ OPENAI_BASE_URL: "https://api.example/v1", OPENAI_API_KEY: "sk-1" })).model).toBe("gpt-4o-mini");
    expect((await config({ OPENAI_BASE_URL: "https://api.example/v1", OPENAI_API_KEY: "sk-1", OPENAI_MODEL: "llama-3.1-8b" })).model).toBe("llama-3.1-8b");
  });

  it("the ingest key is the first of INGEST_KEYS bound to the page's origin, never another app's (before: the page's own hard-coded key, refused once INGEST_KEYS was set)", async () => {
    const keys = (k: unknown) => ({ INGEST_KEYS: JSON.stringify(k) });
    expect((await config(keys([{ key: "pk-other", origins: ["https://app.example.com"] }, { key: "pk-demo-mine", origins: ["self"] }]))).ingestKey).toBe("pk-demo-mine");
    expect((await config(keys([{ key: "pk-demo-here", origins: [`http://${HOST}`] }]))).ingestKey).toBe("pk-demo-here");
    expect((await config(keys([{ key: "pk-demo-any", origins: ["*"] }]))).ingestKey).toBe("pk-demo-any");
    expect((await config(keys([{ key: "pk-other", origins: ["https://app.example.com"] }]))).ingestKey).toBeNull();
    expect((await config({ INGEST_KEYS: "not json" })).ingestKey).toBeNull();
    expect((await config({})).ingestKey).toBeNull();
  });
});

describe("/llm/v1", () => {
  const chat = { model: "demo-mini", messages: [{ role: "user", content: "What is mlflow-edge?" }] };

  it("serves the model endpoints and refuses any other path with a JSON 404 (built-in model)", async () => {
    const app = await demoApp();
    expect((await post(app, "/llm/v1/chat/completions", {}, chat)).status).toBe(200);
    expect((await post(app, "/llm/v1/embeddings", {}, { model: "demo-embed", input: "hi" })).status).toBe(200);
    for (const path of ["/llm/v1/files", "/llm/v1/chat%2Fcompletions", "/llm/v1/..%2Ffiles", "/llm/v1/chat/completions/x"]) {
      const res = await post(app, path, {}, chat);
      expect([path, res.status, res.headers.get("content-type")]).toEqual([path, 404, "application/json"]);
      expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/not/);
    }
  });

  describe("with a provider (OPENAI_BASE_URL)", () => {
    const paths: string[] = [];
    let env: Record<string, string>;
    beforeEach(async () => {
      paths.length = 0;
      const host = await listen((req, res) => {
        paths.push(req.url ?? "");
        res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", "set-cookie": "session=provider-secret", "x-internal": "1", "openai-organization": "org-x" });
        res.end('data: {"ok":true}\n\ndata: [DONE]\n\n');
      });
      env = { OPENAI_BASE_URL: `http://${host}/v1/`, OPENAI_API_KEY: "sk-key" };
    });

    it("forwards only the model endpoints, with the key", async () => {
      const app = await demoApp();
      expect((await post(app, "/llm/v1/files", env, chat)).status).toBe(404);
      expect((await post(app, "/llm/v1/..%2F..%2Fadmin", env, chat)).status).toBe(404);
      expect((await post(app, "/llm/v1/chat%2Fcompletions", env, chat)).status).toBe(404);
      expect((await post(app, "/llm/v1/%2e%2e/v1/files", env, chat)).status).toBe(404); // the URL is /llm/v1/files once parsed
      expect(paths).toEqual([]);
      const res = await post(app, "/llm/v1/chat/completions", env, { ...chat, stream: true });
      expect(res.status).toBe(200);
      expect(await res.text()).toContain("[DONE]");
      expect(paths).toEqual(["/v1/chat/completions"]);
    });

    it("spends the key only for the demo's own pages: a cross-site page's request (CSRF) is refused before it reaches the provider", async () => {
      const app = await demoApp();
      const body = JSON.stringify(chat);
      const send = (headers: Record<string, string>) => app.request(`http://${HOST}/llm/v1/chat/completions`, { method: "POST", headers: { host: HOST, ...headers }, body }, env);
      // What a page elsewhere can send without a preflight: a text/plain body, its own Origin.
      const forged: Record<string, string>[] = [
        { origin: "https://evil.example", "content-type": "text/plain;charset=UTF-8", "sec-fetch-site": "cross-site" },
        { origin: "https://evil.example", "content-type": "application/json" },
        { "content-type": "application/json", "sec-fetch-site": "same-site" },
        { origin: "null", "content-type": "application/json" }, // a sandboxed frame or a data: URL
        { "content-type": "text/plain;charset=UTF-8" }, // a browser that sends neither header
        { "content-type": "application/x-www-form-urlencoded", origin: `http://${HOST}` },
      ];
      for (const headers of forged) expect([headers, [403, 415].includes((await send(headers)).status)]).toEqual([headers, true]);
      expect(paths).toEqual([]);
      // The chat page itself: same origin, JSON.
      expect((await send({ origin: `http://${HOST}`, "content-type": "application/json", "sec-fetch-site": "same-origin" })).status).toBe(200);
      expect((await send({ "content-type": "application/json; charset=utf-8" })).status).toBe(200); // a server-side client
      expect(paths).toEqual(["/v1/chat/completions", "/v1/chat/completions"]);
    });

    it("a provider that cannot be reached is a JSON 502 in OpenAI's error shape, not a bare 500", async () => {
      const app = await demoApp();
      const warn = vi.spyOn(console, "warn").mockImplementation(() => undefined); // the reason, for the Worker's log
      const res = await post(app, "/llm/v1/chat/completions", { ...env, OPENAI_BASE_URL: "http://127.0.0.1:9/v1" }, chat);
      expect([res.status, res.headers.get("content-type")]).toEqual([502, "application/json"]);
      expect(((await res.json()) as { error: { type: string } }).error.type).toBe("api_error");
      expect(warn.mock.calls.join(" ")).toContain("could not be reached");
      warn.mockRestore();
    });

    it("passes back only the headers a client needs, never the provider's cookies", async () => {
      const app = await demoApp();
      const res = await post(app, "/llm/v1/chat/completions", env, { ...chat, stream: true });
      expect(res.headers.get("content-type")).toBe("text/event-stream");
      expect(res.headers.get("cache-control")).toBe("no-cache");
      expect(res.headers.get("set-cookie")).toBeNull();
      expect(res.headers.get("x-internal")).toBeNull();
      expect(res.headers.get("openai-organization")).toBeNull();
    });
  });

  const KEY = "sk-proj/Ab+cd-EF_gh/12345";
  it("a provider's error: its JSON with the key masked; an HTML error page becomes a short JSON error (before: the page showed the HTML, and a key the provider quoted)", async () => {
    const host = await listen((req, res) => {
      if (req.url!.endsWith("/embeddings")) {
        res.writeHead(502, { "content-type": "text/html" }).end("<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>");
      } else {
        // The key quoted as it came, JSON-escaped as PHP writes it, and URL-encoded.
        const quoted = JSON.stringify({ error: { message: `Invalid key ${req.headers.authorization}`, type: "invalid_request_error", escaped: KEY, url: `?api_key=${encodeURIComponent(KEY)}` } });
        res.writeHead(401, { "content-type": "application/json; charset=utf-8", "retry-after": "3" }).end(quoted.replace(/"escaped":"[^"]*"/, (m) => m.replaceAll("-", "\\u002d").replaceAll("/", "\\/")));
      }
    });
    const app = await demoApp();
    const providerEnv = { OPENAI_BASE_URL: `http://${host}/v1`, OPENAI_API_KEY: KEY };
    const refused = await post(app, "/llm/v1/chat/completions", providerEnv, chat);
    expect([refused.status, refused.headers.get("content-type"), refused.headers.get("retry-after")]).toEqual([401, "application/json", "3"]);
    expect(await refused.json()).toEqual({ error: { message: "Invalid key Bearer ***", type: "invalid_request_error", escaped: "***", url: "?api_key=***" } });
    const warn = vi.spyOn(console, "warn").mockImplementation(() => undefined);
    const gateway = await post(app, "/llm/v1/embeddings", providerEnv, { model: "m", input: "hi" });
    expect([gateway.status, gateway.headers.get("content-type")]).toEqual([502, "application/json"]);
    const { error } = (await gateway.json()) as { error: { message: string; code: string } };
    expect(error.message).not.toMatch(/<|nginx/);
    expect(error.message).toContain("502");
    expect(warn.mock.calls.join(" ")).toContain("nginx"); // the details are in the Worker's log
    warn.mockRestore();
  });
});

describe("Cross-site requests (CSRF)", () => {
  it("the collector's retry takes POSTs from the demo's pages only; reads are left to the collector", async () => {
    const app = await demoApp();
    const retry = `http://${HOST}/api/traces/tr-${"a".repeat(32)}/retry`;
    const res = await app.request(retry, { method: "POST", headers: { host: HOST, origin: "https://evil.example" } }, {});
    expect([res.status, ((await res.json()) as { error: string }).error]).toEqual([403, expect.stringContaining("takes requests from the demo's own pages only")]);
    // From its own page the request reaches the collector (whose store this test does not have: 503).
    expect((await app.request(retry, { method: "POST", headers: { host: HOST, origin: `http://${HOST}` } }, {})).status).not.toBe(403);
  });
});

describe("Host check (DNS rebinding)", () => {
  it("answers loopback names on any port", async () => {
    const app = await demoApp();
    for (const host of ["127.0.0.1:8787", "localhost:9000", "[::1]:8787", "LOCALHOST:8787", "127.0.0.1"]) {
      expect([host, (await get(app, "/demo/config", {}, host)).status]).toEqual([host, 200]);
    }
  });

  it("refuses any other Host with a 403 JSON error, before the route runs", async () => {
    const app = await demoApp();
    for (const host of ["evil.example:8787", "evil.example", "127.0.0.1.evil.example:8787", "localhost.evil.example", "127.0.0.2:8787"]) {
      for (const res of [await get(app, "/api/traces", {}, host), await post(app, "/llm/v1/chat/completions", {}, {}, host), await get(app, "/demo/config", {}, host)]) {
        expect([host, res.status, res.headers.get("content-type")]).toEqual([host, 403, "application/json"]);
        expect(((await res.json()) as { error: string }).error).toMatch(/Host/);
      }
    }
  });
});
