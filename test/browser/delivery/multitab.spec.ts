// Acceptance: tabs of one origin share one queue and one sender, and no trace is sent twice.
import { expect, test, type Page } from "@playwright/test";
import { expectDelivered, offline, openApp, silentHolder } from "./helpers.js";

test.beforeEach(async ({ request }) => {
  await request.get("/stub/reset");
});

const stats = (page: Page) => page.evaluate(() => (globalThis as any).app.stats());

test("two tabs tracing at once: every trace arrives exactly once, and one tab is the sender", async ({ context, request }) => {
  const [a, b] = await Promise.all([openApp(await context.newPage()), openApp(await context.newPage())]);
  const ids: string[] = [];
  for (let round = 0; round < 5; round++) {
    // Both tabs finish traces and flush at the same moment: each flush races the other tab's sender.
    const batches = await Promise.all(
      [a, b].map((page, tab) =>
        page.evaluate(async ([r, t]) => {
          const app = (globalThis as any).app;
          const made = app.traceMany(4, 2_000, `tab${t}-r${r}-`) as string[];
          await app.flush();
          return made;
        }, [round, tab] as const),
      ),
    );
    ids.push(...batches.flat());
  }
  const view = await expectDelivered(request, ids);
  expect(ids).toHaveLength(40);
  expect(Object.entries(view.deliveries).filter(([, n]) => n !== 1)).toEqual([]);
  const leaders = [(await stats(a)).leader, (await stats(b)).leader];
  expect(leaders.filter(Boolean)).toHaveLength(1);
});

test("the sending tab closes: the other tab takes over and delivers what was left", async ({ context, request }) => {
  const first = await openApp(await context.newPage());
  await expect.poll(async () => (await stats(first)).leader).toBe(true);
  const second = await openApp(await context.newPage());
  expect((await stats(second)).leader).toBe(false);
  await offline(first); // what it stores stays for the take-over: neither its sender nor its last try at closing sends it
  const ids = await first.evaluate(() => (globalThis as any).app.traceMany(3, 0, "handoff") as string[]);
  await expect.poll(async () => (await stats(second)).queued).toBe(3); // one queue for the origin
  await first.close();
  await expect.poll(async () => (await stats(second)).leader).toBe(true);
  const view = await expectDelivered(request, ids);
  for (const id of ids) expect(view.deliveries[id]).toBe(1);
});

test("a tab keeping its traces in memory is not the origin's sender: the other tabs' stored traces go out while it stays", async ({ context, request }) => {
  const memoryTab = await openApp(await context.newPage(), "storage=memory"); // first: it would have taken the lock
  const idbTab = await openApp(await context.newPage());
  await expect.poll(async () => (await stats(idbTab)).leader).toBe(true);
  expect((await stats(memoryTab)).leader).toBe(false);
  const [fromMemory, fromIdb] = await Promise.all([
    memoryTab.evaluate(() => (globalThis as any).app.traceMany(2, 0, "memory") as string[]),
    idbTab.evaluate(() => (globalThis as any).app.traceMany(2, 0, "idb") as string[]),
  ]);
  const view = await expectDelivered(request, [...fromMemory, ...fromIdb]);
  for (const id of [...fromMemory, ...fromIdb]) expect(view.deliveries[id]).toBe(1);
});

test("a hidden tab is discarded mid-answer while another tab sends: the sending tab delivers the trace, with no reload", async ({ context, request }) => {
  const sender = await openApp(await context.newPage());
  await expect.poll(async () => (await stats(sender)).leader).toBe(true);
  const hidden = await openApp(await context.newPage());
  const id = await hidden.evaluate(() => (globalThis as any).app.startAnswer("discarded in the background") as Promise<string>);
  await hidden.evaluate(() => (globalThis as any).app.hide());
  await expect.poll(async () => (await stats(sender)).queued).toBe(1); // the snapshot, held back
  await sender.evaluate(() => (globalThis as any).app.flush());
  expect((await request.get("/stub/traces").then((r) => r.json())).deliveries).toEqual({});
  const cdp = await context.newCDPSession(hidden);
  const crashed = hidden.waitForEvent("crash");
  void cdp.send("Page.crash").catch(() => undefined);
  await crashed;
  const view = await expectDelivered(request, [id]); // its idle poll (5 s) finds the snapshot due
  expect(view.deliveries[id]).toBe(1);
  await expect.poll(async () => (await stats(sender)).queued).toBe(0);
});

test("the sender's lock is held by a tab that does not send: a tab with news takes it over and delivers", async ({ context, request }) => {
  const holder = await silentHolder(await context.newPage());
  const tab = await openApp(await context.newPage());
  expect((await stats(tab)).leader).toBe(false);
  const ids = await tab.evaluate(() => (globalThis as any).app.traceMany(2, 0, "news") as string[]);
  const view = await expectDelivered(request, ids); // the answer is awaited 5 s, then the lock is taken
  for (const id of ids) expect(view.deliveries[id]).toBe(1);
  expect((await stats(tab)).leader).toBe(true);
  expect(await holder.evaluate(() => (globalThis as { lost?: string }).lost)).toBe("AbortError");
});

test("a sender that answers keeps its lock; one whose lock was taken goes back in line, and sends again when its turn comes", async ({ context, request }) => {
  const first = await openApp(await context.newPage());
  await expect.poll(async () => (await stats(first)).leader).toBe(true);
  const second = await openApp(await context.newPage());
  const early = await second.evaluate(() => (globalThis as any).app.traceOne("early"));
  await expectDelivered(request, [early]);
  await second.waitForTimeout(6_000); // past the 5 s a tab waits for the sender's answer
  expect([(await stats(first)).leader, (await stats(second)).leader]).toEqual([true, false]);

  // Another page of the origin takes the lock (as a tab finding the sender silent does) and later lets go.
  const thief = await context.newPage();
  await thief.goto("/health");
  await thief.evaluate(() => {
    void navigator.locks.request("mlflow-edge:sender", { steal: true }, () => new Promise<void>((resolve) => ((globalThis as any).letGo = resolve)));
  });
  await expect.poll(async () => (await stats(first)).leader).toBe(false);
  await thief.evaluate(() => (globalThis as any).letGo());
  // The second tab, waiting since it opened, is the sender now; the first went back in line behind it.
  await expect.poll(async () => (await stats(second)).leader).toBe(true);
  expect((await stats(first)).leader).toBe(false);
  await second.close();
  await expect.poll(async () => (await stats(first)).leader).toBe(true);
  const late = await first.evaluate(() => (globalThis as any).app.traceOne("late"));
  expect((await expectDelivered(request, [late])).deliveries[late]).toBe(1);
});

test("traces wait behind a sender that does not send: a tab that opens asks, and takes over", async ({ context, request }) => {
  await silentHolder(await context.newPage());
  const gone = await openApp(await context.newPage());
  const ids = await gone.evaluate(() => (globalThis as any).app.traceMany(2, 0, "left") as string[]);
  await expect.poll(async () => (await stats(gone)).queued).toBe(2);
  await offline(gone); // its own last try at closing must not send them
  await gone.close(); // before its own 5 s wait for the sender's answer ends
  const opened = await openApp(await context.newPage()); // it traces nothing itself
  const view = await expectDelivered(request, ids);
  for (const id of ids) expect(view.deliveries[id]).toBe(1);
  expect((await stats(opened)).leader).toBe(true);
});

test("the site deletes the database under the sender tab (a logout wiping storage): a tab opened later still gets its traces delivered", async ({ context, request }) => {
  test.setTimeout(60_000);
  const a = await openApp(await context.newPage());
  await expect.poll(async () => (await stats(a)).leader).toBe(true);
  const wiper = await context.newPage();
  await wiper.goto("/health");
  await wiper.evaluate(() => new Promise<void>((resolve, reject) => {
    const del = indexedDB.deleteDatabase("mlflow-edge");
    del.onsuccess = () => resolve();
    del.onerror = () => reject(del.error);
    del.onblocked = () => reject(new Error("the sender tab did not let go of the database"));
  }));
  const d = await openApp(await context.newPage());
  const id = await d.evaluate(() => (globalThis as any).app.traceOne("after the wipe") as string);
  // The sender tab opens the database again and sends it; before, it kept the lock but failed
  // every lease on its closed connection, and the trace waited as long as that tab stayed open.
  await expectDelivered(request, [id], 20_000);
  expect((await stats(a)).storage).toBe("indexeddb");
});

test("a newer version of the site upgrades the database in another tab: this tab's stats() answers and its traces still go out", async ({ context, page, request }) => {
  await openApp(page);
  await page.evaluate(() => addEventListener("unhandledrejection", (e) => (globalThis as any).app.warnings.push(`unhandled: ${String((e as PromiseRejectionEvent).reason)}`)));
  const first = await page.evaluate(() => (globalThis as any).app.traceOne("before") as string);
  await expectDelivered(request, [first]);
  const newer = await context.newPage();
  await newer.goto("/health");
  await newer.evaluate(() => new Promise<void>((resolve, reject) => {
    const open = indexedDB.open("mlflow-edge", 3); // this release reads 1 and 2
    open.onsuccess = () => (open.result.close(), resolve());
    open.onerror = () => reject(open.error);
    open.onblocked = () => reject(new Error("this tab did not let go of the database"));
  }));
  // It cannot open version 3: it keeps its traces in memory, says why, and still delivers.
  expect(await stats(page)).toMatchObject({ storage: "memory" });
  const after = await page.evaluate(() => (globalThis as any).app.traceOne("after") as string);
  await expectDelivered(request, [first, after]);
  const warnings = (await page.evaluate(() => (globalThis as any).app.warnings)) as string[];
  expect(warnings.filter((w) => /unhandled/.test(w))).toEqual([]);
  expect(warnings.join("\n")).toMatch(/IndexedDB was upgraded by a newer version of the site in another tab \(VersionError/);
});

test("a newer version of the site upgrades the database, and this tab's next step is storing a trace: it says so and lets the newer version's tabs send", async ({ context, page, request }) => {
  await openApp(page);
  const first = await page.evaluate(() => (globalThis as any).app.traceOne("before") as string);
  await expectDelivered(request, [first]);
  await expect.poll(async () => (await stats(page)).leader).toBe(true);
  await page.waitForTimeout(500); // the sender's run is over: nothing queued, so no look until the next trace
  const newer = await context.newPage();
  await newer.goto("/health");
  await newer.evaluate(() => new Promise<void>((resolve, reject) => {
    const open = indexedDB.open("mlflow-edge", 3); // this release reads 1 and 2
    open.onsuccess = () => (((globalThis as any).db = open.result), resolve()); // kept open, as its live tab does
    open.onerror = () => reject(open.error);
    open.onblocked = () => reject(new Error("this tab did not let go of the database"));
  }));
  const after = await page.evaluate(() => (globalThis as any).app.traceOne("after") as string);
  await expectDelivered(request, [after]);
  // Before: the write's VersionError was taken for a full disk ("refused a write"), and the tab
  // kept the sender's lock, and so the newer version's backlog, for as long as it stayed open.
  expect(await stats(page)).toMatchObject({ storage: "memory", leader: false });
  expect(((await page.evaluate(() => (globalThis as any).app.warnings)) as string[]).join("\n")).toMatch(/IndexedDB was upgraded by a newer version of the site/);
  const granted = await newer.evaluate(() => new Promise<boolean>((resolve) => {
    void navigator.locks.request("mlflow-edge:sender", () => resolve(true));
    setTimeout(() => resolve(false), 5_000);
  }));
  expect(granted).toBe(true);
});
