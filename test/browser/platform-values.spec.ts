import { expect, test } from "@playwright/test";

test("a traced click handler records the event as its type and a label of its target, not the element's keys", async ({ page }) => {
  await page.goto("/page/platform-values");
  await page.waitForFunction(() => "runPlatformValues" in globalThis);
  const traces = await page.evaluate(() => (globalThis as any).runPlatformValues());
  expect(traces).toEqual([
    { inputs: { event: { type: "click", target: "[button#send]" } }, outputs: { at: "[button#send]" } },
    { inputs: { event: { type: "resize", target: "[Window]" } }, outputs: "[Window]" },
  ]);
});
