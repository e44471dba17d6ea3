// The same TraceQueue behaviour suite MemoryQueue passes in Node, run against the IndexedDB queue
// in Chromium: ordering, leases, ack/nack, expiry, idempotency, and the caps (oldest dropped,
// counted, warned).
import { expect, test } from "@playwright/test";
import { QUEUE_CONTRACT } from "../../../core/export/queue-contract.js";

// The cases below are generated from the list Node imports; the page bundles its own copy. If the
// two ever differ (or the list is empty), the per-case tests would prove less than they claim.
test("the page runs the same contract cases as vitest does", async ({ page }) => {
  await page.goto("/page/queue-contract");
  await page.waitForFunction(() => "contract" in globalThis);
  const names = await page.evaluate(() => (globalThis as unknown as { contract: { names: string[] } }).contract.names);
  expect(names.length).toBeGreaterThanOrEqual(10);
  expect(names).toEqual(QUEUE_CONTRACT.map((c) => c.name));
});

for (const { name } of QUEUE_CONTRACT) {
  test(`IndexedDB queue: ${name}`, async ({ page }) => {
    await page.goto("/page/queue-contract");
    await page.waitForFunction(() => "contract" in globalThis);
    const outcome = await page.evaluate((n) => (globalThis as unknown as { contract: { run(n: string): Promise<string> } }).contract.run(n), name);
    expect(outcome).toBe("ok");
  });
}

test("IndexedDB queue: a tab's snapshots of open traces wait while it lives, give way to the finished trace, and go once it is gone", async ({ page }) => {
  await page.goto("/page/queue-contract");
  await page.waitForFunction(() => "contract" in globalThis);
  const steps = await page.evaluate(() => (globalThis as unknown as { contract: { snapshots(): Promise<unknown[]> } }).contract.snapshots());
  expect(steps).toEqual([
    ["tab-a alive", [], 3],
    ["tr-1 finished", ["tr-1=finished"]],
    ["tab-a gone", ["tr-3=snap, later", "tr-1=finished"], 2],
    ["tr-4 finished while its snapshot was being sent", ["tr-4=finished"]],
  ]);
});
