// Build help for Zone.js mode (Node side: bundler configuration, not browser code).
// Zone.js carries context across `await` only when async/await is lowered to generators, in every
// module that awaits inside a span — your code and its dependencies (reference: toolchain.md §6).

/** esbuild `supported` flags that lower async/await, async generators and for-await, nothing else. */
export const lowerAsyncSupported = {
  "async-await": false,
  "async-generator": false,
  "for-await": false,
} as const;

/**
 * esbuild options for a Zone.js build: spread into `build({...})`.
 * @example
 * await esbuild.build({ entryPoints: ["app.ts"], bundle: true, ...zoneBuildOptions() });
 */
export function zoneBuildOptions(): { supported: Record<string, boolean> } {
  return { supported: { ...lowerAsyncSupported } };
}

/**
 * A Vite plugin for Zone.js mode: lowers async/await in app code (dev and build) and in
 * pre-bundled dependencies. Put it in `plugins: [mlflowEdgeZone()]`.
 */
export function mlflowEdgeZone(): { name: string; config(): Record<string, unknown> } {
  return {
    name: "mlflow-edge:zone",
    config() {
      return {
        esbuild: { supported: { ...lowerAsyncSupported } },
        optimizeDeps: { esbuildOptions: { supported: { ...lowerAsyncSupported } } },
        build: { target: "es2016" },
      };
    },
  };
}
