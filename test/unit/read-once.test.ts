// Options read once: a getter (or Proxy) in an app's options answers what it likes each time, so a
// value checked must be the value used. And a stubbed setTimeout that returns no handle (a test's
// fake timers) does not break ending a span.
import { afterEach, describe, expect, it, vi } from "vitest";
import * as mlflow from "../../core/index.js";
import { checkBrowserOptions } from "../../browser/options.js";

describe("values read once, timers without a handle", () => {
  afterEach(() => {
    vi.unstubAllGlobals();
  });

  it("a collectorUrl that changes between reads is refused, not resolved against the page (the page itself, /undefined)", () => {
    vi.stubGlobal("location", { href: "https://app.example/chat/page" });
    for (const later of [undefined, "", 42]) {
      let reads = 0;
      const options = { get collectorUrl() { return ++reads <= 2 ? "https://collector.example.com" : later; } };
      const checked = (() => { try { return checkBrowserOptions(options as never); } catch (error) { return error; } })();
      // Either refused, or the URL first read: never a URL on the page's own site.
      if (!(checked instanceof TypeError)) expect(String(checked)).toMatch(/^https:\/\/collector\.example\.com/);
    }
  });

  it("updateCurrentTrace({ state }) stores only OK or ERROR, whatever a getter answers on a later read", async () => {
    const exporter = new mlflow.InMemoryExporter();
    mlflow.init({ exporter, silent: true });
    let reads = 0;
    const options = { get state() { return ++reads <= 2 ? "OK" : "bogus"; } };
    mlflow.withSpan(() => mlflow.updateCurrentTrace(options as never), { name: "root" });
    await mlflow.flushTraces();
    expect(["OK", "ERROR"]).toContain(exporter.traces[0]!.info.state);
  });

  it("a setTimeout returning no handle does not make span.end() throw", () => {
    mlflow.init({ exporter: new mlflow.InMemoryExporter(), silent: true });
    const real = globalThis.setTimeout;
    vi.stubGlobal("setTimeout", (fn: () => void, ms: number) => { real(fn, ms); return undefined; });
    const root = mlflow.startSpan({ name: "root" });
    const child = mlflow.startSpan({ name: "child", parent: root });
    expect(() => root.end()).not.toThrow();
    vi.unstubAllGlobals();
    child.end();
  });
});
