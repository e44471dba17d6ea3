// Context patterns a frontend LLM app meets, each run with implicit context (the traced call just
// happens) or explicit context (the span is passed / span.run). The spec loads this page in each
// mode and compares the resulting trees with the correct one.
import * as mlflow from "../../../core/index.js";
import { createBrowserContextManager, ZoneContextManager } from "../../../browser/index.js";

type Style = "implicit" | "explicit";
type Edge = [string, string | null];

const params = new URLSearchParams(location.search);
const contextMode = params.get("context") === "stack" ? "stack" : "auto";
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const label = (s: mlflow.SpanData) => {
  const id = s.inputs && typeof s.inputs === "object" && !Array.isArray(s.inputs) ? (s.inputs as { id?: string }).id : undefined;
  return id ? `${s.name}:${id}` : s.name;
};

const warnings: string[] = [];
const warn = console.warn.bind(console);
console.warn = (...args: unknown[]) => {
  warnings.push(args.map(String).join(" "));
  warn(...args);
};

const step = mlflow.trace(async function step(id: string) { await sleep(1); return id; });
const leaf = mlflow.trace(function leaf(id: string) { return id; });

/** A span registers a click listener (before or after its first await), then the button is clicked. */
const listenAndClick = (style: Style, afterAwait: boolean) =>
  mlflow.withSpan(async (span) => {
    if (afterAwait) await sleep(1);
    const button = document.createElement("button");
    document.body.append(button);
    button.addEventListener("click", style === "implicit" ? () => leaf("clicked") : () => span.run(() => leaf("clicked")));
    await sleep(2);
    button.click();
    button.remove();
  }, { name: "listen" });

const scenarios: Record<string, (style: Style) => Promise<unknown>> = {
  "await-chain": (style) =>
    style === "implicit"
      ? mlflow.trace(async function chain() {
          await step("1");
          await sleep(2);
          await step("2");
          await fetch("/slow?ms=2");
          await step("3");
        })()
      : mlflow.withSpan(async (span) => {
          await span.run(() => step("1"));
          await sleep(2);
          await span.run(() => step("2"));
          await fetch("/slow?ms=2");
          await span.run(() => step("3"));
        }, { name: "chain" }),

  "promise-all": (style) => {
    const branch = (id: string, parent?: mlflow.Span) =>
      mlflow.withSpan(async (span) => {
        await sleep(id === "a" ? 6 : 1); // finish out of order
        if (style === "implicit") leaf(id);
        else span.run(() => leaf(id));
      }, { name: "branch", inputs: { id }, parent });
    return style === "implicit"
      ? mlflow.trace(async function fanout() { await sleep(1); await Promise.all([branch("a"), branch("b")]); })()
      : mlflow.withSpan(async (span) => { await sleep(1); await Promise.all([branch("a", span), branch("b", span)]); }, { name: "fanout" });
  },

  "set-timeout": (style) =>
    mlflow.withSpan(async (span) => {
      await sleep(1);
      await new Promise<void>((resolve) =>
        setTimeout(() => {
          if (style === "implicit") leaf("tick");
          else span.run(() => leaf("tick"));
          resolve();
        }, 3),
      );
    }, { name: "timer" }),

  "event-listener": (style) => listenAndClick(style, false),

  "event-listener-after-await": (style) => listenAndClick(style, true),

  fetch: (style) =>
    mlflow.withSpan(async (span) => {
      await sleep(1);
      const res = await fetch("/slow?ms=3");
      await res.json();
      if (style === "implicit") await step("parsed");
      else await span.run(() => step("parsed"));
    }, { name: "load" }),

  "stream-read": (style) =>
    mlflow.withSpan(async (span) => {
      const reader = (await fetch("/stream?chunks=3")).body!.getReader();
      const decoder = new TextDecoder();
      let text = "";
      for (;;) {
        const { done, value } = await reader.read(); // how the body is split into reads varies
        if (done) break;
        text += decoder.decode(value);
        if (style === "implicit") leaf("chunk");
        else span.run(() => leaf("chunk"));
      }
      if (text !== "chunk0;chunk1;chunk2;") throw new Error(`stream read ${text}`);
    }, { name: "read" }),

  // The browser calls these callbacks from its own machinery (a stream's pipe, Array.fromAsync),
  // outside any zone task: Zone.js cannot carry the span there, lowered or not.
  "stream-transform": (style) =>
    mlflow.withSpan(async (span) => {
      const parse = new TransformStream<string, string>({
        transform(chunk, controller) {
          if (style === "implicit") leaf("parse");
          else span.run(() => leaf("parse"));
          controller.enqueue(chunk);
        },
      });
      const reader = (await fetch("/stream?chunks=3")).body!.pipeThrough(new TextDecoderStream()).pipeThrough(parse).getReader();
      while (!(await reader.read()).done);
    }, { name: "sse" }),

  // A ReadableStream of parsed events over the response body's reader (how LLM clients turn SSE
  // into a stream): the stream calls `pull` itself, once the consumer's read() needs a chunk.
  "stream-pull": (style) =>
    mlflow.withSpan(async (span) => {
      const body = (await fetch("/stream?chunks=3")).body!.getReader();
      const decoder = new TextDecoder();
      const events = new ReadableStream<string>({
        async pull(controller) {
          const { done, value } = await body.read();
          if (done) return controller.close();
          if (style === "implicit") leaf("parse");
          else span.run(() => leaf("parse"));
          controller.enqueue(decoder.decode(value));
        },
      });
      const reader = events.getReader();
      while (!(await reader.read()).done);
    }, { name: "relay" }),

  "array-from-async": (style) =>
    mlflow.withSpan(async (span) => {
      await sleep(1);
      const fromAsync = (Array as unknown as { fromAsync: <T, U>(xs: T[], f: (x: T) => U) => Promise<U[]> }).fromAsync;
      await fromAsync(["x"], (id) => (style === "implicit" ? leaf(id) : span.run(() => leaf(id))));
    }, { name: "collect" }),

  "concurrent-actions": async (style) => {
    const action = (id: string) =>
      mlflow.withSpan(async (span) => {
        await sleep(id === "a" ? 6 : 2);
        if (style === "implicit") await step(id);
        else await span.run(() => step(id));
        await sleep(1);
        if (style === "implicit") leaf(id);
        else span.run(() => leaf(id));
      }, style === "implicit" ? { name: "action", inputs: { id } } : { name: "action", inputs: { id }, parent: null }); // explicit: a new trace
    const done: Promise<unknown>[] = [];
    const a = document.createElement("button");
    const b = document.createElement("button");
    a.onclick = () => done.push(action("a"));
    b.onclick = () => done.push(action("b"));
    a.click();
    b.click(); // two user actions in flight at once
    await Promise.all(done);
  },
};

async function run(name: string, style: Style) {
  const exporter = new mlflow.InMemoryExporter();
  const contextManager = createBrowserContextManager(contextMode);
  if (contextManager instanceof ZoneContextManager) await contextManager.asyncLowered;
  mlflow.init({ exporter, contextManager, dedupeSpanNames: false });
  await scenarios[name]!(style);
  await sleep(5);
  await mlflow.flushTraces();
  const trees: Edge[][] = exporter.traces.map((t) => {
    const byId = new Map(t.data.spans.map((s) => [s.spanId, s]));
    return t.data.spans.map((s) => [label(s), s.parentId ? label(byId.get(s.parentId)!) : null] as Edge);
  });
  return { trees, warnings, manager: contextManager.name };
}

// Two flows started together, at once after init (before Zone's start-up check has settled):
// neither lost its context, so no warning.
async function startTogether() {
  const exporter = new mlflow.InMemoryExporter();
  mlflow.init({ exporter, contextManager: createBrowserContextManager(contextMode), dedupeSpanNames: false });
  const flow = (id: string) => mlflow.withSpan(async () => { leaf(id); await sleep(2); }, { name: "flow", inputs: { id } });
  await Promise.all([flow("a"), flow("b")]);
  await mlflow.flushTraces();
  return { traces: exporter.traces.length, warnings };
}

// Zone.js runs some callbacks in their zone without a task of its own (MutationObserver,
// FileReader, custom elements: Zone.wrap), as code that lost its span runs when it re-enters a
// zone (an Angular app's ngZone.run in a stream's transform): the two look alike. A lost span must
// be said, so a new flow an observer starts while another trace is open is said too, unless it is
// started as one ({ parent: null }).
//
// A zone task whose zone holds a span, running code that left that zone (ngZone.run after an await
// inside a span, runOutsideAngular): the span was lost, said. Not a new flow a timer or a listener
// registered outside any span starts while another trace is open, nor one re-entering from a
// listener whose span's trace was already exported: no warning.
type Reentry =
  | "observer" | "observer-placed" | "reentered-transform"
  | "ngzone-run-inside-span" | "run-outside-angular" | "timer-new-flow" | "exported-listener-reenters";
async function zoneReentry(which: Reentry) {
  const exporter = new mlflow.InMemoryExporter();
  const contextManager = createBrowserContextManager(contextMode);
  if (contextManager instanceof ZoneContextManager) await contextManager.asyncLowered;
  mlflow.init({ exporter, contextManager, dedupeSpanNames: false });
  const Zone = (globalThis as { Zone?: { root: { fork(spec: { name: string }): { run<T>(f: () => T): T }; run<T>(f: () => T): T } } }).Zone!;
  const appZone = Zone.root.fork({ name: "app" }); // as Angular's NgZone, made at start-up
  if (which === "reentered-transform") {
    await mlflow.withSpan(async () => {
      const parse = new TransformStream<string, string>({
        transform(chunk, controller) {
          appZone.run(() => leaf("parse"));
          controller.enqueue(chunk);
        },
      });
      const reader = (await fetch("/stream?chunks=2")).body!.pipeThrough(new TextDecoderStream()).pipeThrough(parse).getReader();
      while (!(await reader.read()).done);
    }, { name: "sse" });
  } else if (which === "ngzone-run-inside-span") {
    const saveDraft = mlflow.trace(async function saveDraft() { await sleep(1); });
    await appZone.run(() => mlflow.withSpan(async () => {
      await sleep(1);
      await appZone.run(() => saveDraft()); // a service bringing a result back into Angular
      leaf("after");
    }, { name: "send-message" }));
  } else if (which === "run-outside-angular") {
    await mlflow.withSpan(async () => {
      await sleep(1);
      Zone.root.run(() => leaf("outside")); // NgZone.runOutsideAngular(fn) runs fn in the outer zone
    }, { name: "send-message" });
  } else if (which === "timer-new-flow") {
    const long = mlflow.withSpan(async () => { await sleep(10); }, { name: "long" });
    await new Promise<void>((resolve) => Zone.root.run(() => setTimeout(() => { mlflow.withSpan(() => 1, { name: "tick" }); resolve(); }, 2)));
    await long;
  } else if (which === "exported-listener-reenters") {
    const button = document.createElement("button");
    let fired!: Promise<unknown>;
    await mlflow.withSpan(async () => {
      await sleep(1);
      button.addEventListener("click", () => (fired = appZone.run(() => mlflow.withSpan(async () => { await sleep(1); }, { name: "fresh" }))));
    }, { name: "first" });
    await mlflow.flushTraces(); // "first" exported: its zone's span is no parent to lose
    await mlflow.withSpan(async () => {
      await sleep(1);
      button.click();
      await fired;
    }, { name: "other", parent: null });
  } else {
    const target = document.createElement("div");
    const fresh = new Promise<void>((resolve) => {
      new MutationObserver(() => void mlflow.withSpan(async () => { await sleep(1); }, { name: "fresh", ...(which === "observer-placed" ? { parent: null } : {}) }).then(resolve)).observe(target, { attributes: true });
    });
    await mlflow.withSpan(async () => {
      await sleep(2);
      target.setAttribute("data-x", "1"); // the observer fires in its own turn, "background" still open
      await fresh;
      await sleep(1);
    }, { name: "background", parent: null });
  }
  await mlflow.flushTraces();
  return { traces: exporter.traces.map((t) => t.data.spans.map((sp) => sp.name)), warnings };
}

(globalThis as { runScenario?: typeof run }).runScenario = run;
(globalThis as { zoneReentry?: typeof zoneReentry }).zoneReentry = zoneReentry;
(globalThis as { startTogether?: typeof startTogether }).startTogether = startTogether;
(globalThis as { scenarioNames?: string[] }).scenarioNames = Object.keys(scenarios);
