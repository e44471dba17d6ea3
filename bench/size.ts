// Minified+gzipped bundle sizes, mlflow-edge beside its peers, each bundled from a small entry that
// does what a minimal real setup needs, with the same esbuild settings, in the same run.
// Targets: core + browser runtime at most a third of OpenTelemetry's web tracing stack.
import { build } from "esbuild";
import { gzipSync } from "node:zlib";

/** Minified bytes each input file contributes, from the last bundle measured (esbuild's metafile). */
let lastInputs: Record<string, number> = {};

async function size(label: string, contents: string, external: string[] = []): Promise<number> {
  const out = await build({
    stdin: { contents, resolveDir: process.cwd(), loader: "ts" },
    bundle: true, minify: true, format: "esm", platform: "browser", target: "es2022", write: false, logLevel: "silent", external,
    metafile: true,
  });
  const code = out.outputFiles[0]!.contents;
  const gz = gzipSync(code, { level: 9 }).length;
  lastInputs = Object.fromEntries(Object.entries(Object.values(out.metafile.outputs)[0]!.inputs).map(([file, i]) => [file, i.bytesInOutput]));
  console.log(`${label.padEnd(66)} ${(code.length / 1024).toFixed(1).padStart(7)} KB min ${(gz / 1024).toFixed(1).padStart(6)} KB min+gzip`);
  return gz;
}

/** Where a bundle's bytes go: minified bytes by area (a folder of core, browser/, a dependency) and the largest files. */
function breakdown(inputs: Record<string, number>, topFiles = 10): string[] {
  const total = Object.values(inputs).reduce((a, b) => a + b, 0);
  const area = (file: string) => {
    const dep = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(file);
    if (dep) return `${dep[1]} (dependency)`;
    const parts = file.replace(/^dist\//, "").split("/"); // the package is bundled from its built dist/
    return parts[0] === "core" && parts.length > 2 ? `core/${parts[1]}/` : parts[0] === "core" ? "core/*.ts" : parts.length > 1 ? `${parts[0]}/` : file;
  };
  const byArea = new Map<string, number>();
  for (const [file, bytes] of Object.entries(inputs)) byArea.set(area(file), (byArea.get(area(file)) ?? 0) + bytes);
  const line = (name: string, bytes: number) => `  ${name.padEnd(34)} ${(bytes / 1024).toFixed(1).padStart(5)} KB min  ${((100 * bytes) / total).toFixed(0).padStart(3)}%`;
  return [
    ...[...byArea].sort((a, b) => b[1] - a[1]).map(([name, bytes]) => line(name, bytes)),
    `  largest files:`,
    ...Object.entries(inputs).sort((a, b) => b[1] - a[1]).slice(0, topFiles).map(([file, bytes]) => line(`  ${file}`, bytes)),
  ];
}

console.log("bundle size (esbuild --bundle --minify --format=esm --platform=browser --target=es2022; gzip -9)");
const core = await size("mlflow-edge core entry (whole API)", `export * from "./core/index.ts";`);
const edge = await size("mlflow-edge core + mlflow-edge/browser (whole API, zone.js excluded)", `export * from "mlflow-edge"; export * from "mlflow-edge/browser";`, ["zone.js"]);
// What a browser app ships: the tracing API it calls plus initBrowser (durable IndexedDB queue,
// sender, multi-tab lock, lifecycle flush, traceparent on fetch, Zone.js context manager), imported
// by package name as an app does (the package's exports map, resolved by esbuild as a self-reference).
const app = await size("mlflow-edge browser app: tracing API + initBrowser (zone.js excluded)", `
  import { trace, withSpan, startSpan, getCurrentActiveSpan, updateCurrentTrace, SpanType } from "mlflow-edge";
  import { initBrowser } from "mlflow-edge/browser";
  initBrowser({ collectorUrl: "https://collector.example", ingestKey: "pk-demo-key", propagateTo: ["https://api.example"] });
  export const f = trace(async function f(q: string) { updateCurrentTrace({ tags: { a: "b" } }); getCurrentActiveSpan()?.setAttribute("k", 1); return q; }, { spanType: SpanType.LLM });
  export const g = () => withSpan(() => startSpan({ name: "s" }).end(), { name: "w" });`, ["zone.js"]);
const appInputs = lastInputs;
// The floor under the target: what the span model alone costs, before any delivery code.
const apiOnly = await size("mlflow-edge tracing API alone (no initBrowser: no queue, no sender)", `
  import { trace, withSpan, startSpan, getCurrentActiveSpan, updateCurrentTrace, SpanType } from "mlflow-edge";
  export const f = trace(async function f(q: string) { updateCurrentTrace({ tags: { a: "b" } }); getCurrentActiveSpan()?.setAttribute("k", 1); return q; }, { spanType: SpanType.LLM });
  export const g = () => withSpan(() => startSpan({ name: "s" }).end(), { name: "w" });`);
const withSpanOnly = await size("mlflow-edge withSpan alone (span model, trace finalization, safe JSON)", `
  import { withSpan } from "mlflow-edge"; export const g = () => withSpan(() => 1, { name: "w" });`);
const zone = await size("zone.js (optional peer, reported separately)", `import "zone.js"; export const z = () => (globalThis as any).Zone.current;`);
const otelTracer = await size("OpenTelemetry api + sdk-trace-base (provider, batch processor)", `
  import { trace } from "@opentelemetry/api";
  import { BasicTracerProvider, BatchSpanProcessor } from "@opentelemetry/sdk-trace-base";
  const p = new BasicTracerProvider({ spanProcessors: [new BatchSpanProcessor({ export: (s, d) => d({ code: 0 }), shutdown: async () => {} })] });
  trace.setGlobalTracerProvider(p);
  export const f = () => trace.getTracer("x").startActiveSpan("s", (s) => { s.end(); });`);
const otelWebStack = `
  import { trace } from "@opentelemetry/api";
  import { WebTracerProvider, BatchSpanProcessor } from "@opentelemetry/sdk-trace-web";
  import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
  import { resourceFromAttributes } from "@opentelemetry/resources";`;
const otelRegister = `
  const provider = new WebTracerProvider({ resource: resourceFromAttributes({ "service.name": "x" }),
    spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url: "/v1/traces" }))] });`;
const otelWeb = await size("OpenTelemetry web: sdk-trace-web + OTLP exporter + context-zone (zone.js excluded)", `${otelWebStack}
  import { ZoneContextManager } from "@opentelemetry/context-zone-peer-dep";${otelRegister}
  provider.register({ contextManager: new ZoneContextManager() });
  export const f = () => trace.getTracer("x").startActiveSpan("s", (s) => { s.end(); });`, ["zone.js"]);
const otelWebZone = await size("OpenTelemetry web, as above with zone.js (@opentelemetry/context-zone)", `${otelWebStack}
  import { ZoneContextManager } from "@opentelemetry/context-zone";${otelRegister}
  provider.register({ contextManager: new ZoneContextManager() });
  export const f = () => trace.getTracer("x").startActiveSpan("s", (s) => { s.end(); });`);
const sentry = await size("Sentry browser: init + startSpan", `
  import { init, startSpan } from "@sentry/browser";
  init({ dsn: "https://k@o0.ingest.sentry.io/0", tracesSampleRate: 1.0 });
  export const f = () => startSpan({ name: "s" }, () => 1);`);
const langfuse = await size("Langfuse: @langfuse/tracing + LangfuseSpanProcessor + WebTracerProvider", `
  import { observe, startActiveObservation, updateActiveObservation } from "@langfuse/tracing";
  import { LangfuseSpanProcessor } from "@langfuse/otel";
  import { WebTracerProvider } from "@opentelemetry/sdk-trace-web";
  new WebTracerProvider({ spanProcessors: [new LangfuseSpanProcessor({ publicKey: "pk", secretKey: "sk", baseUrl: "/lf" })] }).register();
  export const g = observe(async (q: string) => q, { name: "g" });
  export const f = () => startActiveObservation("s", () => { updateActiveObservation({ output: 1 }); });`);

const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}x`;
console.log(`\nratios (min+gzip):`);
console.log(`core / OpenTelemetry api + sdk-trace-base tracer:            ${ratio(core, otelTracer)}`);
console.log(`browser app / OpenTelemetry web (both without zone.js):      ${ratio(app, otelWeb)}   target <= 0.33x: ${app / otelWeb <= 1 / 3 ? "met" : "NOT met"}`);
// Both need zone.js for implicit context across async work, so this is the other fair pairing.
console.log(`browser app + zone.js / OpenTelemetry web with zone.js:      ${ratio(app + zone, otelWebZone)}`);
console.log(`core + browser, whole API / OpenTelemetry web:               ${ratio(edge, otelWeb)}`);
console.log(`browser app / Sentry browser:                                ${ratio(app, sentry)}`);
console.log(`browser app / Langfuse web:                                  ${ratio(app, langfuse)}`);
console.log(`tracing API alone / OpenTelemetry web:                       ${ratio(apiOnly, otelWeb)}`);
console.log(`withSpan alone / OpenTelemetry web:                          ${ratio(withSpanOnly, otelWeb)}   ${withSpanOnly > otelWeb / 3 ? "(above a third before any delivery code)" : "(within a third)"}`);
console.log(`withSpan alone / OpenTelemetry api + sdk-trace-base tracer:  ${ratio(withSpanOnly, otelTracer)}`);
console.log(`zone.js alone: ${(zone / 1024).toFixed(1)} KB min+gzip (needed only for Zone.js mode)`);
console.log(`\nwhere the browser app's bytes go (minified, before gzip; the shares carry over roughly to min+gzip):`);
for (const l of breakdown(appInputs)) console.log(l);
