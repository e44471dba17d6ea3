// mlflowEdgeZone() under the real Vite 8 (installed beside Vite 7 as `vite8`): Vite 8 builds and
// pre-bundles with Rolldown, ignores optimizeDeps.esbuildOptions (warning that it is deprecated)
// and no longer brings esbuild along. A plain `npm install vite` gives Vite 8.
import { describe, expect, it, vi } from "vitest";
import { build, optimizeDeps, resolveConfig, type Rollup } from "vite8";
import { mlflowEdgeZone } from "../../browser/build.js";
import { inputsOfBuilt, NATIVE_ASYNC, prebundledIdb, runBuilt } from "./zone-checks.js";

// The plugin lowers with the transformWithEsbuild of the "vite" it resolves from its own place: in
// an app with Vite 8 that is Vite 8's. Here "vite" is the Vite 7 beside it, so it is Vite 8 too.
vi.mock("vite", async () => await import("vite8"));

type Plugin = NonNullable<Parameters<typeof build>[0]>["plugins"];
const plugins = (lower: boolean) => (lower ? [mlflowEdgeZone()] : []) as Plugin;

/** The chunks Vite 8 builds from test/fixtures/zone-app/<entry>.ts as an ES library (target es2022 unless `config.build` says), joined. */
async function bundled(entry: string, config: { build?: object; esbuild?: object } = {}, lower = true): Promise<string> {
  const result = (await build({
    configFile: false, logLevel: "silent", root: process.cwd(), plugins: plugins(lower), ...config,
    build: { write: false, target: "es2022", ...config.build, lib: { entry: `test/fixtures/zone-app/${entry}.ts`, formats: ["es"], fileName: "app" } },
  })) as Rollup.RollupOutput[] | Rollup.RollupOutput;
  return (Array.isArray(result) ? result[0]! : result).output.map((o) => (o.type === "chunk" ? o.code : "")).join("\n");
}
const keepNames = { rolldownOptions: { output: { keepNames: true } } };

describe("input names in a minified Vite 8 build (no plugin)", () => {
  it("Vite 8's minifier renames parameters, Vite 7's esbuild option does nothing there; the README's build.rolldownOptions.output.minify: { mangle: false } keeps them", async () => {
    const inputs = async (label: string, config: { build?: object; esbuild?: object }) => inputsOfBuilt(await bundled("inputs", config, false), label);
    const named = { question: "why", topK: 2 };
    expect(await inputs("vite8-default", {})).not.toEqual(named);
    expect(await inputs("vite8-esbuild-option", { esbuild: { minifyIdentifiers: false } })).not.toEqual(named);
    expect(await inputs("vite8-recipe", { build: { rolldownOptions: { output: { minify: { mangle: false } } } } })).toEqual(named);
  }, 120_000);
});

describe("mlflowEdgeZone() on Vite 8", () => {
  it("the build leaves no native async/await in the bundle (mlflow-edge and idb included)", async () => {
    const bundle = (lower: boolean) => bundled("main", { build: { minify: false } }, lower);
    expect(await bundle(false)).toMatch(NATIVE_ASYNC); // the check can fail: Vite 8 alone leaves it native
    const lowered = await bundle(true);
    expect(lowered).not.toMatch(NATIVE_ASYNC);
    expect(lowered).toContain("openDB");
  }, 120_000);

  it("a build that keeps function names (build.rolldownOptions.output.keepNames, as the README says) keeps them through the lowering: the span is `answer`, not `answer2`", async () => {
    // An older target than the class static blocks esbuild writes its class names in: Vite 8 lowers
    // to the target before the plugin's chunk step, so that step must not bring newer syntax.
    const code = await bundled("named", { build: { target: "safari14", ...keepNames } });
    expect(code).not.toMatch(NATIVE_ASYNC);
    expect(code).not.toMatch(/\bstatic\s*\{/);
    expect(code).toMatch(/"Agent"/);
    // esbuild's lowering renames the function expression named like its variable; its __name says the name it had.
    expect(code).toMatch(/\(\s*function\s+[\w$]*\(\w+\)\s*\{\s*return\s+[\w$]+\(this,[\s\S]{0,600}?\},\s*"answer"\)/);
    expect(code).not.toContain('"answer2"');
    // Only the renamed function pays for a __name; the names the lowering left are the build's to keep.
    expect(code).not.toMatch(/__name\(([\w$]+), "\1"\)/);
  }, 120_000);

  it("in a minified build that keeps names, spans and exception types are named as written: the renamed function by its __name, the others by the build's own keepNames", async () => {
    const code = await bundled("names-mixed", { build: keepNames });
    expect(code).not.toMatch(NATIVE_ASYNC);
    expect(await runBuilt(code, "vite8-names")).toEqual([[["answer"], ["lookup"]], [["fail", "NotFound"]], [["search"]]]);
  }, 120_000);

  it("the same where the lowering renames names declared with const (an arrow, a class expression)", async () => {
    const code = await bundled("names-const", { build: keepNames });
    expect(await runBuilt(code, "vite8-names-const")).toEqual([[["lookup"]], [["refuse", "NotFound"]]]);
  }, 120_000);

  it("a build that keeps names gets no __name for a function the lowering left its name (the build's keepNames keeps it): on every function, __name cost a SvelteKit app 7 KB min+gzip", async () => {
    const code = await bundled("plain-names", { build: keepNames });
    expect(code).not.toMatch(NATIVE_ASYNC);
    expect(code).not.toMatch(/__name\(([\w$]+), "\1"\)/);
    expect(code).toMatch(/function retrieve\(/);
    expect(code).toMatch(/\bAgent\s*=\s*class\b|\bclass Agent\b/);
  }, 120_000);

  /** The plugin's chunk step alone, on `chunk`, for a build resolved with `build` (`environment`: the chunk's environment's own build options). */
  const lowerChunk = async (chunk: string, build: object, environment?: object) => {
    const plugin = mlflowEdgeZone() as unknown as { configResolved(c: object): void; renderChunk(this: object, code: string, chunk: object): Promise<{ code: string } | null> };
    plugin.configResolved({ command: "build", build: { target: "es2022", ...build } });
    return (await plugin.renderChunk.call(environment ? { environment: { config: { build: { target: "es2022", ...environment } } } } : {}, chunk, { fileName: "app.js" }))!.code;
  };
  // A chunk whose lowering renames the inner `search` (search2), so it is lowered keeping names.
  const renaming = "function search(q) { return q; }\nexport async function run() { async function search(q) { await null; return q; } return search(1); }\nexport { search as outer };";

  it("with terser as the minifier, which keepNames does not reach, the __name of every function stays", async () => {
    expect(await lowerChunk(renaming, { minify: true, ...keepNames })).not.toMatch(/__name\(search, "search"\)/);
    expect(await lowerChunk(renaming, { minify: "terser", ...keepNames })).toMatch(/__name\(search, "search"\)/);
  }, 60_000);

  it("a function the lowering renames keeps its name: where the name had digits already (step1 → step12) and where the new name was in the chunk already (a key search2)", async () => {
    const digits = "export function step1() { return 1; }\nexport async function run() { async function step1() { await null; return 2; } return step1; }";
    expect(await lowerChunk(digits, keepNames)).toMatch(/__name\(step12, "step1"\)/);
    const taken = 'export const o = { search2: "x" };\n' + renaming;
    expect(await lowerChunk(taken, keepNames)).toMatch(/__name\(search2, "search"\)/);
  }, 60_000);

  it("keepNames set for the client environment alone (environments.client.build) counts", async () => {
    expect(await lowerChunk(renaming, {})).not.toMatch(/__name\(search2, "search"\)/);
    expect(await lowerChunk(renaming, {}, keepNames)).toMatch(/__name\(search2, "search"\)/);
  }, 60_000);

  it("a build that keeps names for a target with class static blocks (es2022) keeps its classes as written: private members stay native, not rewritten into WeakMap helpers", async () => {
    const code = await bundled("named", { build: { minify: false, ...keepNames } });
    expect(code).not.toMatch(NATIVE_ASYNC);
    expect(code).toMatch(/"Agent"/);
    expect(code).not.toContain('"answer2"');
    expect(code).toMatch(/this\.#asked/);
    expect(code).not.toMatch(/__private(Get|Set|Add|Wrapper)\b/);
  }, 120_000);

  it("the dev server's pre-bundled dependencies are lowered (Rolldown's optimizer), with no deprecated esbuildOptions", async () => {
    const prebundle = async (lower: boolean) => {
      const { code, config } = await prebundledIdb({ resolveConfig, optimizeDeps }, plugins(lower) ?? []);
      expect(config.optimizeDeps.esbuildOptions?.supported).toBeUndefined();
      return code;
    };
    expect(await prebundle(false)).toMatch(NATIVE_ASYNC); // idb ships native async functions and generators
    const lowered = await prebundle(true);
    expect(lowered).not.toMatch(NATIVE_ASYNC);
    expect(lowered).toContain("openDB");
  }, 120_000);
});
