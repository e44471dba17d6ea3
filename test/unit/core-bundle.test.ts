// The core entry must run unchanged in browsers and Workers: bundled for the browser platform it
// may import nothing from Node, the DOM or Workers, and it must run in a bare JS realm.
import { describe, expect, it } from "vitest";
import { build } from "esbuild";
import { runInNewContext } from "node:vm";
import { gzipSync } from "node:zlib";

async function bundleCore() {
  const result = await build({
    entryPoints: ["core/index.ts"],
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    minify: true,
    write: false,
    metafile: true,
    logLevel: "silent",
  });
  return { code: result.outputFiles[0]!.text, meta: result.metafile };
}

describe("core entry", () => {
  it("bundles for the browser with no Node, DOM or Workers imports", async () => {
    const { meta, code } = await bundleCore();
    const inputs = Object.keys(meta.inputs);
    expect(inputs.filter((p) => !p.startsWith("core/"))).toEqual([]);
    const imports = Object.values(meta.inputs).flatMap((i) => i.imports.map((x) => x.path));
    expect(imports.filter((p) => /^(node:|cloudflare:)/.test(p) || !p.startsWith("core/"))).toEqual([]);
    expect(code).not.toMatch(/\brequire\(|\bdocument\.|\bwindow\./);
  });

  it("runs in a bare realm with only Web-standard globals (no process, no DOM)", async () => {
    const { code } = await bundleCore();
    // Turn the ESM bundle into a script that hands its exports to the test.
    const exportsMatch = /export\s*\{([^}]*)\};?\s*$/.exec(code);
    const body = code.slice(0, exportsMatch!.index);
    const mapping = exportsMatch![1]!.split(",").map((s) => s.trim().split(/\s+as\s+/)).map(([local, name]) => `${name ?? local}: ${local}`);
    const warnings: string[] = [];
    const sandbox = {
      console: { warn: (m: string) => warnings.push(m), error: () => {} },
      crypto: globalThis.crypto, performance: globalThis.performance, setTimeout, clearTimeout, queueMicrotask, TextEncoder, TextDecoder,
      result: undefined as unknown,
    };
    runInNewContext(`${body}\nresult = { ${mapping.join(", ")} };`, sandbox);
    const mlflow = sandbox.result as typeof import("../../core/index.js");
    const exporter = new mlflow.InMemoryExporter();
    mlflow.init({ exporter });
    const add = mlflow.trace(function add(a: number, b: number) { return a + b; });
    mlflow.withSpan(() => add(1, 2), { name: "root" });
    await mlflow.flushTraces();
    expect(exporter.traces).toHaveLength(1);
    expect(exporter.traces[0]!.data.spans.map((s) => [s.name, s.outputs])).toEqual([["root", 3], ["add", 3]]);
    expect(warnings).toEqual([]);
    const size = gzipSync(code, { level: 9 }).length;
    expect(size).toBeGreaterThan(1000); // sanity: the bench prints the real number against peers
  });
});

describe("development-only warnings in a browser bundle", () => {
  // A browser has no `process`: what says "production" there is the bundler's define.
  const isDevIn = async (define: Record<string, string> | undefined) => {
    const out = await build({
      stdin: { contents: 'import { isDev } from "./core/debug.ts"; globalThis.result = isDev();', resolveDir: process.cwd(), loader: "ts" },
      bundle: true, format: "iife", platform: "browser", write: false, logLevel: "silent", define,
    });
    const realm: { result?: boolean } = {};
    runInNewContext(out.outputFiles[0]!.text, { globalThis: realm });
    return realm.result;
  };

  it("are off in a production build (define process.env.NODE_ENV), on without one", async () => {
    expect(await isDevIn({ "process.env.NODE_ENV": '"production"' })).toBe(false);
    expect(await isDevIn({ "process.env.NODE_ENV": '"development"' })).toBe(true);
    expect(await isDevIn(undefined)).toBe(true); // no process at all
  });
});
