import type { ActiveContext } from "./context-manager.js";
import type { ContextManager } from "./context-manager.js";

/**
 * The span is active only while `fn` runs synchronously. After an `await` it is gone, so nested
 * spans there would start new traces: the tracer detects that case and warns (lost-context.ts).
 */
export class StackContextManager implements ContextManager {
  readonly name = "stack";
  readonly propagatesAcrossAwait = false;
  private current: ActiveContext | undefined;

  active(): ActiveContext | undefined {
    return this.current;
  }

  with<T>(span: ActiveContext | undefined, fn: () => T): T {
    const previous = this.current;
    this.current = span;
    try {
      return fn();
    } finally {
      this.current = previous;
    }
  }

  bind<A extends unknown[], R>(span: ActiveContext | undefined, fn: (...args: A) => R): (...args: A) => R {
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const manager = this;
    return function (this: unknown, ...args: A): R {
      return manager.with(span, () => fn.apply(this, args));
    };
  }
}
