// Web platform objects keep their state in internal slots, so walking their own keys finds nothing
// (a Response captured as `{}`). These are the ones LLM code passes around, shown as a trace reader
// needs them; the views are walked like any value (budgets apply, the redactor sees header names as
// keys). A DOM node becomes a short label: its own keys can lead into a UI framework's whole tree.

import { setKey } from "./safe-json.js";

type Platform = Record<string, unknown> & Iterable<[string, unknown]>;

/** `[button#send]`, `[Window]`, `[ReadableStream]`. */
const nodeLabel = (o: Platform) =>
  `[${typeof o.nodeName === "string" ? o.nodeName.toLowerCase() : (o.constructor as { name?: string } | undefined)?.name}${o.id ? `#${String(o.id)}` : ""}]`;

// The fields to keep, or how to show it. Checked in order (CustomEvent before Event, Node and
// AbortSignal before EventTarget); a name missing from the runtime is skipped.
const VIEWS: [string, string[] | ((o: Platform) => unknown)][] = [
  ["Headers", (h) => Object.fromEntries(h)],
  ["FormData", (form) => {
    const out: Record<string, unknown> = {};
    for (const [key, value] of form) setKey(out, key, Object.hasOwn(out, key) ? [out[key], value].flat() : value);
    return out;
  }],
  ["URLSearchParams", String],
  // Without their headers, as OpenTelemetry records HTTP by default: a Worker's Request carries the
  // client's IP address and cookies. Headers passed on their own are captured (and redacted by key).
  ["Response", ["status", "statusText", "url"]],
  ["Request", ["method", "url"]],
  ["Blob", ["name", "type", "size"]], // a File has a name
  ["CustomEvent", ["type", "target", "detail"]],
  ["Event", ["type", "target", "data"]], // data: a MessageEvent's (EventSource, WebSocket)
  ["AbortSignal", ["aborted"]],
  ["ReadableStream", nodeLabel],
  // window, a WebSocket, an XMLHttpRequest: an event's target can be any of them, and their own
  // keys (all of window's globals) are nothing a trace should hold.
  ["Node", nodeLabel],
  ["EventTarget", nodeLabel],
];

/** What to capture instead of `obj` when it is one of the platform objects above; else undefined. */
export function platformView(obj: object): unknown {
  const proto: unknown = Object.getPrototypeOf(obj);
  if (proto === Object.prototype || proto === null) return undefined; // plain data: the common case
  const o = obj as Platform;
  for (const [name, view] of VIEWS) {
    const type = (globalThis as unknown as Record<string, unknown>)[name];
    if (typeof type === "function" && obj instanceof type) {
      return typeof view === "function" ? view(o) : Object.fromEntries(view.map((k) => [k, o[k]]));
    }
  }
  // A Node stream (`[ReadStream]`): its own keys are buffers and internal state.
  if (isNodeStream(o)) return nodeLabel(o);
  return undefined;
}

/** A Node stream (or any emitter one pipes): read through `pipe()` and events, not only its iterator. */
export const isNodeStream = (o: object): boolean =>
  typeof (o as { pipe?: unknown }).pipe === "function" && typeof (o as { on?: unknown }).on === "function";
