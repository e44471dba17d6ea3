// What the Zone.js build tests check, for Vite 7 (`vite`) and Vite 8 (`vite8`) alike.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Native async syntax: async functions, arrows, methods and generators, and for-await loops. */
export const NATIVE_ASYNC =
  /\basync\s+function\b|\basync\s*\*\s*[\w$]*\s*\(|\basync\s*\([^()]*\)\s*=>|\basync\s+[\w$]+\s*=>|\basync\s+[\w$]+\s*\([^()]*\)\s*\{|\bfor\s+await\s*\(/;

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
