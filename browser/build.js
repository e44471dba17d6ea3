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
/** @typedef {{ target?: unknown; minify?: unknown; rolldownOptions?: { output?: unknown } }} BuildOptions */

/** Components whose module (or `?…type=script` part) a framework plugin compiled to JavaScript. */
const COMPONENT = /\.(vue|svelte)$/;

/**
 * Lowers async/await in one module or chunk with Vite's esbuild, or says which one it could not.
 * @param {string} code
 * @param {string} file
 * @param {boolean} [chunk] a built chunk (an error's line is the chunk's)
 * @param {boolean} [keepNames] keep function names: lowering renames a function expression named
 *   like the variable it is assigned to (`const answer = trace(async function answer…)` records
 *   `answer2`), and span names come from function names
 * @param {boolean} [staticBlocks] the code may get class static blocks (its target has them)
 */
async function lowerAsync(code, file, chunk = false, keepNames = false, staticBlocks = false) {
  const { transformWithEsbuild } = await import("vite");
  try {
    // Kept names of classes go in a static block only where the target has them: the build lowered
    // its code to the app's target before this step, and an older one (Safari < 16.4) has none.
    // After the class instead, which makes esbuild rewrite the class's private members as well.
    const supported = keepNames && !staticBlocks ? { ...lowerAsyncSupported, "class-static-blocks": false } : { ...lowerAsyncSupported };
    const out = await transformWithEsbuild(code, file, { loader: "js", supported, sourcemap: true, keepNames });
    return { code: out.code, map: out.map };
  } catch (error) {
    const first = /** @type {{ errors?: { text: string; location?: { line: number; column: number } | null }[] }} */ (error).errors?.[0];
    const detail = first?.text ?? String(error);
    const loc = first?.location;
    const at = !loc ? "" : chunk ? ` (line ${loc.line}, column ${loc.column} of the built chunk)` : `:${loc.line}:${loc.column}`;
    throw new Error(`mlflow-edge:zone could not lower async/await in ${file}${at} for Zone.js: ${detail}` +
      (/top-level await/i.test(detail) ? " (top-level await cannot be lowered: move it into an async function)" : ""));
  }
}

/** esbuild's keepNames statement after a function declaration whose name the lowering kept: `__name(answer, "answer");` on a line of its own. */
const SAME_NAME = /(?<=^[ \t]*)__name\(([\p{ID_Start}$_][\p{ID_Continue}$\u200c\u200d]*), "\1"\);(?=[ \t]*$)/gmu;

/**
 * Whether the browsers of a build's target run class static blocks, as esbuild knows them; a
 * target esbuild does not know is taken as one that does not.
 * @param {unknown} target the resolved `build.target` (`false`: the build lowers nothing)
 */
async function targetHasStaticBlocks(target) {
  if (target === false) return true;
  const { transformWithEsbuild } = await import("vite");
  try {
    const out = await transformWithEsbuild("class A { static { A.x = 1; } }", "target-probe.js", { loader: "js", target: /** @type {string | string[] | undefined} */ (target) });
    return /\bstatic\s*\{/.test(out.code);
  } catch {
    return false;
  }
}

/**
 * Whether a hook runs for server code (SSR, a framework's server files, Vitest reusing the config),
 * where Zone.js plays no part and top-level await is valid: left as it is. Vite 6+ tells each hook
 * its environment (one plugin object serves the client's and the server's); Vite 5 says `ssr` in
 * the transform's options, and in the build only through the config (`ssrBuild`).
 * @param {unknown} hook `this` of the hook
 * @param {{ ssr?: boolean } | undefined} options
 * @param {boolean} ssrBuild
 */
const forServer = (hook, options, ssrBuild) => {
  const environment = /** @type {{ environment?: { config?: { consumer?: string } } }} */ (hook)?.environment;
  return options?.ssr === true || (environment ? environment.config?.consumer === "server" : ssrBuild);
};

/**
 * A Vite plugin for Zone.js mode: lowers async/await in app code, dependencies and the build, and
 * nothing else (the build's target, its CSS and server code are left as they are).
 * In dev it lowers each app module after every other plugin has compiled it (`enforce: "post"`),
 * whichever compiler that was (Vite's esbuild, @vitejs/plugin-react-swc, Babel). Dependencies are
 * lowered as Vite pre-bundles them; the build lowers each chunk before Vite minifies it.
 * (Span names in Vite's build: keep function names as the README says, or pass `name` to `trace`.)
 */
export function mlflowEdgeZone() {
  let serve = false;
  let ssrBuild = false;
  /** The resolved build options (an environment's own, in Vite 6+, come with each chunk). */
  /** @type {BuildOptions | undefined} */
  let buildOptions;
  /** Vite 7's esbuild.keepNames (top-level only). */
  let esbuildKeepsNames = false;
  /** @type {Map<unknown, Promise<boolean>>} whether each build target has class static blocks */
  const staticBlocks = new Map();
  /** @type {(code: string) => boolean} */
  const awaits = (code) => /\b(async|await)\b/.test(code);
  /** @type {(code: string, id: string) => Promise<{ code: string; map: any }> | null} */
  const lowerDependency = (code, id) => {
    const [path = id] = id.split("?");
    return /\.[cm]?js$/.test(path) && awaits(code) ? lowerAsync(code, path) : null;
  };
  return {
    name: "mlflow-edge:zone",
    enforce: /** @type {const} */ ("post"),
    /** @this {{ meta?: { viteVersion?: string; rolldownVersion?: string } } | void} */
    config() {
      // Vite 7+ says its version to the hook (`this.meta`); older ones say nothing and are before 8.
      // rolldown-vite (Vite 7 on Rolldown, installed as `vite`) says 7, and its Rolldown version.
      const major = Number(this?.meta?.viteVersion?.split(".")[0] ?? 0);
      const rolldown = major >= 8 || Boolean(this?.meta?.rolldownVersion);
      return {
        // Vite 8 pre-bundles with Rolldown and ignores esbuildOptions.supported (warning that the
        // option is deprecated): a plugin of its optimizer lowers each dependency module there. Its
        // scan also reads the app's own modules (TypeScript too): those are the transform hook's.
        optimizeDeps: rolldown
          ? { rolldownOptions: { plugins: [{ name: "mlflow-edge:zone-deps", transform: lowerDependency }] } }
          : { esbuildOptions: { supported: { ...lowerAsyncSupported } } },
        // Web Workers (`new Worker(new URL(…))`, `?worker`) are bundled by a build of their own,
        // which runs worker.plugins, not the app's.
        worker: { plugins: () => [mlflowEdgeZone()] },
      };
    },
    /** @param {{ command: string; build?: BuildOptions & { ssr?: unknown }; esbuild?: unknown }} config */
    configResolved(config) {
      serve = config.command === "serve";
      ssrBuild = Boolean(config.build?.ssr);
      buildOptions = config.build;
      esbuildKeepsNames = /** @type {{ keepNames?: unknown } | undefined} */ (config.esbuild)?.keepNames === true;
    },
    /**
     * @param {string} code
     * @param {string} id
     * @param {{ ssr?: boolean }} [options]
     */
    async transform(code, id, options) {
      const [path = id, query = ""] = id.split("?");
      // (an inline <script type="module"> of index.html comes as `index.html?html-proxy&index=0.js`)
      const script = SCRIPT.test(path) || /(^|&)html-proxy\b.*\.js$/.test(query) || (COMPONENT.test(path) && (query === "" || /(^|&)type=script\b/.test(query)));
      // Pre-bundled dependencies are lowered as Vite bundles them; one excluded from that is not.
      if (!serve || !script || forServer(this, options, false) || path.includes("/node_modules/.vite/") || !awaits(code)) return null;
      // Dev keeps the names as written (size is no concern there).
      return lowerAsync(code, path, false, true);
    },
    /**
     * @param {string} code
     * @param {{ fileName: string; facadeModuleId?: string | null }} chunk
     * @this {{ environment?: { config?: { build?: BuildOptions } } } | void}
     */
    async renderChunk(code, chunk) {
      if (serve || forServer(this, undefined, ssrBuild) || !awaits(code)) return null;
      // Vite 8: keepNames (Rolldown's output option); Vite 7: esbuild.keepNames. A setting made for
      // the client environment alone (environments.client.build) is in its own config.
      const build = this?.environment?.config?.build ?? buildOptions;
      const outputs = /** @type {{ keepNames?: unknown }[]} */ ([build?.rolldownOptions?.output ?? []].flat());
      const buildKeepsNames = esbuildKeepsNames || outputs.some((o) => o?.keepNames === true);
      // (A chunk's file name may still be a placeholder here: the entry it is built from says more.)
      // Names are kept only where the app keeps them: past the minifier they cost bytes.
      const name = chunk.facadeModuleId ? `the chunk built from ${chunk.facadeModuleId}` : chunk.fileName;
      if (!buildKeepsNames) return lowerAsync(code, name, true);
      // The lowering renames a name declared inside a function under the name of a module-level one
      // (search → search2; most real chunks have some), so esbuild keeps the names with __name.
      if (!staticBlocks.has(build?.target)) staticBlocks.set(build?.target, targetHasStaticBlocks(build?.target));
      const kept = await lowerAsync(code, name, true, true, await staticBlocks.get(build?.target));
      // A function the lowering left its name needs no __name where the build's minifier keeps names
      // itself (Vite's own, told keepNames; not terser, which would rename it): on every function of
      // every chunk, those cost a SvelteKit app 7 KB min+gzip. Blanked to as many spaces, so that the
      // source map still holds.
      if (build?.minify === "terser") return kept;
      return { code: kept.code.replace(SAME_NAME, (m) => " ".repeat(m.length)), map: kept.map };
    },
  };
}
