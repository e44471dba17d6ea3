#!/usr/bin/env node
// Bundles the demo pages into demo/public/build/ (wrangler runs this before `wrangler dev`).
// The chat page uses Zone.js for context, so it is built with mlflow-edge's Zone.js build help:
// async/await lowered in the app and in its dependencies (the openai client included).
import { build } from "esbuild";
import { join } from "node:path";
import { zoneBuildOptions } from "../browser/build.js";

const here = import.meta.dirname;
const common = {
  bundle: true,
  format: "esm",
  platform: "browser",
  target: "es2022",
  // Whitespace and syntax only: span names come from function names and span inputs from
  // parameter names, which identifier minification would rename.
  minifyWhitespace: true,
  minifySyntax: true,
  sourcemap: true,
  keepNames: true,
  logLevel: "warning",
  outdir: join(here, "public", "build"),
  define: { "process.env.NODE_ENV": '"development"' },
};

await Promise.all([
  build({ ...common, ...zoneBuildOptions(), entryPoints: { chat: join(here, "app", "chat-entry.ts") } }),
  build({ ...common, entryPoints: { traces: join(here, "app", "traces.ts") } }),
]);
