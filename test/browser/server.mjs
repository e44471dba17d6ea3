// Test server for the browser tests (loopback only).
//   GET /page/<name>?build=native|lowered&zone=1   an HTML page that loads the bundle below (cacheable=1: bfcache may keep it)
//   GET /bundle/<name>.js?build=…&zone=1           test/browser/pages/<name>.ts bundled by esbuild;
//                                                  build=lowered lowers async/await (Zone.js mode),
//                                                  zone=1 loads zone.js first
//   GET /slow?ms=N, GET /stream?chunks=N&gap=ms     endpoints the pages fetch (fetch/stream scenarios)
//   GET /echo-headers                                the request's headers as JSON
//   /v1/ingest, /stub/*                             the stand-in collector (collector-stub.mjs)
import { build } from "esbuild";
import { createServer } from "node:http";
import { join } from "node:path";
import { zoneBuildOptions } from "../../browser/build.js";
import { handleCollector } from "./collector-stub.mjs";

const root = join(import.meta.dirname, "..", "..");
const port = Number(process.argv[2] ?? 8790);
const cache = new Map();

async function bundle(name, lowered, zone) {
  const key = `${name}:${lowered}:${zone}`;
  if (!cache.has(key)) {
    const entry = join(root, "test/browser/pages", `${name}.ts`);
    // The package declares sideEffects: false, so a bare `import "page"` would be dropped: export it.
    const contents = `${zone ? 'import "zone.js";\n' : ""}export * as page from ${JSON.stringify(entry)};`;
    cache.set(key, build({
      stdin: { contents, resolveDir: root, loader: "ts" },
      bundle: true, format: "esm", platform: "browser", target: "es2022", write: false, keepNames: true, logLevel: "silent",
      ...(lowered ? zoneBuildOptions() : {}), // the build help mlflow-edge ships for Zone.js mode
      define: { "process.env.NODE_ENV": '"development"' },
    }).then((r) => r.outputFiles[0].text));
  }
  return cache.get(key);
}

const send = (res, status, type, body, headers = {}) => {
  res.writeHead(status, { "content-type": type, "cache-control": "no-store", ...headers });
  res.end(body);
};

createServer(async (req, res) => {
  try {
    const url = new URL(req.url, `http://127.0.0.1:${port}`);
    const p = url.pathname;
    if (p === "/health") return send(res, 200, "text/plain", "ok");
    if (await handleCollector(req, res, url)) return;
    const build = url.searchParams.get("build") === "lowered";
    const zone = url.searchParams.get("zone") === "1";
    let m;
    if ((m = /^\/page\/([\w-]+)$/.exec(p))) {
      const q = `build=${build ? "lowered" : "native"}${zone ? "&zone=1" : ""}`;
      // cacheable=1: a page the back/forward cache may keep (no-store keeps Chrome from caching it).
      const headers = url.searchParams.get("cacheable") === "1" ? { "cache-control": "no-cache" } : {};
      return send(res, 200, "text/html", `<!doctype html><meta charset="utf-8"><title>${m[1]}</title><body><script type="module" src="/bundle/${m[1]}.js?${q}"></script></body>`, headers);
    }
    if ((m = /^\/bundle\/([\w-]+)\.js$/.exec(p))) return send(res, 200, "text/javascript", await bundle(m[1], build, zone));
    if (p === "/slow") {
      await new Promise((r) => setTimeout(r, Number(url.searchParams.get("ms") ?? 10)));
      return send(res, 200, "application/json", JSON.stringify({ ok: true }));
    }
    if (p === "/stream") {
      res.writeHead(200, { "content-type": "text/plain" });
      const n = Number(url.searchParams.get("chunks") ?? 3);
      const gap = Number(url.searchParams.get("gap") ?? 5);
      for (let i = 0; i < n; i++) {
        res.write(`chunk${i};`);
        await new Promise((r) => setTimeout(r, gap));
      }
      return res.end();
    }
    // Open to every origin (a page may send it cross-origin, traceparent and all): the test reads what arrived.
    const open = { "access-control-allow-origin": "*", "access-control-allow-headers": "*" };
    if (p === "/echo-headers" && req.method === "OPTIONS") return send(res, 204, "text/plain", "", open);
    if (p === "/echo-headers") return send(res, 200, "application/json", JSON.stringify({ ...req.headers, "x-echo-method": req.method }), open);
    return send(res, 404, "text/plain", "not found");
  } catch (error) {
    send(res, 500, "text/plain", String(error?.stack ?? error));
  }
}).listen(port, "127.0.0.1");
