// initBrowser's options are checked before it starts anything (a Web Lock, IndexedDB, listeners):
// each mistake is a TypeError naming the option, instead of a sender that retries forever.
import { afterEach, describe, expect, it, vi } from "vitest";
import { configure } from "../../core/config.js";
import { resetWarnings } from "../../core/debug.js";
import { InMemoryExporter } from "../../core/export/exporter.js";
import { trace } from "../../core/index.js";
import { initBrowser, instrumentFetch, type BrowserInitOptions } from "../../browser/index.js";
import { checkBrowserOptions } from "../../browser/options.js";

const ok: BrowserInitOptions = { collectorUrl: "https://collector.example.com" };

describe("initBrowser options", () => {
  it.each([
    ["collectorUrl", { collectorUrl: "" }],
    ["collectorUrl", { collectorUrl: "javascript:alert(1)" }],
    ["collectorUrl", { collectorUrl: "ftp://collector.example.com" }],
    ["collectorUrl", { collectorUrl: "http://" }],
    ["collectorUrl", { collectorUrl: "https://user:pw@collector.example.com" }], // fetch refuses it: every send would fail
    // No scheme: resolved against the page, it would post to a path of the site itself.
    ["collectorUrl", { collectorUrl: "collector.example.com" }],
    ["ingestKey", { ingestKey: "pk-line\nbreak" }],
    ["ingestKey", { ingestKey: "clé" }],
    ["ingestKey", { ingestKey: "" }],
    ["context", { context: "zonejs" }],
    ["propagateTo", { propagateTo: "https://api.example.com" }],
    ["propagateTo", { propagateTo: ["api.example.com"] }], // no scheme: would match the page itself
    ["propagateTo", { propagateTo: ["https://api.example.com@evil.example"] }], // the origin is evil.example
    ["propagateTo", { propagateTo: ["https://*.example.com"] }], // matches no origin at all
    ["propagateTo", { propagateTo: ["https://%2A.example.com"] }], // the same, percent-encoded
    ["propagateTo", { propagateTo: ["https://api.example.com/v1"] }], // would allow the whole origin, not the path
    ["context", { context: { with: () => undefined } }], // no active(): configure() would fail after the lock and the database
    ["sample", { sample: 1.5 }],
    ["redact", { redact: true }],
    ["maxQueuedTraces", { maxQueuedTraces: 0 }],
    ["maxQueuedBytes", { maxQueuedBytes: "5MB" }],
    ["retry", { retry: { baseMs: Number.NaN } }],
    ["retry", { retry: { baseMs: 0 } }],
    ["retry", { retry: { maxMs: Infinity } }],
    ["retry", { retry: { maxMs: 2 ** 31 } }], // a timer fires at once past 2^31 - 1 ms: a hot loop
    ["retry", { retry: { base: 500 } }], // misspelt: the defaults would stay without a word
    ["retry", { retry: [] }],
    ["storage", { storage: "localStorage" }],
    ["queueName", { queueName: "" }],
    ["queueName", { queueName: "-app" }], // Web Locks refuse it: no tab would ever send
    ["experimentId", { experimentId: 42 }],
  ] as [string, Record<string, unknown>][])("%s: %j is refused before anything starts", (field, bad) => {
    expect(() => initBrowser({ ...ok, ...bad } as BrowserInitOptions)).toThrow(new RegExp(`^mlflow-edge initBrowser\\(\\): "${field}" must be `));
  });

  it("instrumentFetch() called on its own checks its allowlist as initBrowser does (a bare host would match the page's own origin)", () => {
    for (const bad of [["api.example.com"], ["https://api.example.com@evil.example"], "https://api.example.com"]) {
      expect(() => instrumentFetch(bad as never)).toThrow(/^mlflow-edge instrumentFetch\(\): "propagateTo" must be an array of origins/);
    }
  });

  afterEach(() => vi.unstubAllGlobals());

  it("in a page, refuses a collectorUrl without a scheme (a path of the site itself), and takes a path from /", () => {
    vi.stubGlobal("location", { href: "https://app.example.com/chat/" });
    expect(() => checkBrowserOptions({ collectorUrl: "collector.example.com" })).toThrow(/"collectorUrl" must be /);
    expect(checkBrowserOptions({ collectorUrl: "/v1/ingest" })).toBe("https://app.example.com/v1/ingest");
    expect(checkBrowserOptions({ collectorUrl: " https://collector.example.com\n" })).toBe("https://collector.example.com/v1/ingest"); // as fetch reads it
  });

  it('context "zone" without zone.js throws before a lock is asked for or a database opened', () => {
    const locks = { request: vi.fn(() => new Promise(() => {})), query: vi.fn(async () => ({ held: [], pending: [] })) };
    const open = vi.fn();
    vi.stubGlobal("document", {}); // a page
    vi.stubGlobal("navigator", { locks, onLine: true });
    vi.stubGlobal("indexedDB", { open });
    expect(() => initBrowser({ ...ok, context: "zone" })).toThrow(/^mlflow-edge initBrowser\(\): "context" is "zone", but zone\.js is not loaded/);
    expect(locks.request).not.toHaveBeenCalled();
    expect(open).not.toHaveBeenCalled();
  });

  it("refuses an option it does not know, naming the one meant", () => {
    expect(() => initBrowser({ ...ok, ingestkey: "pk-1" } as never)).toThrow(/unknown option "ingestkey"; did you mean "ingestKey"\?/);
  });

  it("refuses a missing options object", () => {
    expect(() => initBrowser(undefined as unknown as BrowserInitOptions)).toThrow(/initBrowser\(\): "options" must be an object/);
  });

  it("accepts what the README shows, and resolves the ingest URL", () => {
    expect(
      checkBrowserOptions({
        collectorUrl: "https://collector.example.com",
        ingestKey: "pk-site-key",
        propagateTo: ["https://api.example.com", /\.example\.org$/],
        sample: (t) => t.info.state === "ERROR",
        redact: false,
        maxQueuedTraces: 10,
        maxQueuedBytes: 1_000_000,
        retry: { baseMs: 500, maxMs: 30_000 },
        storage: "memory",
        queueName: "app",
        context: "stack",
      }),
    ).toBe("https://collector.example.com/v1/ingest");
    expect(checkBrowserOptions({ collectorUrl: "https://collector.example.com/custom/ingest" })).toBe("https://collector.example.com/custom/ingest");
  });
});

describe("initBrowser() outside a browser (server-side rendering)", () => {
  // Next.js, SvelteKit, Nuxt and React Router render a page's modules on the server first: a call
  // at a module's top level runs there too, in Node (this file) or in a Worker (test/worker).
  afterEach(() => {
    vi.restoreAllMocks();
    resetWarnings();
  });

  it("sets nothing up and breaks nothing: the server's own tracing stays, one warning says why, stats say storage none", async () => {
    const server = new InMemoryExporter();
    configure({ exporter: server });
    const warn = vi.spyOn(console, "warn").mockImplementation(() => undefined);
    const tracing = initBrowser({ collectorUrl: "/collect", ingestKey: "pk-site", propagateTo: ["https://api.example.com"], context: "zone" });
    initBrowser({ collectorUrl: "/collect" }); // rendered again: still nothing, no second warning
    const render = trace(async (q: string) => q.toUpperCase(), { name: "render" });
    expect(await render("hi")).toBe("HI");
    await tracing.flush();
    expect(server.traces.map((t) => t.data.spans[0]!.name)).toEqual(["render"]);
    expect(await tracing.stats()).toMatchObject({ queued: 0, sent: 0, storage: "none", leader: false });
    await tracing.shutdown();
    expect(warn.mock.calls.map((c) => String(c[0]))).toEqual([expect.stringMatching(/initBrowser\(\) ran outside a browser \(server-side rendering\?\): it sets nothing up there/)]);
    configure({});
  });

  it("still refuses a mistake in the options there, where it is seen first", () => {
    expect(() => initBrowser({ collectorUrl: "collector.example.com" })).toThrow(/"collectorUrl" must be /);
    expect(() => initBrowser({ ...ok, ingestkey: "pk-1" } as never)).toThrow(/unknown option "ingestkey"/);
  });
});
