#!/usr/bin/env node
// `npm run build` (also run by `npm install` through `prepare`, by `npm test` and by the size
// bench): the package as an app receives it. dist/ holds plain ES2022 JavaScript, one file per
// source file with its imports unchanged (so bundlers still tree-shake), and .d.ts declarations.
// An app then needs no TypeScript step for mlflow-edge: plain Node imports it, webpack and Next.js
// take it without transpiling node_modules, and the app's tsc reads declarations, not our sources
// under the app's compiler options.
import { execFileSync } from "node:child_process";
import { cpSync, mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { build } from "esbuild";

const root = join(import.meta.dirname, "..");
const dist = join(root, "dist");
const ENTRY_DIRS = ["core", "browser", "worker", "openai"];

/** The package's TypeScript sources: no tests, no declaration files. */
function sources(dir) {
  return readdirSync(join(root, dir), { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith(".ts") && !e.name.endsWith(".test.ts") && !e.name.endsWith(".d.ts"))
    .map((e) => relative(root, join(e.parentPath, e.name)));
}

rmSync(dist, { recursive: true, force: true });
const files = ENTRY_DIRS.flatMap(sources);
await build({
  entryPoints: files.map((f) => join(root, f)),
  outdir: dist,
  outbase: root,
  bundle: false,
  format: "esm",
  target: "es2022",
  platform: "neutral",
  logLevel: "warning",
});
// Already JavaScript with hand-written declarations (it runs inside the app's build tool).
for (const f of ["browser/build.js", "browser/build.d.ts"]) cpSync(join(root, f), join(dist, f));

// Declarations: one program per runtime, each with the types that runtime has, as `npm test`
// type-checks them (core without Node, DOM or Workers types; the browser with the DOM).
const programs = [
  { extends: "tsconfig.core.json", include: ["core/**/*.ts", "openai/**/*.ts"] },
  { extends: "tsconfig.browser.json", include: ["browser/**/*.ts", "core/globals.d.ts"] },
  { extends: "tsconfig.worker.json", include: ["worker/**/*.ts", "core/globals.d.ts"] },
];
const tmp = join(root, ".tmp");
mkdirSync(tmp, { recursive: true });
for (const program of programs) {
  const config = join(tmp, `tsconfig.dist.${program.extends}`);
  writeFileSync(
    config,
    JSON.stringify({
      extends: join(root, program.extends),
      compilerOptions: { noEmit: false, declaration: true, emitDeclarationOnly: true, outDir: dist, rootDir: root },
      include: program.include.map((p) => join(root, p)),
      exclude: [join(root, "**/*.test.ts")],
    }),
  );
  // (TypeScript 7's tsc by path: node_modules/.bin/tsc may be the test-only typescript5's.)
  execFileSync(join(root, "node_modules", "typescript", "bin", "tsc"), ["-p", config], { cwd: root, stdio: "inherit" });
}
console.log(`dist/: ${files.length} modules with declarations`);
