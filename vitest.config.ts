import { defineConfig } from "vitest/config";

export default defineConfig({
  // esbuild lowers standard (TC39) decorators, which Node 20 cannot parse yet.
  esbuild: { target: "es2022" },
  test: {
    reporters: ["default"],
    projects: [
      {
        extends: true,
        test: { name: "core", include: ["core/**/*.test.ts", "test/unit/**/*.test.ts"], environment: "node" },
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
    ],
  },
});
