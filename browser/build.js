// @ts-check
// Build help for Zone.js mode. This runs in Node (bundler configuration), not in the browser, so it
// is plain JavaScript: importable from vite.config.ts, an esbuild script or any Node tool.
// Zone.js carries context across `await` only when async/await is lowered to generators in every
// module that awaits inside a span: your code and its dependencies (reference: toolchain.md §6).

/** esbuild `supported` flags that lower async/await, async generators and for-await, nothing else. */
export const lowerAsyncSupported = Object.freeze({
  "async-await": false,
  "async-generator": false,
  "for-await": false,
});

/**
 * esbuild options for a Zone.js build: spread into `build({ ... })`. Also `keepNames`: span names
 * come from function names, which esbuild renames (`const answer = trace(async function answer…)`
 * becomes `answer2`, and a minifier renames everything) unless it keeps them.
 */
export function zoneBuildOptions() {
  return { supported: { ...lowerAsyncSupported }, keepNames: true };
}

/**
 * A Vite plugin for Zone.js mode: lowers async/await in app code, dependencies and the build.
 * (Vite's own transform does not keep function names whatever this asks: pass `name` to `trace`
 * where a span's name matters.) Vite's esbuild transform skips `.js` files unless told otherwise:
 * in dev, an app's `.js`/`.mjs` modules would keep native async/await, so they are included.
 */
export function mlflowEdgeZone() {
  return {
    name: "mlflow-edge:zone",
    /** @param {{ esbuild?: false | { include?: unknown, exclude?: unknown } }} [user] */
    config(user) {
      // An app that chose what esbuild transforms (a `loader: "jsx"` recipe for .js) keeps its choice.
      const chosen = user?.esbuild && (user.esbuild.include !== undefined || user.esbuild.exclude !== undefined);
      return {
        esbuild: { supported: { ...lowerAsyncSupported }, ...(chosen ? {} : { include: /\.(m?[jt]s|[jt]sx)$/, exclude: /\.html$/ }) },
        optimizeDeps: { esbuildOptions: { supported: { ...lowerAsyncSupported } } },
        build: { target: "es2016" },
      };
    },
  };
}
