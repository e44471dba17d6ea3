import type { ActiveContext } from "./context-manager.js";
import type { ContextManager } from "./context-manager.js";

/** The part of node:async_hooks' AsyncLocalStorage that context propagation needs. */
export interface AsyncLocalStorageLike<T> {
  getStore(): T | undefined;
  run<R>(store: T, fn: () => R): R;
}
export type AsyncLocalStorageConstructor = new <T>() => AsyncLocalStorageLike<T>;

/** Context that survives `await`, timers and promise chains: Node, and Workers with the ALS flag. */
export class AsyncLocalStorageContextManager implements ContextManager {
  readonly name = "async-local-storage";
  readonly propagatesAcrossAwait = true;
  private readonly storage: AsyncLocalStorageLike<ActiveContext | undefined>;

  /** Pass `AsyncLocalStorage` from `node:async_hooks` (core never imports it statically). */
  constructor(AsyncLocalStorage: AsyncLocalStorageConstructor) {
    this.storage = new AsyncLocalStorage<ActiveContext | undefined>();
  }

  active(): ActiveContext | undefined {
    return this.storage.getStore();
  }

  with<T>(span: ActiveContext | undefined, fn: () => T): T {
    return this.storage.run(span, fn);
  }

  bind<A extends unknown[], R>(span: ActiveContext | undefined, fn: (...args: A) => R): (...args: A) => R {
    const storage = this.storage;
    return function (this: unknown, ...args: A): R {
      return storage.run(span, () => fn.apply(this, args));
    };
  }
}

type BuiltinLoader = (id: string) => unknown;

/**
 * Finds AsyncLocalStorage without a static `node:` import, so core still bundles for browsers:
 * `process.getBuiltinModule` exists in Node >= 20.16 and in workerd with `nodejs_compat`.
 */
export function findAsyncLocalStorage(): AsyncLocalStorageConstructor | undefined {
  try {
    const proc = (globalThis as { process?: { getBuiltinModule?: BuiltinLoader } }).process;
    const mod = proc?.getBuiltinModule?.("node:async_hooks") as { AsyncLocalStorage?: AsyncLocalStorageConstructor } | undefined;
    return typeof mod?.AsyncLocalStorage === "function" ? mod.AsyncLocalStorage : undefined;
  } catch {
    return undefined;
  }
}
