// The build help shipped for Zone.js mode really lowers async/await, async generators and
// for-await: in the app's code, in mlflow-edge and in dependencies (idb), for esbuild and Vite.
import { describe, expect, it } from "vitest";
import { build as esbuild } from "esbuild";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { build as viteBuild, createBuilder, createServer, optimizeDeps, resolveConfig, type Rollup } from "vite";
import { mlflowEdgeZone, zoneBuildOptions } from "../../browser/build.js";
import { inputsOfBuilt, NATIVE_ASYNC, prebundledIdb, runBuilt } from "./zone-checks.js";

const entry = "test/fixtures/zone-app/main.ts";

async function withEsbuild(lower: boolean): Promise<string> {
  const out = await esbuild({
    entryPoints: [entry], bundle: true, format: "esm", platform: "browser", target: "es2022", write: false, logLevel: "silent",
    ...(lower ? zoneBuildOptions() : {}),
  });
  return out.outputFiles[0]!.text;
}

/** The chunks Vite 7 builds, minified, from test/fixtures/zone-app/<entry>.ts as an ES library, joined. */
async function viteBundled(entry: string, config: { esbuild?: object }, lower: boolean): Promise<string> {
  const result = (await viteBuild({
    configFile: false, logLevel: "silent", root: process.cwd(), plugins: lower ? [mlflowEdgeZone()] : [], ...config,
    build: { write: false, target: "es2022", lib: { entry: `test/fixtures/zone-app/${entry}.ts`, formats: ["es"], fileName: "app" } },
  })) as Rollup.RollupOutput[] | Rollup.RollupOutput;
  return (Array.isArray(result) ? result[0]! : result).output.map((o) => (o.type === "chunk" ? o.code : "")).join("\n");
}

async function withVite(lower: boolean): Promise<string> {
  const result = (await viteBuild({
    configFile: false, logLevel: "silent", root: process.cwd(),
    plugins: lower ? [mlflowEdgeZone()] : [],
    build: { write: false, minify: false, target: "es2022", lib: { entry, formats: ["es"], fileName: "app" } },
  })) as Rollup.RollupOutput[] | Rollup.RollupOutput;
  const output = Array.isArray(result) ? result[0]!.output : result.output;
  return output.filter((o): o is Rollup.OutputChunk => o.type === "chunk").map((c) => c.code).join("\n");
}

describe("Zone.js build help", () => {
  it("Vite's dev server lowers the app's .js and .mjs modules too, not only .ts (Vite skips .js by default)", async () => {
    const serve = async (plugins: ReturnType<typeof mlflowEdgeZone>[]) => {
      const server = await createServer({ configFile: false, logLevel: "silent", root: process.cwd(), plugins, server: { middlewareMode: true, hmr: false }, optimizeDeps: { noDiscovery: true } });
      try {
        return await Promise.all(["plain.js", "plain.mjs", "main.ts"].map(async (f) => (await server.transformRequest(`/test/fixtures/zone-app/${f}`))!.code));
      } finally {
        await server.close();
      }
    };
    const plain = await serve([]);
    expect(plain[0]).toMatch(NATIVE_ASYNC); // the check can fail: Vite alone leaves it native
    for (const code of await serve([mlflowEdgeZone()])) expect(code).not.toMatch(NATIVE_ASYNC);
    // An inline <script type="module"> of an HTML page too.
    const inline = async (plugins: ReturnType<typeof mlflowEdgeZone>[]) => {
      const server = await createServer({ configFile: false, logLevel: "silent", root: process.cwd(), plugins, server: { middlewareMode: true, hmr: false }, optimizeDeps: { noDiscovery: true } });
      try {
        const page = "/test/fixtures/zone-app/index.html";
        await server.transformIndexHtml(page, readFileSync(`.${page}`, "utf8"));
        return (await server.transformRequest(`${page}?html-proxy&index=0.js`))!.code;
      } finally {
        await server.close();
      }
    };
    expect(await inline([])).toMatch(NATIVE_ASYNC);
    expect(await inline([mlflowEdgeZone()])).not.toMatch(NATIVE_ASYNC);
  }, 60_000);

  it("beside a plugin that compiles TSX itself and turns Vite's esbuild off (@vitejs/plugin-react-swc), in either order: JSX as that plugin compiles it, async/await lowered", async () => {
    // What the SWC plugin does: `esbuild: false`, and its own TSX → JS with the automatic JSX runtime.
    const swcLike = {
      name: "swc-like",
      config: () => ({ esbuild: false as const }),
      async transform(code: string, id: string) {
        if (!id.endsWith(".tsx")) return null;
        const { transform } = await import("esbuild");
        return (await transform(code, { loader: "tsx", jsx: "automatic", jsxImportSource: "/test/fixtures/zone-app/jsx", target: "es2022" })).code;
      },
    };
    for (const plugins of [[swcLike, mlflowEdgeZone()], [mlflowEdgeZone(), swcLike]]) {
      const server = await createServer({ configFile: false, logLevel: "silent", root: process.cwd(), plugins, server: { middlewareMode: true, hmr: false }, optimizeDeps: { noDiscovery: true } });
      try {
        const code = (await server.transformRequest("/test/fixtures/zone-app/view.tsx"))!.code;
        expect(code).toContain("jsx-runtime"); // the SWC-like plugin's JSX, not esbuild's React.createElement
        expect(code).not.toContain("React.createElement");
        expect(code).not.toMatch(NATIVE_ASYNC);
      } finally {
        await server.close();
      }
    }
  }, 60_000);

  it("lowers what a framework plugin compiled from a component (.vue, .svelte), and a dependency excluded from pre-bundling; not Vite's pre-bundled copies", async () => {
    const vueLike = {
      name: "vue-like",
      transform(code: string, id: string) {
        return /\.(vue|svelte)$/.test(id) ? `export default { async setup() { await fetch(${JSON.stringify(code.length)}); } };` : null;
      },
    };
    const server = await createServer({ configFile: false, logLevel: "silent", root: process.cwd(), plugins: [vueLike, mlflowEdgeZone()], server: { middlewareMode: true, hmr: false }, optimizeDeps: { noDiscovery: true } });
    try {
      for (const file of ["Panel.vue", "Panel.svelte"]) {
        const code = (await server.transformRequest(`/test/fixtures/zone-app/${file}`))!.code;
        expect(code).toContain("setup");
        expect(code).not.toMatch(NATIVE_ASYNC);
      }
    } finally {
      await server.close();
    }
    const plugin = mlflowEdgeZone();
    plugin.configResolved({ command: "serve" });
    const dep = "export async function get() { return await fetch('/x'); }";
    expect((await plugin.transform(dep, "/app/node_modules/excluded-dep/index.js"))!.code).not.toMatch(NATIVE_ASYNC);
    expect(await plugin.transform(dep, "/app/node_modules/.vite/deps/pre-bundled.js?v=1")).toBeNull();
    // The lowering renames a function expression named like its variable (answer2): in dev the name as written stays.
    const named = (await plugin.transform("export const answer = trace(async function answer(q) { return q; });", "/app/src/answer.js"))!.code;
    expect(named).not.toMatch(NATIVE_ASYNC);
    expect(named).toMatch(/__name\(function \w+\(q\)[\s\S]*?\}, "answer"\)/);
  }, 60_000);

  it("names itself when it cannot lower a browser module (top-level await, in .mjs and .ts alike); leaves server code (SSR) as it is", async () => {
    const server = await createServer({ configFile: false, logLevel: "silent", root: process.cwd(), plugins: [mlflowEdgeZone()], server: { middlewareMode: true, hmr: false }, optimizeDeps: { noDiscovery: true } });
    try {
      await expect(server.transformRequest("/test/fixtures/zone-app/top-level-await.mjs")).rejects.toThrow(/mlflow-edge:zone could not lower async\/await in .*top-level-await\.mjs.*move it into an async function/);
      // A .ts module: not Vite's own TypeScript step refusing it first without naming the fix.
      await expect(server.transformRequest("/test/fixtures/zone-app/server-only.ts")).rejects.toThrow(/mlflow-edge:zone could not lower async\/await in .*server-only\.ts.*move it into an async function/);
      // Server code, where Zone.js plays no part: top-level await works as without the plugin.
      const mod = (await server.ssrLoadModule("/test/fixtures/zone-app/server-only.ts")) as { dbUrl: string };
      expect(mod.dbUrl).toBe("postgres://localhost");
    } finally {
      await server.close();
    }
  }, 60_000);

  it("Vite: lowers async/await and nothing else in the build: the app's build target and its CSS stay as the app set them", async () => {
    const build = async (plugins: ReturnType<typeof mlflowEdgeZone>[], target?: string) => {
      const result = (await viteBuild({
        configFile: false, logLevel: "silent", root: process.cwd(), plugins,
        build: { write: false, lib: { entry: "test/fixtures/zone-app/styled.js", formats: ["es"], fileName: "styled" }, ...(target ? { target } : {}) },
      })) as Rollup.RollupOutput[] | Rollup.RollupOutput;
      const output = Array.isArray(result) ? result[0]!.output : result.output;
      const css = output.find((o): o is Rollup.OutputAsset => o.type === "asset" && o.fileName.endsWith(".css"))!.source.toString();
      const js = output.filter((o): o is Rollup.OutputChunk => o.type === "chunk").map((c) => c.code).join("\n");
      return { css, js };
    };
    const plain = await build([]);
    const lowered = await build([mlflowEdgeZone()]);
    expect(plain.js).toMatch(NATIVE_ASYNC);
    expect(lowered.js).not.toMatch(NATIVE_ASYNC);
    // Vite's default targets lower CSS nesting for the browsers it supports; an es2016 target would not.
    expect(plain.css).not.toContain("&");
    expect(lowered.css).toBe(plain.css);
    // An app targeting recent browsers keeps what that target allows (optional chaining, ??), lowered async aside.
    expect((await build([mlflowEdgeZone()], "es2022")).js).not.toMatch(NATIVE_ASYNC);
  }, 60_000);

  it("Vite: one plugin serves the client and the server builds (environments): the client's chunks and its Web Worker are lowered, the server's output is left as it is", async () => {
    const root = join(process.cwd(), "test/fixtures/zone-app/app");
    // The JavaScript files of a build: its chunks, and assets such as a Web Worker's bundle (built on its own).
    const chunks = (result: unknown) =>
      (Array.isArray(result) ? result : [result])
        .flatMap((r: Rollup.RollupOutput) => r.output)
        .filter((o) => o.fileName.endsWith(".js"))
        .map((o) => ({ fileName: o.fileName, code: o.type === "chunk" ? o.code : Buffer.from(o.source).toString() }));
    const run = async (plugins: ReturnType<typeof mlflowEdgeZone>[]) => {
      const builder = await createBuilder({
        configFile: false, logLevel: "silent", root, plugins, builder: {},
        environments: { client: { build: { write: false } }, ssr: { build: { write: false, rollupOptions: { input: join(root, "server.js") } } } },
      });
      const client = chunks(await builder.build(builder.environments.client!));
      const server = chunks(await builder.build(builder.environments.ssr!));
      return { client, server };
    };
    const plain = await run([]);
    const workerOf = (client: { fileName: string; code: string }[]) => client.find((c) => /worker/.test(c.fileName))!;
    expect(workerOf(plain.client).code).toMatch(NATIVE_ASYNC); // the check can fail: Vite alone leaves it native
    const lowered = await run([mlflowEdgeZone()]);
    expect(lowered.client.map((c) => c.fileName)).toHaveLength(plain.client.length); // main, the lazy chunk, the Worker
    expect(lowered.client.length).toBeGreaterThanOrEqual(3);
    for (const c of lowered.client) expect(c.code, c.fileName).not.toMatch(NATIVE_ASYNC);
    const server = lowered.server.map((c) => c.code).join("\n");
    expect(server).toMatch(/await Promise\.resolve\(\{ greeting/); // top-level await kept
    expect(server).toMatch(NATIVE_ASYNC);
  }, 120_000);

  for (const [tool, bundle] of [["esbuild: zoneBuildOptions()", withEsbuild], ["Vite: mlflowEdgeZone()", withVite]] as const) {
    it(`${tool} leaves no native async/await anywhere in the bundle (idb included)`, async () => {
      const plain = await bundle(false);
      expect(plain).toMatch(NATIVE_ASYNC); // the check can fail: without the help, native async stays
      const lowered = await bundle(true);
      expect(lowered).not.toMatch(NATIVE_ASYNC);
      expect(lowered).toContain("openDB"); // the dependency is in the bundle, lowered too
    }, 60_000);
  }

  // The plugin picks its pre-bundling step by the Vite version the config hook is told
  // (this.meta.viteVersion, Vite 7+): Vite 7's is esbuild's, and older Vites tell none.
  it("Vite 7: the dev server's pre-bundled dependencies are lowered (esbuild's optimizer), as before Vite 8 was supported", async () => {
    const prebundle = async (lower: boolean) => (await prebundledIdb({ resolveConfig, optimizeDeps }, lower ? [mlflowEdgeZone()] : [])).code;
    expect(await prebundle(false)).toMatch(NATIVE_ASYNC); // idb ships native async functions and generators
    const lowered = await prebundle(true);
    expect(lowered).not.toMatch(NATIVE_ASYNC);
    expect(lowered).toContain("openDB");
  }, 60_000);

  it("Vite 6 and older (no this.meta.viteVersion in the config hook, or no this at all) get esbuild's pre-bundling options", () => {
    type Hook = (this: unknown) => { optimizeDeps?: Record<string, unknown> };
    const config = mlflowEdgeZone().config as unknown as Hook;
    for (const self of [undefined, { meta: { rollupVersion: "4.30.0", watchMode: false } }]) {
      const deps = config.call(self).optimizeDeps;
      expect(deps?.esbuildOptions).toEqual({ supported: expect.objectContaining({ "async-await": false }) });
      expect(deps?.rolldownOptions).toBeUndefined();
    }
  });

  it("rolldown-vite (Vite 7 on Rolldown, which says 7 and its Rolldown version) gets the Rolldown optimizer's plugin: it ignores esbuildOptions.supported, so dependencies stayed native in dev", () => {
    type Hook = (this: unknown) => { optimizeDeps?: { esbuildOptions?: unknown; rolldownOptions?: { plugins?: { name: string }[] } } };
    const config = mlflowEdgeZone().config as unknown as Hook;
    // What rolldown-vite 7.3.1 tells the config hook.
    const deps = config.call({ meta: { viteVersion: "7.3.1", rollupVersion: "4.23.0", rolldownVersion: "1.0.0-beta.53" } }).optimizeDeps;
    expect(deps?.esbuildOptions).toBeUndefined();
    expect(deps?.rolldownOptions?.plugins?.map((p) => p.name)).toEqual(["mlflow-edge:zone-deps"]);
  });

  it("Vite 7's minifier renames parameters, which input names come from; the README's esbuild: { minifyIdentifiers: false } keeps them", async () => {
    const inputs = async (label: string, config: { esbuild?: object }) => inputsOfBuilt(await viteBundled("inputs", config, false), label);
    expect(await inputs("vite7-default", {})).not.toEqual({ question: "why", topK: 2 });
    expect(await inputs("vite7-recipe", { esbuild: { minifyIdentifiers: false } })).toEqual({ question: "why", topK: 2 });
  }, 120_000);

  it("Vite 7: in a minified build that keeps names (esbuild.keepNames), the lowering names spans and exception types as the build alone does (Vite 7's own transform renames `answer` to `answer2`, as the README says)", async () => {
    const names = async (lower: boolean) => {
      const code = await viteBundled("names-mixed", { esbuild: { keepNames: true } }, lower);
      expect(NATIVE_ASYNC.test(code)).toBe(!lower);
      return runBuilt(code, `vite7-names-${lower}`);
    };
    const alone = await names(false);
    expect(alone).toContainEqual([["fail2", "NotFound"]]); // the exception type, from a class the build left alone
    expect(await names(true)).toEqual(alone);
  }, 120_000);

  it("zoneBuildOptions() keeps function names, which span names come from: esbuild renames `function answer` inside `const answer = …` otherwise", async () => {
    expect(await withEsbuild(false)).toMatch(/function answer2\(/);
    expect(await withEsbuild(false)).not.toMatch(/"answer"/);
    expect(await withEsbuild(true)).toMatch(/__name\(function answer2\([^]*?, "answer"\)/);
  }, 60_000);

  it("inputs keep their names when lowering moved the parameters into the generator (non-constant defaults): not `_0`", async () => {
    const out = await esbuild({
      stdin: {
        contents: `
          import * as mlflow from "./core/index.ts";
          const exporter = new mlflow.InMemoryExporter();
          mlflow.init({ exporter, silent: true });
          const model = () => "gpt";
          const answer = mlflow.trace(async function answer(question: string, history: string[] = [], m = model()) { return question; });
          class Agent { @mlflow.trace() async plan(goal: string, opts = { steps: model() }) { return goal; } }
          export async function run() {
            await answer("why", ["hi"]);
            await new Agent().plan("ship");
            await mlflow.flushTraces();
            return exporter.traces.map((t) => t.data.spans[0]!.inputs);
          }`,
        resolveDir: process.cwd(), loader: "ts",
      },
      bundle: true, format: "esm", platform: "node", target: "es2022", write: false, logLevel: "silent", ...zoneBuildOptions(),
    });
    const code = out.outputFiles[0]!.text;
    expect(code).toMatch(/function answer2?\(_0\)/); // the lowering this is about
    mkdirSync(".tmp", { recursive: true });
    const file = join(".tmp", "zone-params.mjs");
    writeFileSync(file, code);
    const { run } = (await import(pathToFileURL(file).href)) as { run(): Promise<unknown[]> };
    expect(await run()).toEqual([{ question: "why", history: ["hi"] }, { goal: "ship" }]);
  }, 60_000);
});
