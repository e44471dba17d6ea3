import { cloudflareTest } from "@cloudflare/vitest-pool-workers";
import { transform } from "esbuild";
import { defineConfig, type Plugin } from "vitest/config";

// Vite's own TS transform forces keepNames off, and esbuild renames nested functions when it lowers
// standard (TC39) decorators, which Node 20 cannot parse. Span names come from function names, so
// tests transform TS with esbuild directly, lowering decorators and keeping names.
const typescript: Plugin = {
  name: "mlflow-edge:typescript",
  enforce: "pre",
  async transform(code, id) {
    if (!/\.ts$/.test(id.split("?")[0] ?? "")) return undefined;
    const out = await transform(code, { loader: "ts", target: "es2022", keepNames: true, sourcemap: true, sourcefile: id, format: "esm" });
    return { code: out.code, map: out.map };
  },
};

export default defineConfig({
  esbuild: false,
  plugins: [typescript],
  test: {
    projects: [
      {
        extends: true,
        test: { name: "core", include: ["core/**/*.test.ts", "test/unit/**/*.test.ts"], environment: "node", globalSetup: ["test/unit/global-setup.ts"] },
      },
      {
        extends: true,
        // The OpenAI tests again against openai 7 (installed as `openai7`; the core project runs 6),
        // both majors of the peer range apps install today.
        resolve: { alias: [{ find: /^openai(\/.*)?$/, replacement: "openai7$1" }] },
        test: { name: "openai7", include: ["test/unit/openai*.test.ts"], environment: "node" },
      },
      {
        extends: true,
        test: {
          name: "mlflow",
          include: ["test/mlflow/**/*.test.ts"],
          environment: "node",
          // Starts (or reuses) the pinned MLflow server once per run: scripts/mlflow-server.sh.
          globalSetup: ["test/mlflow/global-setup.ts"],
          testTimeout: 60_000,
          hookTimeout: 600_000,
          fileParallelism: false,
        },
      },
      {
        extends: true,
        // Inside workerd (the runtime Cloudflare runs) through @cloudflare/vitest-pool-workers.
        plugins: [
          cloudflareTest({
            main: "./test/worker/fixture/worker.ts",
            wrangler: { configPath: "./test/worker/fixture/wrangler.toml" },
            miniflare: { cf: false },
          }),
        ],
        test: {
          name: "workers",
          include: ["test/worker/**/*.test.ts", "worker/**/*.test.ts"],
          globalSetup: ["test/worker/global-setup.ts"],
          // One file at a time: the buffer tests steer one shared fault proxy in front of MLflow by
          // path, and a fault queued by one file must not be consumed by another file's forwarding.
          fileParallelism: false,
          testTimeout: 30_000,
          hookTimeout: 600_000,
        },
      },
    ],
  },
});
