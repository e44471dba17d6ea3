#!/usr/bin/env node
// `npm run bench [name…]`: bundles each bench/<name>.ts with esbuild (dependencies stay external)
// and runs it with node from the repository root. Without names, runs every benchmark in bench/
// (bench/lib/ holds what they share).
import { build } from "esbuild";
import { spawnSync } from "node:child_process";
import { mkdirSync, readdirSync } from "node:fs";
import { join } from "node:path";

const root = join(import.meta.dirname, "..");
const names = process.argv.slice(2).length
  ? process.argv.slice(2)
  : readdirSync(join(root, "bench")).filter((f) => f.endsWith(".ts")).map((f) => f.slice(0, -3));
// The size bench bundles mlflow-edge by its package name, as an app does: that is dist/.
if (spawnSync(process.execPath, [join(root, "scripts", "build.mjs")], { cwd: root, stdio: "inherit" }).status !== 0) process.exit(1);
const outdir = join(root, ".tmp", "bench");
mkdirSync(outdir, { recursive: true });
let failed = 0;
for (const name of names) {
  const outfile = join(outdir, `${name}.mjs`);
  await build({
    entryPoints: [join(root, "bench", `${name}.ts`)], outfile, bundle: true, platform: "node", format: "esm", target: "node20",
    packages: "external", keepNames: true, logLevel: "warning",
  });
  console.log(`\n## bench/${name}`);
  const r = spawnSync(process.execPath, [outfile], { cwd: root, stdio: "inherit" });
  if (r.status !== 0) failed++;
}
process.exit(failed ? 1 : 0);
