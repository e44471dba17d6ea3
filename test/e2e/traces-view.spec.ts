// The demo's Traces view as a user works with it: paging stays put through live updates, a view the
// user left does not paint over the one they went to, the buffer's list does not wait for MLflow,
// every span of a trace is listed, a refresh does not take away focus, right-to-left text stays in
// its place, and the pages carry a content security policy.
import { randomBytes } from "node:crypto";
import { expect, test, type Page } from "@playwright/test";
import { startWranglerDev, type WranglerDev } from "./wrangler-dev.js";

let demo: WranglerDev;
test.beforeAll(async () => {
  demo = await startWranglerDev();
});
test.afterAll(async () => demo?.stop());

const hex = (bytes: number) => randomBytes(bytes).toString("hex");
type SpanShape = { spanId?: string; parentId?: string | null; name: string; spanType?: string; startTime?: number };

/** Stores one trace (or one part of it) through the demo's collector, as its page would. */
async function ingest(traceId: string, spans: SpanShape[], name?: string): Promise<void> {
  const t0 = Date.now();
  const data = spans.map((s, i) => ({
    traceId,
    spanId: s.spanId ?? hex(8),
    parentId: s.parentId ?? null,
    name: s.name,
    spanType: s.spanType ?? "UNKNOWN",
    startTime: s.startTime ?? t0 + i,
    endTime: (s.startTime ?? t0 + i) + 5,
    status: { statusCode: "STATUS_CODE_OK", description: "" },
    attributes: {},
    events: [],
  }));
  const trace = { info: { traceId, requestTime: t0, state: "OK", executionDuration: 5, tags: name ? { "mlflow.traceName": name } : {}, traceMetadata: {} }, data: { spans: data } };
  const res = await fetch(`${demo.url}/v1/ingest`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-mlflow-edge-key": "demo-page-key", origin: demo.url },
    body: JSON.stringify({ version: 1, traces: [trace] }),
  });
  expect(res.status, await res.clone().text()).toBe(200);
}
const newTrace = async (name: string) => {
  const id = `tr-${hex(16)}`;
  await ingest(id, [{ name }], name);
  return id;
};
const rows = (page: Page) => page.locator("table.traces tbody tr");

test("Load more: the rows it brought stay through the live updates", async ({ page }) => {
  for (let i = 0; i < 55; i++) await newTrace(`paged-${i}`);
  await page.goto(`${demo.url}/traces`);
  await expect(rows(page)).toHaveCount(50);
  const count = await page.evaluate(async () => ((await (await fetch("/api/traces?limit=200")).json()) as { traces: unknown[] }).traces.length);
  await page.getByRole("button", { name: "Load more" }).click();
  await expect(rows(page)).toHaveCount(count);
  await page.waitForTimeout(3_000); // past a live update (every 2 s)
  await expect(rows(page)).toHaveCount(count);
});

test("Load more clicked while a live update is under way: its rows stay", async ({ page }) => {
  for (let i = 0; i < 55; i++) await newTrace(`raced-${i}`);
  await page.goto(`${demo.url}/traces`);
  await expect(rows(page)).toHaveCount(50);
  // The live update's request (the first page) is slow; Load more's (with a cursor) is not.
  await page.route("**/api/traces?*", async (route) => {
    if (!route.request().url().includes("cursor=")) await new Promise((r) => setTimeout(r, 1_500));
    await route.continue().catch(() => undefined);
  });
  await page.waitForRequest((r) => r.url().includes("/api/traces?") && !r.url().includes("cursor="));
  await page.getByRole("button", { name: "Load more" }).click();
  await expect.poll(() => rows(page).count()).toBeGreaterThan(50);
  await page.waitForTimeout(3_000); // the slow update lands, and another would be due
  expect(await rows(page).count()).toBeGreaterThan(50);
});

test("a second Load more that fails: the rows the first brought stay through the live updates", async ({ page }) => {
  for (let i = 0; i < 105; i++) await newTrace(`failmore-${i}`);
  await page.goto(`${demo.url}/traces`);
  await expect(rows(page)).toHaveCount(50);
  await page.getByRole("button", { name: "Load more" }).click();
  await expect(rows(page)).toHaveCount(100);
  await page.route("**/api/traces?*", async (route) => {
    if (route.request().url().includes("cursor=")) await route.abort(); // the next page cannot be had
    else await route.continue();
  });
  await page.getByRole("button", { name: "Load more" }).click();
  await expect(page.locator("p.note")).toContainText("Could not load traces");
  await page.waitForTimeout(3_000); // past a live update
  expect(await rows(page).count()).toBeGreaterThanOrEqual(100);
});

test("Load more under way, then a filter whose load fails: live updates come back with the network", async ({ page }) => {
  for (let i = 0; i < 55; i++) await newTrace(`stall-${i}`);
  await page.goto(`${demo.url}/traces`);
  await expect(rows(page)).toHaveCount(50);
  let offline = false;
  await page.route("**/api/traces?*", async (route) => {
    if (route.request().url().includes("cursor=")) {
      await new Promise((r) => setTimeout(r, 1_500)); // Load more is slow
      return route.continue().catch(() => undefined);
    }
    return offline ? route.abort() : route.continue();
  });
  offline = true;
  await page.getByRole("button", { name: "Load more" }).click();
  await page.getByRole("searchbox", { name: "Search traces" }).fill("stall");
  await expect(page.locator("p.note")).toContainText("Could not load traces");
  offline = false;
  await page.waitForTimeout(2_000); // the slow Load more lands, stale
  await newTrace("stall-new");
  await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
  await expect(page.locator("a.trace-link", { hasText: "stall-new" })).toHaveCount(1, { timeout: 8_000 });
});

test("a view the user left does not paint over the one they went to", async ({ page }) => {
  const id = await newTrace("slow-to-load");
  await page.goto(`${demo.url}/traces`);
  await expect(rows(page).first()).toBeVisible();
  await page.route(`**/api/traces/${id}`, async (route) => {
    await new Promise((r) => setTimeout(r, 1_500));
    await route.continue();
  });
  await page.evaluate((traceId) => (location.hash = `#/${traceId}`), id);
  await expect(page.getByText("Loading trace…")).toBeVisible();
  await page.evaluate(() => (location.hash = "")); // back before it loaded
  await page.waitForTimeout(2_500);
  await expect(page.locator("h1")).toHaveText(["Traces"]);
  await expect(page.locator(".span-tree")).toHaveCount(0);
  await expect(rows(page).first()).toBeVisible();
});

test("the buffer's list does not wait for MLflow (the page's config asks it for the experiment)", async ({ page }) => {
  await newTrace("config-slow");
  await page.route("**/demo/config", async (route) => {
    await new Promise((r) => setTimeout(r, 8_000));
    await route.continue().catch(() => undefined);
  });
  await page.goto(`${demo.url}/traces`);
  await expect(rows(page).first()).toBeVisible({ timeout: 3_000 });
});

test("every span is listed, also those no root reaches (parents that loop across parts)", async ({ page }) => {
  const id = `tr-${hex(16)}`;
  const [root, b, c] = [hex(8), hex(8), hex(8)];
  await ingest(id, [{ spanId: root, name: "root" }, { spanId: b, parentId: c, name: "b-in-loop" }], "looped");
  await ingest(id, [{ spanId: c, parentId: b, name: "c-in-loop" }]);
  await page.goto(`${demo.url}/traces#/${id}`);
  await expect(page.locator(".span-tree .span-row")).toHaveCount(3);
  const names = await page.locator(".span-tree .span-row").evaluateAll((els) => els.map((el) => el.getAttribute("data-span-name")));
  expect(names.sort()).toEqual(["b-in-loop", "c-in-loop", "root"]);
});

test("a live update does not take the focus or a text selection away from the list", async ({ page }) => {
  await newTrace("focus-me");
  await page.goto(`${demo.url}/traces`);
  const link = page.locator("a.trace-link").first();
  await link.focus();
  const name = await link.textContent();
  await newTrace("arrives-meanwhile");
  await page.waitForTimeout(2_500); // past a live update
  expect(await page.evaluate(() => [document.activeElement?.className, document.activeElement?.textContent])).toEqual(["trace-link", name]);
  // Once the focus leaves the list, updates resume.
  await page.locator("h1").click();
  await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
  await expect(page.locator("a.trace-link", { hasText: "arrives-meanwhile" })).toBeVisible({ timeout: 5_000 });
});

test("right-to-left text in a span name stays inside its own element: the type label beside it is not reversed", async ({ page }) => {
  const id = `tr-${hex(16)}`;
  await ingest(id, [{ name: "\u202Egnp.exe", spanType: "LLM" }], "rtl");
  await page.goto(`${demo.url}/traces#/${id}`);
  const type = page.locator(".span-row .type").first();
  await expect(type).toHaveText("LLM");
  expect(await type.evaluate((el) => getComputedStyle(el).unicodeBidi)).toBe("isolate");
  expect(await page.locator(".span-row .span-name bdi").first().evaluate((el) => getComputedStyle(el).unicodeBidi)).toBe("isolate");
});

test("the pages carry a content security policy, and the demo runs within it", async ({ page }) => {
  for (const path of ["/", "/traces", "/build/traces.js"]) {
    const res = await fetch(`${demo.url}${path}`);
    expect([path, res.headers.get("content-security-policy")]).toEqual([path, expect.stringContaining("script-src 'self'")]);
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
  }
  expect((await fetch(`${demo.url}/_headers`)).status).toBe(404); // the rules file is not served
  const violations: string[] = [];
  const errors: string[] = []; // what a newcomer with the console open would see (a 404, a failing script)
  page.on("console", (m) => {
    if (/Content Security Policy/i.test(m.text())) violations.push(m.text());
    else if (m.type() === "error" || m.type() === "warning") errors.push(`${m.type()}: ${m.text()} ${m.location().url}`);
  });
  page.on("pageerror", (e) => errors.push(`pageerror: ${e.message}`));
  await page.goto(`${demo.url}/`);
  await page.fill("#question", "What's the weather in Paris?");
  await page.press("#question", "Enter");
  await expect(page.locator(".msg.assistant").last()).not.toHaveAttribute("aria-busy", "true", { timeout: 20_000 });
  await page.goto(`${demo.url}/traces`);
  await page.locator("a.trace-link").first().click();
  await expect(page.locator(".span-tree .span-row").first()).toBeVisible();
  // The waterfall's bars are placed (through the CSSOM, which the policy allows).
  expect(await page.locator(".span-row .bar").first().evaluate((el) => (el as HTMLElement).style.width)).toMatch(/%$/);
  expect(violations).toEqual([]);
  expect(errors).toEqual([]);
});

test("a trace whose spans nest tens of thousands deep (parts merged up to a raised TRACE_MAX_SPANS) is listed, not left at \"Loading trace…\"", async ({ page }) => {
  const id = `tr-${hex(16)}`;
  const depth = 20_000;
  const t0 = Date.now();
  const ids = Array.from({ length: depth }, (_, i) => i.toString(16).padStart(16, "0"));
  const spans = ids.map((spanId, i) => ({
    traceId: id, spanId, parentId: i === 0 ? null : ids[i - 1], name: `level-${i}`, spanType: "UNKNOWN",
    startTime: t0 + i, endTime: t0 + 2 * depth - i, status: { statusCode: "STATUS_CODE_OK", description: "" },
    inputs: null, outputs: null, attributes: {}, events: [],
  }));
  const summary = { traceId: id, name: "deep", state: "OK", requestPreview: null, responsePreview: null, requestTime: t0, executionDuration: 2 * depth, spanCount: depth, tags: {}, forwarding: "not-configured", attempts: 0, lastError: null, receivedAt: t0, updatedAt: t0 };
  const trace = { info: { traceId: id, requestTime: t0, state: "OK", executionDuration: 2 * depth, tags: {}, traceMetadata: {} }, data: { spans } };
  // What the buffer would return for such a trace: served here, since building it takes ten parts of 2000 spans.
  await page.route(`**/api/traces/${id}`, (route) => route.fulfill({ contentType: "application/json", body: JSON.stringify({ summary, trace }) }));
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(`${demo.url}/traces#/${id}`);
  await expect(page.locator(".span-detail h2")).toHaveText("level-0", { timeout: 20_000 });
  await expect(page.locator(".span-tree .span-row")).toHaveCount(depth);
  expect(await page.locator(".span-tree .span-row").last().getAttribute("aria-level")).toBe(String(depth));
  expect(errors).toEqual([]);
});
