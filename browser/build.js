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

/** The modules the Vite plugin lowers in dev: scripts, whatever plugin compiled them. */
const SCRIPT = /\.(m?[jt]s|[jt]sx)$/;
/** Components whose module (or `?…type=script` part) a framework plugin compiled to JavaScript. */
const COMPONENT = /\.(vue|svelte)$/;

/**
 * A Vite plugin for Zone.js mode: lowers async/await in app code, dependencies and the build.
 * In dev it lowers each app module after every other plugin has compiled it (`enforce: "post"`),
 * whichever compiler that was (Vite's esbuild, @vitejs/plugin-react-swc, Babel), and sets Vite's
 * own `esbuild` lowering unless such a plugin turned it off. Dependencies are lowered as Vite
 * pre-bundles them; the build lowers everything through `build.target`.
 * (Vite's build does not keep function names: pass `name` to `trace` where a span's name matters.)
 */
export function mlflowEdgeZone() {
  let serve = false;
  return {
    name: "mlflow-edge:zone",
    enforce: /** @type {const} */ ("post"),
    /** @param {{ esbuild?: unknown }} config */
    config(config) {
      return {
        // Vite's own TypeScript transform, and what framework plugins compile through it
        // (@vitejs/plugin-vue's `<script lang="ts">`), lower too; unless a plugin that compiles
        // itself (@vitejs/plugin-react-swc) turned it off: this runs after it, and keeps that.
        ...(config.esbuild === false ? {} : { esbuild: { supported: { ...lowerAsyncSupported } } }),
        optimizeDeps: { esbuildOptions: { supported: { ...lowerAsyncSupported } } },
        build: { target: "es2016" },
      };
    },
    /** @param {{ command: string }} config */
    configResolved(config) {
      serve = config.command === "serve";
    },
    /**
     * @param {string} code
     * @param {string} id
     */
    async transform(code, id) {
      const [path = id, query = ""] = id.split("?");
      // (an inline <script type="module"> of index.html comes as `index.html?html-proxy&index=0.js`)
      const script = SCRIPT.test(path) || /(^|&)html-proxy\b.*\.js$/.test(query) || (COMPONENT.test(path) && (query === "" || /(^|&)type=script\b/.test(query)));
      // Pre-bundled dependencies are lowered as Vite bundles them; one excluded from that is not.
      if (!serve || !script || path.includes("/node_modules/.vite/") || !/\b(async|await)\b/.test(code)) return null;
      const { transformWithEsbuild } = await import("vite");
      try {
        const out = await transformWithEsbuild(code, path, { loader: "js", supported: { ...lowerAsyncSupported }, sourcemap: true });
        return { code: out.code, map: out.map };
      } catch (error) {
        const detail = /** @type {{ errors?: { text: string }[] }} */ (error).errors?.[0]?.text ?? String(error);
        throw new Error(`mlflow-edge:zone could not lower async/await in ${path} for Zone.js: ${detail}` +
          (/top-level await/i.test(detail) ? " (top-level await cannot be lowered: move it into an async function)" : ""));
      }
    },
  };
}
