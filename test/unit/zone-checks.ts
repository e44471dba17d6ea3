// What the Zone.js build tests check, for Vite 7 (`vite`) and Vite 8 (`vite8`) alike.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";

/**
 * Native async syntax: async functions, arrows, methods (named or computed) and generators, and
 * for-await loops; parameter lists may hold one level of parentheses (`async (a = f()) =>`).
 */
const PARAMS = String.raw`\((?:[^()]|\([^()]*\))*\)`;
export const NATIVE_ASYNC = new RegExp(
  [
    String.raw`\basync\s+function\b`,
    String.raw`\basync\s*\*\s*(?:[\w$]+|\[[^\]]*\])?\s*\(`,
    String.raw`\basync\s*${PARAMS}\s*=>`,
    String.raw`\basync\s+[\w$]+\s*=>`,
    String.raw`\basync\s+[\w$]+\s*${PARAMS}\s*\{`,
    String.raw`\basync\s*\[[^\]]*\]\s*${PARAMS}\s*\{`,
    String.raw`\bfor\s+await\s*\(`,
  ].join("|"),
);

/** The two functions of a Vite version that pre-bundle dependencies as its dev server does. */
export interface ViteOptimizer<Config> {
  resolveConfig(inline: object, command: "serve"): Promise<Config>;
  optimizeDeps(config: Config, force: boolean): Promise<unknown>;
}

/** idb as the dev server of this Vite pre-bundles it with these plugins, and the config it ran with. */
export async function prebundledIdb<Config>(vite: ViteOptimizer<Config>, plugins: unknown[]): Promise<{ code: string; config: Config }> {
  const cacheDir = mkdtempSync(join(tmpdir(), "mlflow-edge-vite-"));
  try {
    const config = await vite.resolveConfig(
      { configFile: false, logLevel: "silent", root: process.cwd(), cacheDir, plugins, optimizeDeps: { include: ["idb"], noDiscovery: true } },
      "serve",
    );
    await vite.optimizeDeps(config, true);
    return { code: readFileSync(join(cacheDir, "deps", "idb.js"), "utf8"), config };
  } finally {
    rmSync(cacheDir, { recursive: true, force: true });
  }
}

/** Runs `code` (an ES module `build` made from a test/fixtures/zone-app entry) and returns what its `run()` returns. */
export async function runBuilt(code: string, label: string): Promise<unknown> {
  mkdirSync(".tmp", { recursive: true });
  const file = resolve(".tmp", `built-${label}-${process.pid}.mjs`);
  writeFileSync(file, code);
  try {
    const { run } = (await import(pathToFileURL(file).href)) as { run: () => Promise<unknown> };
    return await run();
  } finally {
    rmSync(file, { force: true });
  }
}

/** The inputs test/fixtures/zone-app/inputs.ts recorded, as `build` bundled it: keyed by what the build left of the parameter names. */
export const inputsOfBuilt = async (code: string, label: string): Promise<unknown> => ((await runBuilt(code, label)) as unknown[])[0];
