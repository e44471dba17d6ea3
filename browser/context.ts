import { StackContextManager, type ContextManager } from "../core/index.js";
import { findZone, ZoneContextManager } from "./context-zone.js";

/** How the browser runtime carries the active span. */
export type BrowserContextMode = "auto" | "zone" | "stack" | ContextManager;

/**
 * "auto": Zone.js when the page loaded it, else the synchronous stack (explicit context and the
 * lost-context warning cover native async/await). "zone" insists on Zone.js.
 */
export function createBrowserContextManager(mode: BrowserContextMode = "auto"): ContextManager {
  if (typeof mode === "object") return mode;
  if (mode === "stack") return new StackContextManager();
  const Zone = findZone();
  if (mode === "zone" && !Zone) throw new TypeError('mlflow-edge initBrowser(): "context" is "zone", but zone.js is not loaded: import "zone.js" before mlflow-edge/browser.');
  if (Zone) return new ZoneContextManager(Zone);
  const stack = new StackContextManager();
  // zone.js imported after this ran (an import order bundlers keep): the lost-context warning,
  // which names the manager, says why it is not the zone's.
  if (mode === "auto") {
    Object.defineProperty(stack, "name", {
      get: () => (findZone() ? 'stack: zone.js was loaded after initBrowser() chose it; import "zone.js" before the module that calls initBrowser()' : "stack"),
    });
  }
  return stack;
}
