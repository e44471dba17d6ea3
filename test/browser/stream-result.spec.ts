import { expect, test } from "@playwright/test";

// The test server writes "chunk0;" … "chunk3;" 50 ms apart (test/browser/server.mjs, /stream).
const whole = "chunk0;chunk1;chunk2;chunk3;";

test.describe("a traced function returning a fetch body (ReadableStream)", () => {
  for (const consumer of ["response", "pipeThrough"]) {
    test(`${consumer}: the page reads the whole body and the span's outputs are its text`, async ({ page }) => {
      await page.goto("/page/stream-result");
      await page.waitForFunction(() => "runStreamResult" in globalThis);
      const r = await page.evaluate((c) => (globalThis as any).runStreamResult(c), consumer);
      expect(r.text).toBe(whole);
      expect(r.traces).toBe(1);
      expect(r.outputs).toBe(whole);
      expect(r.status).toBe("STATUS_CODE_OK");
      expect(r.events).toBeGreaterThanOrEqual(1); // one event per read; the network decides the split
      expect(r.spanMs).toBeGreaterThan(r.returnedAfter); // ended by the last read, not by the return
    });
  }

  test("cancel: a reader stopped after the first read ends the span OK with what was read", async ({ page }) => {
    await page.goto("/page/stream-result");
    await page.waitForFunction(() => "runStreamResult" in globalThis);
    const r = await page.evaluate(() => (globalThis as any).runStreamResult("cancel"));
    expect(r.text.length).toBeGreaterThan(0);
    expect(whole.startsWith(r.text)).toBe(true);
    expect(r.outputs).toBe(r.text);
    expect(r.status).toBe("STATUS_CODE_OK");
    expect(r.events).toBe(1);
  });
});

test("a traced generator keeps Chromium's iterator helpers (map, toArray) and disposal (using, await using)", async ({ page }) => {
  await page.goto("/page/stream-result");
  await page.waitForFunction(() => "runGeneratorHelpers" in globalThis);
  const r = await page.evaluate(() => (globalThis as any).runGeneratorHelpers());
  expect(r.mapped).toEqual(["A", "B", "C"]);
  expect(r.isIterator).toBe(true);
  expect(r.spans).toEqual([
    ["tokens", ["a", "b", "c"], true],
    ["tokens", ["a"], true],
    ["stream", [1], true],
  ]);
});
