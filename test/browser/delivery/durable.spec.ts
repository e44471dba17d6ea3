// Acceptance: finished traces are written to IndexedDB before any send, survive reloads and closed
// tabs, and reach the collector once the page (or the next one) can send them.
import { expect, test } from "@playwright/test";
import { expectDelivered, idbRows, offline, openApp, slowLeases, stub, type StubView } from "./helpers.js";

test.beforeEach(async ({ request }) => {
  await request.get("/stub/reset");
});

test("every trace is in IndexedDB before its request leaves the page", async ({ page, request }) => {
  await openApp(page);
  const missing: string[] = [];
  let checked = 0;
  await page.route("**/v1/ingest", async (route) => {
    // The request is on the network now: each trace in it must already be stored.
    const ids = (JSON.parse(route.request().postData() ?? "{}").traces ?? []).map((t: { info: { traceId: string } }) => t.info.traceId);
    const stored = new Set((await idbRows(page)).map((r) => r.id));
    missing.push(...ids.filter((id: string) => !stored.has(id)));
    checked += ids.length;
    await route.continue();
  });
  const ids = await page.evaluate(() => (globalThis as any).app.traceMany(6) as string[]);
  await expectDelivered(request, ids);
  expect(checked).toBeGreaterThanOrEqual(6);
  expect(missing).toEqual([]);
  await expect.poll(async () => (await idbRows(page)).length).toBe(0); // deleted once acknowledged
});

test("network blocked, page reloaded: the stored traces are sent by the reloaded page, once each", async ({ page, request }) => {
  await request.get("/stub/down?on=1"); // every ingest connection dropped, keepalive ones included
  await openApp(page);
  const ids = await page.evaluate(() => (globalThis as any).app.traceMany(4) as string[]);
  await expect.poll(async () => (await idbRows(page)).map((r) => r.id).sort()).toEqual([...ids].sort());
  await page.reload();
  await page.waitForFunction(() => "app" in globalThis);
  expect((await stub(request)).requests).toEqual([]); // nothing got through so far
  expect((await idbRows(page)).map((r) => r.id).sort()).toEqual([...ids].sort());
  // The pages do try (the first one may not have before the reload; the reloaded one does once it
  // leads and has reclaimed the rows the closing page leased for its unload flush: 2 s after that
  // page is gone, plus backoff, which took up to 6 s on a loaded 2-core machine).
  await expect.poll(async () => (await stub(request)).refused, { timeout: 15_000 }).toBeGreaterThan(0);
  await request.get("/stub/down?on=0");
  const view = await expectDelivered(request, ids);
  for (const id of ids) expect(view.deliveries[id]).toBe(1);
  await expect.poll(async () => (await idbRows(page)).length).toBe(0);
});

test("tab closed right after a trace finished: after reopening, the collector has it exactly once", async ({ context, request }) => {
  test.setTimeout(75_000);
  const first = await openApp(await context.newPage());
  const id = await first.evaluate(() => (globalThis as any).app.traceOne("closing") as string);
  await first.close({ runBeforeUnload: true });
  const reopened = await openApp(await context.newPage());
  const view = await expectDelivered(request, [id]);
  expect(view.traces.filter((t) => t.info.traceId === id)).toHaveLength(1);
  // If the closing tab had leased the row and its answer was lost with the tab, the row is sent
  // again (idempotently) once that lease expires (30 s), and only then deleted.
  await expect.poll(async () => (await idbRows(reopened)).length, { timeout: 45_000 }).toBe(0);
  console.log(`closed-tab trace: ${view.deliveries[id]} deliveries, ${view.requests.length} requests`);
});

test("tab closed after its trace was leased for sending but before the request left: the next page of the site sends it within seconds, not after the lease, once", async ({ context, request }) => {
  await context.newPage(); // keeps the context open while the tab under test is gone
  const first = await openApp(await context.newPage());
  await expect.poll(() => first.evaluate(async () => (await (globalThis as any).app.stats()).leader)).toBe(true);
  await slowLeases(first);
  const id = await first.evaluate(() => (globalThis as any).app.traceOne("leased, not sent") as string);
  await expect.poll(async () => (await idbRows(first)).map((r) => [r.id, typeof r.leaseToken])).toEqual([[id, "string"]]);
  expect((await stub(request)).requests).toEqual([]);
  await first.close({ runBeforeUnload: true });
  // A dead tab's lease is taken back 2 s after it was taken, not at its 30 s expiry.
  const started = Date.now();
  await openApp(await context.newPage());
  const view = await expectDelivered(request, [id], 20_000); // (it looks again within 5 s of the grace)
  console.log(`leased by a closed tab: delivered by the next page ${Date.now() - started} ms after it opened`);
  expect(view.deliveries[id]).toBe(1);
});

test("tab closed while a trace too large for the page's keepalive share is on its way in a plain request: the next page of the site sends it within seconds, once", async ({ context, request }) => {
  await context.newPage(); // keeps the context open while the tab under test is gone
  // A slow collector, which drops what a page gave up on (a plain fetch dies with its page).
  await request.get("/stub/delay?ms=4000&dropAborted=1");
  const first = await openApp(await context.newPage());
  await expect.poll(() => first.evaluate(async () => (await (globalThis as any).app.stats()).leader)).toBe(true);
  // About 40 KB (the pad is in the root's inputs and the trace's request preview): over the half
  // of the keepalive budget a page that stays may take, within the whole of it.
  const id = await first.evaluate(() => (globalThis as any).app.traceOne("large, leaving", { padBytes: 20_000 }) as string);
  await expect.poll(async () => (await stub(request)).requests.length).toBe(1);
  expect((await stub(request)).requests[0]!.bytes).toBeGreaterThan(35_000);
  expect((await first.evaluate(() => (globalThis as any).app.stats())).keepaliveRequests).toBe(0);
  await first.close({ runBeforeUnload: true });
  await expect.poll(async () => (await stub(request)).requests.map((r) => r.status)).toEqual([499]); // the plain one died with its page
  await request.get("/stub/delay?ms=0");
  await openApp(await context.newPage());
  const view = await expectDelivered(request, [id], 20_000); // its lease (30 s) is a dead tab's: taken back after 2 s
  expect(view.deliveries[id]).toBe(1);
});

test("tab closed while its trace's keepalive request is on its way (a slow collector): the next page of the site does not send it at the same time", async ({ context, request }) => {
  await context.newPage(); // keeps the context open while the tab under test is gone
  const first = await openApp(await context.newPage());
  await expect.poll(() => first.evaluate(async () => (await (globalThis as any).app.stats()).leader)).toBe(true);
  await request.get("/stub/delay?ms=9000"); // the answer comes 9 s after the request
  const id = await first.evaluate(() => (globalThis as any).app.traceOne("on its way") as string);
  await expect.poll(async () => (await stub(request)).requests.length).toBe(1); // (its ids are known once answered)
  await first.close({ runBeforeUnload: true });
  await openApp(await context.newPage()); // the sender now; it takes a dead tab's lease back after 2 s
  await new Promise((r) => setTimeout(r, 7_000));
  // Without the closing page's mark, it sent the trace again 5.5 s after the first went out.
  expect((await stub(request)).requests).toHaveLength(1);
  const view = await expectDelivered(request, [id]);
  expect(view.requests.map((r) => r.ids)).toEqual([[id]]);
});

test("tab closed while an answer is still streaming: the trace arrives, its open spans ended with a 'cancelled' event", async ({ context, request }) => {
  await context.newPage(); // keeps the context open while the tab under test is gone
  const first = await openApp(await context.newPage());
  const id = await first.evaluate(() => (globalThis as any).app.startAnswer("left mid-answer") as Promise<string>);
  expect((await stub(request)).deliveries).toEqual({}); // still open: nothing to send yet
  await first.close({ runBeforeUnload: true });
  const view = await expectDelivered(request, [id]); // sent by the closing page itself, no reopening
  const spans = view.traces.find((t) => t.info.traceId === id)!.data.spans as unknown as {
    name: string; endTime: number | null; events: { name: string; attributes: Record<string, unknown> }[]; inputs?: unknown;
  }[];
  expect(spans.map((s) => s.name)).toEqual(["ask", "answer"]);
  for (const s of spans) {
    expect(s.endTime).not.toBeNull();
    expect(s.events.filter((e) => e.name === "cancelled")).toEqual([{ name: "cancelled", attributes: { reason: "page closed" }, timestamp: expect.any(Number) }]);
  }
  expect(spans[1]!.events.filter((e) => e.name.startsWith("mlflow.chunk.item")).map((e) => e.attributes["mlflow.chunk.value"])).toEqual(['"Once"', '" upon"']);
  expect(spans[0]!.inputs).toEqual({ label: "left mid-answer" });
});

type SentSpan = { name: string; endTime: number | null; events: { name: string; timestamp: number; attributes: Record<string, unknown> }[]; outputs?: unknown };
const sentSpans = (view: StubView, id: string) => view.traces.find((t) => t.info.traceId === id)!.data.spans as unknown as SentSpan[];
const chunks = (span: SentSpan) => span.events.filter((e) => e.name.startsWith("mlflow.chunk.item")).map((e) => e.attributes["mlflow.chunk.value"]);

test("tab hidden mid-answer, then discarded without another event: the next page load delivers the trace as it was when hidden", async ({ context, request }) => {
  await context.newPage(); // keeps the context open while the tab under test is gone
  const first = await openApp(await context.newPage());
  const id = await first.evaluate(() => (globalThis as any).app.startAnswer("discarded mid-answer") as Promise<string>);
  await first.evaluate(() => (globalThis as any).app.hide());
  // Stored in advance, and held back while the tab lives (it may come back and finish).
  await expect.poll(async () => (await idbRows(first)).map((r) => r.id)).toEqual([id]);
  await first.evaluate(() => (globalThis as any).app.flush());
  expect((await stub(request)).deliveries).toEqual({});
  // What a discarded or crashed tab does: nothing at all (no pagehide, no unload).
  const cdp = await context.newCDPSession(first);
  const crashed = first.waitForEvent("crash");
  void cdp.send("Page.crash").catch(() => undefined);
  await crashed;
  const reopened = await openApp(await context.newPage());
  const view = await expectDelivered(request, [id]);
  expect(view.deliveries[id]).toBe(1);
  const spans = sentSpans(view, id);
  expect(spans.map((s) => s.name)).toEqual(["ask", "answer"]);
  for (const s of spans) {
    expect(s.endTime).not.toBeNull();
    expect(s.events.filter((e) => e.name === "cancelled").map((e) => e.attributes)).toEqual([{ reason: "page discarded while hidden" }]);
  }
  expect(chunks(spans[1]!)).toEqual(['"Once"', '" upon"']);
  await expect.poll(async () => (await idbRows(reopened)).length).toBe(0);
});

test("a hidden tab's snapshots follow what happens while it stays hidden: more of the answer, a trace started there", async ({ context, request }) => {
  await context.newPage(); // keeps the context open while the tab under test is gone
  const page = await openApp(await context.newPage());
  const id = await page.evaluate(() => (globalThis as any).app.startAnswer("streaming in the background") as Promise<string>);
  await page.evaluate(() => (globalThis as any).app.hide());
  const chunksStored = async (traceId: string) => {
    const row = (await idbRows(page)).find((r) => r.id === traceId);
    return row ? (JSON.parse(row.body).data.spans[1].events as { name: string }[]).filter((e) => e.name.startsWith("mlflow.chunk")).length : 0;
  };
  await expect.poll(() => chunksStored(id)).toBe(2);
  await page.evaluate(() => (globalThis as any).app.moreAnswer(" in"));
  const later = await page.evaluate(() => (globalThis as any).app.openSpan("started while hidden") as string);
  await expect.poll(() => chunksStored(id), { timeout: 10_000 }).toBe(3); // stored again within a few seconds
  await expect.poll(async () => (await idbRows(page)).map((r) => r.id).sort(), { timeout: 10_000 }).toEqual([id, later].sort());
  const cdp = await context.newCDPSession(page);
  const crashed = page.waitForEvent("crash");
  void cdp.send("Page.crash").catch(() => undefined);
  await crashed;
  await openApp(await context.newPage());
  const view = await expectDelivered(request, [id, later]);
  expect(chunks(sentSpans(view, id)[1]!)).toEqual(['"Once"', '" upon"', '" in"']);
  expect(sentSpans(view, later)[0]!.events.map((e) => e.attributes.reason)).toEqual(["page discarded while hidden"]);
  expect([view.deliveries[id], view.deliveries[later]]).toEqual([1, 1]);
});

test("tab hidden mid-answer, then shown and the answer finishes: only the finished trace is sent, once", async ({ page, request }) => {
  await openApp(page);
  const id = await page.evaluate(() => (globalThis as any).app.startAnswer("came back") as Promise<string>);
  await page.evaluate(() => (globalThis as any).app.hide());
  await expect.poll(async () => (await idbRows(page)).map((r) => r.id)).toEqual([id]);
  await page.evaluate(() => ((globalThis as any).app.show(), (globalThis as any).app.finishAnswer()));
  const view = await expectDelivered(request, [id]);
  await expect.poll(async () => (await idbRows(page)).length).toBe(0);
  expect((await stub(request)).deliveries[id]).toBe(1);
  const spans = sentSpans(view, id);
  expect(spans.flatMap((s) => s.events.filter((e) => e.name === "cancelled"))).toEqual([]);
  expect(chunks(spans[1]!)).toEqual(['"Once"', '" upon"', '" a time"']);
});

test("tab hidden mid-answer, then the finished trace is sampled out: its snapshot goes too, nothing is sent", async ({ page, request }) => {
  await openApp(page, "sample=keep");
  const id = await page.evaluate(() => (globalThis as any).app.startAnswer("keep, for now") as Promise<string>);
  await page.evaluate(() => (globalThis as any).app.hide());
  await expect.poll(async () => (await idbRows(page)).map((r) => r.id)).toEqual([id]);
  await page.evaluate(() => {
    const app = (globalThis as any).app;
    app.relabelAnswer("not kept after all");
    app.show();
    app.finishAnswer();
  });
  await expect.poll(async () => (await page.evaluate(() => (globalThis as any).app.stats())).sampledOut).toBe(1);
  await expect.poll(async () => (await idbRows(page)).length).toBe(0);
  await page.evaluate(() => (globalThis as any).app.flush());
  expect((await stub(request)).deliveries).toEqual({});
});

test("an answer stream the page stops reading and forgets: the trace is sent once it is garbage collected", async ({ page, context, request }) => {
  await openApp(page);
  const id = await page.evaluate(() => (globalThis as any).app.dropAnswer("forgotten") as Promise<string>);
  await page.evaluate(() => (globalThis as any).app.flush());
  expect((await stub(request)).deliveries).toEqual({}); // still open: the stream may yet be read
  const cdp = await context.newCDPSession(page);
  await expect
    .poll(async () => {
      await cdp.send("HeapProfiler.collectGarbage");
      return (await stub(request)).deliveries[id];
    }, { timeout: 15_000 }) // each try needs a collection, the finalizer, the store and the send
    .toBe(1);
  const [span] = sentSpans(await stub(request), id);
  expect(span!.name).toBe("answer");
  expect(chunks(span!)).toEqual(['"Once"', '" upon"']);
  expect(span!.outputs).toEqual(["Once", " upon"]);
  expect(span!.events.at(-1)).toMatchObject({ name: "cancelled", attributes: { reason: "stream dropped unfinished" } });
  expect(span!.endTime).toBe(span!.events.at(-2)!.timestamp);
});

test("tab closed while the collector is failing: the next page load delivers the trace", async ({ context, request }) => {
  await context.newPage(); // keeps the context open while the tab under test is gone
  await request.get("/stub/fail?times=1000&status=503");
  const first = await openApp(await context.newPage());
  const id = await first.evaluate(() => (globalThis as any).app.traceOne("failing-close") as string);
  await expect.poll(async () => (await idbRows(first)).map((r) => r.id)).toEqual([id]);
  await expect.poll(async () => (await stub(request)).requests.length).toBeGreaterThan(0); // it got its 503
  // The failure is lifted only once the tab is gone: a retry or the keepalive copy of a closing
  // tab still on its way would otherwise get the 200 (offline, its last tries fail for sure).
  await offline(first);
  const gone = first.waitForEvent("close");
  await first.close({ runBeforeUnload: true });
  await gone;
  await request.get("/stub/fail?times=0");
  expect((await stub(request)).deliveries).toEqual({});
  await openApp(await context.newPage());
  const view = await expectDelivered(request, [id]);
  expect(view.deliveries[id]).toBe(1);
});

test("tab closed before its trace's IndexedDB write could run, its keepalive copy failing: the next page load delivers the trace", async ({ context, request }) => {
  test.setTimeout(75_000);
  await context.newPage(); // keeps the context open while the tab under test is gone
  const first = await openApp(await context.newPage());
  // Another tab of the origin holds the queue in a long transaction, so the closing tab's write
  // waits behind it and dies with the tab: the state a slow disk or a busy origin leaves.
  const blocker = await context.newPage();
  await blocker.goto("/health");
  await blocker.evaluate(() => new Promise<void>((held) => {
    const open = indexedDB.open("mlflow-edge");
    open.onsuccess = () => {
      const store = open.result.transaction("traces", "readwrite").objectStore("traces");
      const flags = globalThis as { release?: boolean };
      const spin = () => { if (!flags.release) store.count().onsuccess = spin; };
      spin();
      held();
    };
  }));
  await offline(first); // the keepalive copy fails too, however late the page sends it
  const id = await first.evaluate(() => (globalThis as any).app.traceOne("closed-unwritten") as string);
  const gone = first.waitForEvent("close");
  await first.close({ runBeforeUnload: true });
  await gone;
  await new Promise((r) => setTimeout(r, 1_500)); // the tab is gone for good, not just unloading
  await blocker.evaluate(() => ((globalThis as { release?: boolean }).release = true));
  expect((await stub(request)).deliveries).toEqual({});
  const reopened = await openApp(await context.newPage());
  // The closing page marked its copy as on its way (25 s and the upload's time): if it was gone
  // before its failure cleared the mark, the next sender waits the mark out.
  const view = await expectDelivered(request, [id], 45_000);
  expect(view.deliveries[id]).toBe(1);
  await expect.poll(() => reopened.evaluate(() => Object.keys(localStorage).length)).toBe(0); // its copy is gone
});

test("a clock set back after a failed send (an NTP fix): the trace goes out after its backoff, not a day later, also after a reload", async ({ page, request }) => {
  await page.addInitScript(() => {
    const real = Date.now;
    Date.now = () => real() + Number(localStorage.getItem("clockAheadMs") ?? 0);
  });
  await page.goto("/health");
  await page.evaluate(() => localStorage.setItem("clockAheadMs", String(24 * 3_600_000))); // a day ahead
  await request.get("/stub/fail?times=1000&status=503");
  await openApp(page, "retryBase=1000&retryMax=2000");
  const id = await page.evaluate(() => (globalThis as any).app.traceOne("ahead") as string);
  await expect.poll(async () => (await stub(request)).requests.length).toBeGreaterThan(0); // refused
  await expect.poll(async () => (await idbRows(page)).map((r) => r.id)).toEqual([id]);
  // The clock is corrected and the page reloads; the stored retry time is now a day away.
  await page.evaluate(() => localStorage.setItem("clockAheadMs", "0"));
  await request.get("/stub/fail?times=0");
  await page.reload();
  await page.waitForFunction(() => "app" in globalThis);
  await expectDelivered(request, [id], 20_000); // the backoff was at most 2 s
});
