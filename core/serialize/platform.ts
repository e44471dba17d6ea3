// Web platform objects keep their state in internal slots, so walking their own keys finds nothing
// (a Response captured as `{}`). These are the ones LLM code passes around, shown as a trace reader
// needs them; the views are walked like any value (budgets apply, the redactor sees header names as
// keys). A DOM node becomes a short label: its own keys can lead into a UI framework's whole tree.

type Fields = Record<string, unknown>;
const withType = (what: string, f: Fields) => `[${what} ${f.size} bytes${f.type ? `, ${String(f.type)}` : ""}]`;

// Checked in order (File before Blob, CustomEvent before Event); a name missing from the runtime is skipped.
const VIEWS: [string, (o: Fields & Iterable<[string, unknown]>) => unknown][] = [
  ["Headers", (h) => Object.fromEntries(h)],
  // Without their headers, as OpenTelemetry records HTTP by default: a Worker's Request carries the
  // client's IP address and cookies. Headers passed on their own are captured (and redacted by key).
  ["Response", (r) => ({ status: r.status, statusText: r.statusText, url: r.url })],
  ["Request", (r) => ({ method: r.method, url: r.url })],
  ["File", (f) => withType(`File ${String(f.name)},`, f)],
  ["Blob", (b) => withType("Blob", b)],
  ["FormData", (form) => {
    const out: Record<string, unknown> = {};
    for (const [key, value] of form) out[key] = key in out ? [out[key], value].flat() : value;
    return out;
  }],
  ["URLSearchParams", (p) => String(p)],
  ["ReadableStream", () => "[ReadableStream]"],
  ["AbortSignal", (s) => ({ aborted: s.aborted })],
  ["CustomEvent", (e) => ({ type: e.type, target: e.target, detail: e.detail })],
  // `data`: a MessageEvent's (EventSource, WebSocket, postMessage).
  ["Event", (e) => ({ type: e.type, target: e.target, data: e.data })],
  ["Node", (n) => `[${String(n.nodeName).toLowerCase()}${n.id ? `#${String(n.id)}` : ""}]`],
  // window, a WebSocket, an XMLHttpRequest: an event's target can be any of them, and their own
  // keys (all of window's globals) are nothing a trace should hold.
  ["EventTarget", (t) => `[${(t.constructor as { name?: string } | undefined)?.name || "EventTarget"}]`],
];

/** What to capture instead of `obj` when it is one of the platform objects above; else undefined. */
export function platformView(obj: object): unknown {
  const proto: unknown = Object.getPrototypeOf(obj);
  if (proto === Object.prototype || proto === null) return undefined; // plain data: the common case
  const g = globalThis as unknown as Record<string, unknown>;
  for (const [name, view] of VIEWS) {
    const type = g[name];
    if (typeof type === "function" && obj instanceof type) return view(obj as Fields & Iterable<[string, unknown]>);
  }
  return undefined;
}
