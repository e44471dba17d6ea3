import type { ContextManager } from "../core/index.js";
import type { ActiveContext } from "../core/context/context-manager.js";
import { isDev, warnOnce } from "../core/debug.js";

// The active span in a Zone.js zone property. zone.js is an optional peer: it is never imported
// here; the app loads it (`import "zone.js"`) and we find `globalThis.Zone` at run time.
// Native async/await resumes outside the zone (V8 awaits with the intrinsic Promise, not Zone's),
// so Zone only carries context across `await` when async/await is lowered to generators.

/** The part of Zone.js this manager uses. */
export interface ZoneLike {
  readonly name: string;
  get(key: string): unknown;
  fork(spec: { name: string; properties?: Record<string, unknown> }): ZoneLike;
  run<T>(fn: () => T): T;
}
export interface ZoneStatic {
  readonly current: ZoneLike;
  readonly root: ZoneLike;
  /** The zone task running now (a timer, a listener, a promise reaction Zone scheduled), if any. */
  readonly currentTask?: unknown;
}

const SPAN_KEY = "mlflow-edge.span";
const PROBE_KEY = "mlflow-edge.probe";

export function findZone(): ZoneStatic | undefined {
  const zone = (globalThis as { Zone?: ZoneStatic }).Zone;
  return zone && typeof zone.current?.fork === "function" ? zone : undefined;
}

export class ZoneContextManager implements ContextManager {
  readonly name = "zone";
  /**
   * Zone.js carries the span through what it runs itself (timers, listeners, observers it patches,
   * its promise reactions, so `await` lowered to generators), never through what the browser calls
   * on its own (a native `await`'s continuation, a stream's pipe, `Array.fromAsync`). So the
   * tracer's lost-context check stays on, and `carriedHere()` tells it when a zone task runs.
   */
  readonly propagatesAcrossAwait = false;
  /** Resolves to true when async/await in this bundle keeps the zone (i.e. it was lowered). */
  readonly asyncLowered: Promise<boolean>;
  private lowered = false;
  private readonly Zone: ZoneStatic;

  constructor(Zone: ZoneStatic | undefined = findZone()) {
    if (!Zone) throw new TypeError("ZoneContextManager needs zone.js: import \"zone.js\" before mlflow-edge/browser.");
    this.Zone = Zone;
    this.asyncLowered = this.probe();
    void this.asyncLowered.then((lowered) => {
      this.lowered = lowered;
      // In development only, as the lost-context warning: an end user's console is not the place.
      if (!lowered && isDev()) {
        warnOnce(
          "zone-native-await",
          "zone.js is loaded but async/await is not lowered in this bundle, so spans started after an `await` lose their parent " +
            "(they become separate traces, with a warning). Lower async/await for your code and its dependencies " +
            "(mlflow-edge/browser/build: zoneBuildOptions() for esbuild, mlflowEdgeZone() for Vite; the Angular CLI lowers it when zone.js " +
            "is in angular.json's polyfills, not imported in main.ts), or use explicit context.",
        );
      }
    });
  }

  // An async function compiled with the same settings as this module: if its zone property is
  // gone after `await`, async/await was not lowered and nesting after an await would be lost.
  private probe(): Promise<boolean> {
    const zone = this.Zone.current.fork({ name: "mlflow-edge-probe", properties: { [PROBE_KEY]: true } });
    const Zone = this.Zone;
    return zone.run(async () => {
      await null;
      return Zone.current.get(PROBE_KEY) === true;
    });
  }

  /**
   * With async/await lowered, a zone task (a timer, a listener, a promise reaction) runs in the
   * zone that scheduled it, and that zone came through every await: had a span been active there,
   * it would be active here. Unless the code running now left the task's zone: a task whose zone
   * holds a span of an open trace, with none active here, re-entered another zone (`ngZone.run`,
   * `runOutsideAngular`, `Zone.root.run`) and lost it. Outside any task, the span may have been
   * lost: top-level code, a callback the browser makes from its own machinery, a native async
   * function resuming, and those re-entering a zone look the same as a callback zone.js wraps
   * without a task (an observer's): all are checked. With native await (or before the start-up
   * check has told), the zone may have been lost before the task was scheduled: no telling.
   */
  carriedHere(): boolean {
    const task = this.Zone.currentTask as { zone?: ZoneLike } | null | undefined;
    if (!this.lowered || task == null) return false;
    const left = task.zone?.get(SPAN_KEY) as { _record?: { finished?: boolean } } | undefined;
    return !left || left._record?.finished === true || this.active() !== undefined;
  }

  active(): ActiveContext | undefined {
    return this.Zone.current.get(SPAN_KEY) as ActiveContext | undefined;
  }

  with<T>(span: ActiveContext | undefined, fn: () => T): T {
    return this.Zone.current.fork({ name: "mlflow-edge", properties: { [SPAN_KEY]: span } }).run(fn);
  }

  bind<A extends unknown[], R>(span: ActiveContext | undefined, fn: (...args: A) => R): (...args: A) => R {
    const zone = this.Zone.current.fork({ name: "mlflow-edge", properties: { [SPAN_KEY]: span } });
    return function (this: unknown, ...args: A): R {
      return zone.run(() => fn.apply(this, args));
    };
  }
}
