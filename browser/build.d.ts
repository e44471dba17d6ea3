/** esbuild `supported` flags that lower async/await, async generators and for-await, nothing else. */
export declare const lowerAsyncSupported: Readonly<{ "async-await": false; "async-generator": false; "for-await": false }>;
/**
 * esbuild options for a Zone.js build: spread into `build({ ... })`.
 * @example
 * await esbuild.build({ entryPoints: ["app.ts"], bundle: true, ...zoneBuildOptions() });
 */
export declare function zoneBuildOptions(): { supported: Record<string, boolean>; keepNames: true };
/**
 * A Vite plugin for Zone.js mode: `plugins: [mlflowEdgeZone()]`. Lowers async/await in app code
 * (.js, .mjs, .ts, .jsx, .tsx; dev and build) and in pre-bundled dependencies. It sets
 * `build.target` to es2016 (so dependencies are lowered in the build too): top-level await is
 * not available under it.
 */
export declare function mlflowEdgeZone(): { name: string; config(user?: { esbuild?: false | { include?: unknown; exclude?: unknown } }): Record<string, unknown> };
