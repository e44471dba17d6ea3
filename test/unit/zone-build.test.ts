// The build help shipped for Zone.js mode really lowers async/await, async generators and
// for-await: in the app's code, in mlflow-edge and in dependencies (idb), for esbuild and Vite.
import { describe, expect, it } from "vitest";
import { build as esbuild } from "esbuild";
import { build as viteBuild, type Rollup } from "vite";
import { mlflowEdgeZone, zoneBuildOptions } from "../../browser/build.js";

const entry = "test/fixtures/zone-app/main.ts";
// Native async syntax: async functions, arrows, methods and generators, and for-await loops.
const NATIVE_ASYNC =
  /\basync\s+function\b|\basync\s*\*\s*[\w$]*\s*\(|\basync\s*\([^()]*\)\s*=>|\basync\s+[\w$]+\s*=>|\basync\s+[\w$]+\s*\([^()]*\)\s*\{|\bfor\s+await\s*\(/;

async function withEsbuild(lower: boolean): Promise<string> {
  const out = await esbuild({
    entryPoints: [entry], bundle: true, format: "esm", platform: "browser", target: "es2022", write: false, logLevel: "silent",
    ...(lower ? zoneBuildOptions() : {}),
  });
  return out.outputFiles[0]!.text;
}

async function withVite(lower: boolean): Promise<string> {
  const result = (await viteBuild({
    configFile: false, logLevel: "silent", root: process.cwd(),
    plugins: lower ? [mlflowEdgeZone()] : [],
    build: { write: false, minify: false, lib: { entry, formats: ["es"], fileName: "app" }, ...(lower ? {} : { target: "es2022" }) },
  })) as Rollup.RollupOutput[] | Rollup.RollupOutput;
  const output = Array.isArray(result) ? result[0]!.output : result.output;
  return output.filter((o): o is Rollup.OutputChunk => o.type === "chunk").map((c) => c.code).join("\n");
}

describe("Zone.js build help", () => {
  for (const [tool, bundle] of [["esbuild: zoneBuildOptions()", withEsbuild], ["Vite: mlflowEdgeZone()", withVite]] as const) {
    it(`${tool} leaves no native async/await anywhere in the bundle (idb included)`, async () => {
      const plain = await bundle(false);
      expect(plain).toMatch(NATIVE_ASYNC); // the check can fail: without the help, native async stays
      const lowered = await bundle(true);
      expect(lowered).not.toMatch(NATIVE_ASYNC);
      expect(lowered).toContain("openDB"); // the dependency is in the bundle, lowered too
    }, 60_000);
  }

  it("zoneBuildOptions() keeps function names, which span names come from: esbuild renames `function answer` inside `const answer = …` otherwise", async () => {
    expect(await withEsbuild(false)).toMatch(/function answer2\(/);
    expect(await withEsbuild(false)).not.toMatch(/"answer"/);
    expect(await withEsbuild(true)).toMatch(/__name\(function answer2\([^]*?, "answer"\)/);
  }, 60_000);
});
