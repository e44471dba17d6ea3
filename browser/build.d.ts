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
 * modules itself (@vitejs/plugin-react-swc, @vitejs/plugin-vue). In dev it lowers async/await in every app module (.js,
 * .mjs, .ts, .jsx, .tsx, .vue and .svelte components, inline module scripts, dependencies excluded
 * from pre-bundling) after the other plugins compiled it, and in pre-bundled dependencies. It sets
 * `build.target` to es2016 (so dependencies are lowered in the build too). Top-level await is not
 * available under it, in dev (the plugin names the module) or in the build (Vite's esbuild step refuses it).
 */
export declare function mlflowEdgeZone(): {
  name: string;
  enforce: "post";
  config(config: { esbuild?: unknown }): Record<string, unknown>;
  configResolved(config: { command: string }): void;
  // (`map` is esbuild's source map; typed loosely so that this file needs no Vite types)
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  transform(code: string, id: string): Promise<{ code: string; map: any } | null>;
};
