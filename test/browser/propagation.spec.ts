import { expect, test } from "@playwright/test";

test.describe("traceparent on fetch", () => {
  test("is added for the active span on allowlisted origins, keeping the request's own headers", async ({ page, baseURL }) => {
    await page.goto("/page/propagation");
    await page.waitForFunction(() => "runPropagation" in globalThis);
    const r = await page.evaluate((origin) => (globalThis as any).runPropagation([origin]), baseURL!);
    expect(r.inside).toBe(r.expected);
    expect(r.inside).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    expect(r.app).toBe("kept");
    expect(r.outside).toBeNull(); // no active span: no header
  });

  test("is not sent to origins outside the allowlist", async ({ page }) => {
    await page.goto("/page/propagation");
    await page.waitForFunction(() => "runPropagation" in globalThis);
    const r = await page.evaluate(() => (globalThis as any).runPropagation(["https://api.example.com"]));
    expect(r.inside).toBeNull();
    expect(r.app).toBe("kept");
  });

  test("a RegExp in the allowlist matches every request, /g flag or not (a global RegExp's test() resumes from its last match)", async ({ page }) => {
    await page.goto("/page/propagation");
    await page.waitForFunction(() => "runRegexPropagation" in globalThis);
    for (const flags of ["", "g", "gy"]) {
      const sent = await page.evaluate((f) => (globalThis as any).runRegexPropagation("^http://127\\.0\\.0\\.1:\\d+/echo-headers$", f, 4), flags);
      expect(sent).toEqual([true, true, true, true]);
    }
  });
});
