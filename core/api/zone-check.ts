import { isDev, warnOnce } from "../debug.js";
import { getTracer } from "../tracer.js";

// Zone.js follows `await` only in code whose async/await was lowered to generators. That the
// library was lowered says nothing of the app (a Vite dev server leaves .js files as they are), so
// each traced function is looked at: a native async function resumes outside the zone after its
// first await, and the spans it starts then lose their parent. Exact, without eval: the engine
// tags native async functions, never lowered ones.

const NATIVE = new Set(["[object AsyncFunction]", "[object AsyncGeneratorFunction]"]);

/** Whether `fn` is a native async (generator) function, as opposed to one lowered to generators. */
export const isNativeAsync = (fn: unknown): boolean => typeof fn === "function" && NATIVE.has(Object.prototype.toString.call(fn));

export const underZone = (): boolean => getTracer().contextManager.name === "zone";

/**
 * Once per function name (callers check underZone() first): a native async function's spans lose
 * their parent after an await. In development only, as the lost-context warning.
 */
export function warnNativeAsyncUnderZone(name: string): void {
  if (!isDev()) return;
  warnOnce(
    `zone-native-async:${name}`,
    `"${name}" runs as native async/await, which zone.js does not follow: spans it starts after its first await lose their parent ` +
      "(they become separate traces). Lower async/await where it is defined (mlflowEdgeZone() for Vite, zoneBuildOptions() for esbuild, " +
      "from mlflow-edge/browser/build; the Angular CLI lowers it when zone.js is in angular.json's polyfills), or pass the span explicitly (span.run, { parent }).",
  );
}
