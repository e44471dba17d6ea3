// The package as an app installs it: what `npm pack` ships (dist/ only), imported by plain Node
// with no TypeScript step, and type-checked by an app's strict tsc against the declarations alone.
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const root = join(import.meta.dirname, "..", "..");
let app: string;

beforeAll(() => {
  app = mkdtempSync(join(tmpdir(), "mlflow-edge-app-"));
  // dist/ was built by the core project's global setup; packing must not rebuild it under the
  // other test files that import it.
  const out = execFileSync("npm", ["pack", "--ignore-scripts", "--pack-destination", app, "--json"], { cwd: root }).toString();
  const { filename } = (JSON.parse(out) as { filename: string }[])[0]!;
  const modules = join(app, "node_modules");
  mkdirSync(modules);
  execFileSync("tar", ["-xzf", join(app, filename), "-C", app]);
  execFileSync("mv", [join(app, "package"), join(modules, "mlflow-edge")]);
  // Its dependencies, and what the app itself would install (types for its runtime, openai).
  for (const dep of ["hono", "idb", "openai", "@cloudflare"]) symlinkSync(join(root, "node_modules", dep), join(modules, dep));
}, 60_000);
afterAll(() => rmSync(app, { recursive: true, force: true }));

// Each test runs Node or tsc in the packed app: seconds on a loaded machine.
describe("the packed package", { timeout: 120_000 }, () => {
  it("ships the built JavaScript and declarations, and no TypeScript sources or tests", () => {
    const files = readdirSync(join(app, "node_modules", "mlflow-edge"), { recursive: true }).map(String);
    expect(files).toContain(join("dist", "core", "index.js"));
    expect(files).toContain(join("dist", "core", "index.d.ts"));
    expect(files).toContain(join("dist", "browser", "build.js"));
    expect(files.filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts"))).toEqual([]);
    expect(files.filter((f) => f.includes("test"))).toEqual([]);
  });

  it("runs in plain Node: no loader, no bundler", () => {
    writeFileSync(
      join(app, "app.mjs"),
      `import * as mlflow from "mlflow-edge";
       import { initBrowser } from "mlflow-edge/browser";
       import { tracedOpenAI } from "mlflow-edge/openai";
       const exporter = new mlflow.InMemoryExporter();
       mlflow.init({ exporter });
       const add = mlflow.trace(async function add(a, b) { return a + b; }, { spanType: mlflow.SpanType.TOOL });
       const sum = await add(1, 2);
       await mlflow.flushTraces();
       console.log(JSON.stringify({ sum, spans: exporter.traces[0].data.spans.map((s) => [s.name, s.spanType, s.inputs, s.outputs]), browser: typeof initBrowser, openai: typeof tracedOpenAI }));`,
    );
    const out = execFileSync(process.execPath, ["app.mjs"], { cwd: app }).toString().trim();
    expect(JSON.parse(out)).toEqual({ sum: 3, spans: [["add", "TOOL", { a: 1, b: 2 }, 3]], browser: "function", openai: "function" });
  });

  it("a script ending in `await flushTraces()` against an MLflow server that is down reports the failure and finishes", () => {
    writeFileSync(
      join(app, "down.mjs"),
      `import * as mlflow from "mlflow-edge";
       mlflow.init({ trackingUri: "http://127.0.0.1:1", experimentId: "1", retry: { maxAttempts: 3, initialDelayMs: 100 } });
       mlflow.trace(function add(a, b) { return a + b; })(1, 2);
       await mlflow.flushTraces();
       console.log("after flush");`,
    );
    // Unsettled, the top-level await would end the process with code 13 and print nothing.
    const result = spawnSync(process.execPath, ["down.mjs"], { cwd: app, encoding: "utf8", timeout: 30_000 });
    expect({ status: result.status, stdout: result.stdout.trim() }).toEqual({ status: 0, stdout: "after flush" });
    expect(result.stderr).toMatch(/MlflowNetworkError: MLflow POST http:\/\/127\.0\.0\.1:1\/v1\/traces failed.*after 3 attempts/);
  });

  it("shares the app's own Hono and idb of a later 4.x / 8.x release (no second copy), and takes the app's openai 7 (no peer conflict)", () => {
    // A second Hono makes the app's \`app.route("/", createCollector(…))\` and \`app.use(mlflowTracing())\`
    // fail its tsc (two HonoRequest types) and puts two Honos in the Worker's bundle.
    const dir = join(app, "dedupe");
    mkdirSync(dir);
    const put = (name: string, json: object) => {
      mkdirSync(join(dir, "node_modules", name), { recursive: true });
      writeFileSync(join(dir, "node_modules", name, "package.json"), JSON.stringify(json));
    };
    const packed = JSON.parse(readFileSync(join(app, "node_modules", "mlflow-edge", "package.json"), "utf8")) as { version: string };
    writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "app", private: true, dependencies: { "mlflow-edge": packed.version, hono: "4.99.0", idb: "8.99.0", openai: "7.99.0" } }));
    put("mlflow-edge", packed);
    put("hono", { name: "hono", version: "4.99.0" });
    put("idb", { name: "idb", version: "8.99.0" });
    // openai 7 (the latest major since July 2026) beside the package: a peer range ending at 6 made
    // `npm install mlflow-edge` fail with ERESOLVE in such an app.
    put("openai", { name: "openai", version: "7.99.0" });
    // npm's own reading of the tree, offline: a dependency the app's copy does not satisfy is "invalid".
    const ls = spawnSync("npm", ["ls", "--all", "--offline", "--json"], { cwd: dir, encoding: "utf8" });
    expect((JSON.parse(ls.stdout) as { problems?: string[] }).problems ?? []).toEqual([]);
  });

  it("bundles the README's Worker (collector, buffer, instrument(), mlflowTracing()) with wrangler from the packed package", () => {
    const dir = join(app, "worker-app");
    mkdirSync(dir);
    symlinkSync(join(app, "node_modules"), join(dir, "node_modules"));
    writeFileSync(
      join(dir, "worker.js"),
      `import { Hono } from "hono";
       import { bufferStoreFromEnv, createCollector, instrument, mlflowTracing, TraceBuffer } from "mlflow-edge/worker";
       import { trace } from "mlflow-edge";
       export { TraceBuffer };
       const answer = trace(async function answer(q) { return q; }, { spanType: "CHAIN" });
       const app = new Hono();
       app.route("/", createCollector({ store: (env) => bufferStoreFromEnv(env) }));
       app.use("/chat/*", mlflowTracing());
       app.post("/chat/answer", async (c) => c.json(await answer(await c.req.text())));
       const traced = instrument({ async fetch(request) { return Response.json(await answer(await request.text())); } });
       export default { fetch: (request, env, ctx) => (new URL(request.url).pathname === "/answer" ? traced : app).fetch(request, env, ctx) };`,
    );
    // The README's wrangler.toml.
    writeFileSync(
      join(dir, "wrangler.toml"),
      `name = "app"\nmain = "worker.js"\ncompatibility_date = "2026-04-01"\ncompatibility_flags = ["nodejs_compat"]\n` +
        `[[durable_objects.bindings]]\nname = "TRACE_BUFFER"\nclass_name = "TraceBuffer"\n` +
        `[[migrations]]\ntag = "v1"\nnew_sqlite_classes = ["TraceBuffer"]\n`,
    );
    const result = spawnSync(
      join(root, "node_modules", ".bin", "wrangler"),
      ["deploy", "--dry-run", "--outdir", "out", "--metafile", "out/meta.json"],
      { cwd: dir, encoding: "utf8", env: { ...process.env, WRANGLER_SEND_METRICS: "false", WRANGLER_LOG_PATH: join(dir, "logs"), CI: "1", NO_COLOR: "1", FORCE_COLOR: "0" }, timeout: 60_000 },
    );
    expect(result.status, result.stdout + result.stderr).toBe(0);
    expect(result.stdout + result.stderr).not.toMatch(/\bwarn(ing)?\b/i);
    const meta = JSON.parse(readFileSync(join(dir, "out", "meta.json"), "utf8")) as {
      inputs: Record<string, unknown>;
      outputs: Record<string, { imports: { path: string; external?: boolean }[] }>;
    };
    // Only the shipped JavaScript of the package, never a source file it does not ship.
    const ours = Object.keys(meta.inputs).filter((f) => f.includes("mlflow-edge"));
    expect(ours.length).toBeGreaterThan(10);
    expect(ours.filter((f) => !/node_modules\/mlflow-edge\/dist\/.+\.js$/.test(f))).toEqual([]);
    // Left to the runtime: cloudflare:workers and, at most, Node built-ins that nodejs_compat provides.
    const nodejsCompat = /^node:(async_hooks|buffer|crypto|diagnostics_channel|events|path|process|stream|string_decoder|timers|url|util|zlib)$/;
    const external = new Set(Object.values(meta.outputs).flatMap((o) => o.imports.filter((i) => i.external).map((i) => i.path)));
    expect([...external].filter((p) => p !== "cloudflare:workers" && !nodejsCompat.test(p))).toEqual([]);
  });

  // TypeScript 7 (the repository's) and 5, which most apps still have: they infer differently
  // (TypeScript 5 took a traced function expression's `this` as never, so calling it failed).
  it.each([
    ["TypeScript 7", join(root, "node_modules", "typescript", "bin", "tsc"), []],
    ["TypeScript 5", process.execPath, [join(root, "node_modules", "typescript5", "bin", "tsc")]],
  ])("type-checks in a strict app (exactOptionalPropertyTypes, no skipLibCheck) from its declarations, with %s", (_, tsc, tscArgs) => {
    const check = (name: string, code: string, compilerOptions: Record<string, unknown>) => {
      writeFileSync(join(app, `${name}.ts`), code);
      writeFileSync(
        join(app, `tsconfig.${name}.json`),
        JSON.stringify({
          compilerOptions: {
            strict: true, exactOptionalPropertyTypes: true, noUncheckedIndexedAccess: true, skipLibCheck: false,
            target: "es2022", module: "esnext", moduleResolution: "bundler", noEmit: true, ...compilerOptions,
          },
          files: [`${name}.ts`],
        }),
      );
      execFileSync(tsc, [...tscArgs, "-p", `tsconfig.${name}.json`], { cwd: app, stdio: "pipe" });
    };
    const run = (fn: () => void) => {
      try {
        fn();
      } catch (error) {
        throw new Error(String((error as { stdout?: Buffer }).stdout ?? error));
      }
    };
    run(() =>
      check(
        "page",
        `import * as mlflow from "mlflow-edge";
         import { initBrowser } from "mlflow-edge/browser";
         import { zoneBuildOptions } from "mlflow-edge/browser/build";
         const ask = mlflow.trace(async (q: string) => q.length, { spanType: mlflow.SpanType.LLM });
         const n: Promise<number> = ask("x");
         // The README's form: a named function expression, called as the function it wraps.
         const answer = mlflow.trace(async function answer(question: string) { return question; }, { spanType: mlflow.SpanType.CHAIN });
         const a: Promise<string> = answer("What is MLflow?");
         // The README's initBrowser example, as written there.
         const tracing = initBrowser({
           collectorUrl: "https://collector.example.com",
           ingestKey: "pk-site-key",
           propagateTo: ["https://api.example.com"],
           sample: (t) => t.info.state === "ERROR" || mlflow.sampledIn(t.info.traceId, 0.1),
           redact: mlflow.createRedactor({ keys: ["ssn"], patterns: mlflow.PII_PATTERNS }),
         });
         void tracing.stats().then((s) => s.queued);
         void mlflow.withSpan((span) => span.setAttribute("k", 1), { name: "w" });
         export { a, n, zoneBuildOptions };`,
        { lib: ["es2022", "dom", "dom.iterable"], types: [] },
      ),
    );
    run(() =>
      check(
        "worker",
        `import { Hono } from "hono";
         import { DurableObject } from "cloudflare:workers";
         import { bufferStoreFromEnv, createCollector, instrument, instrumentDurableObject, mlflowTracing, TraceBuffer } from "mlflow-edge/worker";
         import { getTracingContextHeadersForHttpRequest, trace } from "mlflow-edge";
         const answer = trace(async function answer(q: string) { return q; });
         export default instrument({ async fetch(request: Request) { return new Response(await answer(await request.text())); } });
         // The README's collector, as written there, with the Env that \`wrangler types\` declares.
         interface Env { TRACE_BUFFER: DurableObjectNamespace<TraceBuffer>; CHAT_AGENT: DurableObjectNamespace<ChatAgent>; INGEST_KEYS: string }
         const app = new Hono<{ Bindings: Env }>();
         app.route("/", createCollector({ store: (env) => bufferStoreFromEnv(env)! }));
         // The README's Durable Object, as written there, called over RPC with the tracing context.
         export const ChatAgent = instrumentDurableObject(class ChatAgent extends DurableObject<Env> {
           async chat(prompt: string, _context?: Record<string, string>) { return answer(prompt); }
         });
         export type ChatAgent = InstanceType<typeof ChatAgent>;
         app.post("/chat", async (c) => {
           const reply: string = await c.env.CHAT_AGENT.get(c.env.CHAT_AGENT.idFromName("a")).chat("hi", getTracingContextHeadersForHttpRequest());
           return c.json(reply);
         });
         // Handlers typed with their own Env, as Worker projects write them: the whole app, a satisfies.
         const wholeApp = instrument(app, { exporter: (env) => (env.INGEST_KEYS ? undefined : undefined) });
         const checked = instrument({ async fetch(_request, env) { return new Response(env.INGEST_KEYS); } } satisfies ExportedHandler<Env>);
         // Bindings that are all optional (vars a deployment may leave unset).
         const optional = new Hono<{ Bindings: { MLFLOW_URL?: string } }>();
         const optionalApp = instrument(optional, { exporter: (env) => (env.MLFLOW_URL ? undefined : undefined) });
         export { app, checked, mlflowTracing, optionalApp, TraceBuffer, wholeApp };`,
        { lib: ["es2022"], types: ["@cloudflare/workers-types"] },
      ),
    );
    run(() =>
      check(
        "legacy-decorators",
        `import * as mlflow from "mlflow-edge";
         // Angular and NestJS apps still compile with experimentalDecorators: both forms type-check there.
         export class Agent {
           @mlflow.trace
           bare(question: string) { return question; }
           @mlflow.trace({ name: "named", spanType: mlflow.SpanType.LLM })
           async withOptions(prompt: string) { return prompt.length; }
         }`,
        { lib: ["es2022", "dom"], types: [], experimentalDecorators: true },
      ),
    );
  }, 120_000);
});
