/** esbuild `supported` flags that lower async/await, async generators and for-await, nothing else. */
export declare const lowerAsyncSupported: Readonly<{ "async-await": false; "async-generator": false; "for-await": false }>;
/**
 * esbuild options for a Zone.js build: spread into `build({ ... })`.
 * @example
 * await esbuild.build({ entryPoints: ["app.ts"], bundle: true, ...zoneBuildOptions() });
 */
export declare function zoneBuildOptions(): { supported: Record<string, boolean>; keepNames: true };
/**
 * A Vite plugin for Zone.js mode: `plugins: [mlflowEdgeZone()]`, also beside a plugin that compiles
 * modules itself (@vitejs/plugin-react-swc, @vitejs/plugin-vue). It lowers async/await and nothing
 * else: in dev, every app module (.js, .mjs, .ts, .jsx, .tsx, .vue and .svelte components, inline
 * module scripts, dependencies excluded from pre-bundling) after the other plugins compiled it, and
 * pre-bundled dependencies; in the build, each chunk before Vite minifies it, Web Workers' bundles
 * included. The build's target, its CSS and server code (SSR) are left as they are. (In the `iife`
 * and `umd` library formats the lowering helpers become globals: build those with esbuild.) Top-level await cannot be lowered: the plugin
 * refuses it in browser code, naming the module (or the chunk, in the build).
 */
export declare function mlflowEdgeZone(): {
  name: string;
  enforce: "post";
  config(): Record<string, unknown>;
  configResolved(config: { command: string; build?: { ssr?: unknown } }): void;
  // (`map` is esbuild's source map; typed loosely so that this file needs no Vite types)
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  transform(code: string, id: string, options?: { ssr?: boolean }): Promise<{ code: string; map: any } | null>;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  renderChunk(code: string, chunk: { fileName: string; facadeModuleId?: string | null }): Promise<{ code: string; map: any } | null>;
};
