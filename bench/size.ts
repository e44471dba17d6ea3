// Minified+gzipped size of the core entry, beside OpenTelemetry's smallest equivalent tracer
// (sdk-trace-base BasicTracerProvider + BatchSpanProcessor + the API), bundled with the same
// esbuild settings in the same run. The browser runtime's size (with its peers) joins this later.
import { build } from "esbuild";
import { gzipSync } from "node:zlib";

async function size(label: string, contents: string): Promise<number> {
  const out = await build({
    stdin: { contents, resolveDir: process.cwd(), loader: "ts" },
    bundle: true, minify: true, format: "esm", platform: "browser", target: "es2022", write: false, logLevel: "silent",
  });
  const code = out.outputFiles[0]!.contents;
  const gz = gzipSync(code, { level: 9 }).length;
  console.log(`${label.padEnd(52)} ${(code.length / 1024).toFixed(1).padStart(7)} KB min  ${(gz / 1024).toFixed(1).padStart(6)} KB min+gzip`);
  return gz;
}

console.log("bundle size (esbuild --bundle --minify --format=esm --platform=browser --target=es2022, gzip -9)");
const edge = await size("mlflow-edge (core entry, whole API)", `export * from "./core/index.ts";`);
const otel = await size("OpenTelemetry api + sdk-trace-base (provider, batch)", `
  import { trace } from "@opentelemetry/api";
  import { BasicTracerProvider, BatchSpanProcessor } from "@opentelemetry/sdk-trace-base";
  const p = new BasicTracerProvider({ spanProcessors: [new BatchSpanProcessor({ export: (s, d) => d({ code: 0 }), shutdown: async () => {} })] });
  trace.setGlobalTracerProvider(p);
  export const f = () => trace.getTracer("x").startActiveSpan("s", (s) => { s.end(); });
`);
console.log(`ratio mlflow-edge / OpenTelemetry tracer: ${(edge / otel).toFixed(2)}x`);
