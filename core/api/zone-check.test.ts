import { afterEach, describe, expect, it, vi } from "vitest";
import * as mlflow from "../index.js";
import { captureWarnings, setup } from "../../test/unit/helpers.js";
import { resetWarnings } from "../debug.js";
import { ZoneContextManager, type ZoneStatic } from "../../browser/context-zone.js";
import { instrumentFetch } from "../../browser/propagate.js";

// Under zone.js, a traced function the engine runs as native async/await loses the zone at its
// first await: each one is named once, whatever the library itself was built with.
const zoneNamed = () => Object.assign(new mlflow.StackContextManager(), { name: "zone" }) as unknown as mlflow.StackContextManager;

describe("native async functions under a zone context manager", () => {
  let warnings: ReturnType<typeof captureWarnings>;
  afterEach(() => warnings.restore());

  it("a traced native async function or withSpan callback is named once; a lowered one (a function returning a promise) is not", async () => {
    resetWarnings();
    warnings = captureWarnings();
    setup({ contextManager: zoneNamed() });
    const answer = mlflow.trace(async function answer() { return 1; });
    const lowered = mlflow.trace(function lowered() { return Promise.resolve(2); }); // what esbuild makes of an async function
    const chunks = mlflow.trace(async function* chunks() { yield 1; });
    await answer();
    await answer();
    await lowered();
    for await (const _ of chunks()) { /* read */ }
    await mlflow.withSpan(async () => 3, { name: "ask" });
    mlflow.withSpan(() => 4, { name: "sync" });
    const named = warnings.messages().filter((w) => w.includes("runs as native async/await"));
    expect(named.map((w) => /"([^"]+)" runs as native/.exec(w)![1])).toEqual(["answer", "chunks", "ask"]);
    expect(named[0]).toContain("mlflowEdgeZone()");
  });

  it("says nothing with another context manager", async () => {
    resetWarnings();
    warnings = captureWarnings();
    setup({ contextManager: new mlflow.StackContextManager() });
    await mlflow.trace(async function answer() { return 1; })();
    await mlflow.withSpan(async () => 3, { name: "ask" });
    expect(warnings.messages().filter((w) => w.includes("runs as native async/await"))).toEqual([]);
  });
});

// A production build (NODE_ENV defined as "production") leaves the zone.js set-up warnings out, as
// it does the lost-context warning: they are for the developer, not the end user's console.
describe("zone.js set-up warnings in a production build", () => {
  let warnings: ReturnType<typeof captureWarnings>;
  afterEach(() => {
    warnings.restore();
    vi.unstubAllEnvs();
  });
  // A zone.js that loses its zone across any await, as native async/await does.
  const root = { name: "<root>", get: () => undefined, run: <T>(fn: () => T) => fn(), fork: () => forked };
  const forked = { ...root, name: "fork", get: () => true };
  const nativeZone = { current: root, root } as unknown as ZoneStatic;

  for (const [env, said] of [["development", 1], ["production", 0]] as const) {
    it(`${env}: a native async function traced under zone.js and an unlowered bundle are ${said ? "said" : "not said"}`, async () => {
      vi.stubEnv("NODE_ENV", env);
      resetWarnings();
      warnings = captureWarnings();
      setup({ contextManager: zoneNamed() });
      await mlflow.trace(async function answer() { return 1; })();
      expect(await new ZoneContextManager(nativeZone).asyncLowered).toBe(false);
      const messages = warnings.messages();
      expect(messages.filter((w) => w.includes('"answer" runs as native async/await'))).toHaveLength(said);
      expect(messages.filter((w) => w.includes("async/await is not lowered in this bundle"))).toHaveLength(said);
    });
  }
});

// A span still active after its trace was exported (under zone.js: a listener registered inside it):
// a request it makes goes without a traceparent, which is said once in development only.
describe("a request made where a span of an exported trace is active", () => {
  let warnings: ReturnType<typeof captureWarnings>;
  const realFetch = globalThis.fetch;
  afterEach(() => {
    warnings.restore();
    vi.unstubAllEnvs();
    globalThis.fetch = realFetch;
  });
  for (const [env, said] of [["development", 1], ["production", 0]] as const) {
    it(`${env}: goes without a traceparent, ${said ? "said once" : "silently"}`, async () => {
      vi.stubEnv("NODE_ENV", env);
      const sent: (string | null)[] = [];
      globalThis.fetch = (async (_input: unknown, init?: RequestInit) => {
        sent.push(new Headers(init?.headers).get("traceparent"));
        return new Response("");
      }) as typeof fetch;
      const t = setup({ contextManager: new mlflow.StackContextManager() });
      warnings = captureWarnings();
      const stop = instrumentFetch(["https://api.example.com"]);
      try {
        const span = await mlflow.withSpan(async (s) => { await fetch("https://api.example.com/a"); return s; }, { name: "render-answer" });
        await t.only(); // exported
        await span.run(() => fetch("https://api.example.com/b"));
        await span.run(() => fetch("https://api.example.com/c"));
      } finally {
        stop();
      }
      expect(sent[0]).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
      expect(sent.slice(1)).toEqual([null, null]);
      expect(warnings.messages().filter((w) => w.includes("was already exported") && w.includes("without a traceparent"))).toHaveLength(said);
    });
  }
});

