// The same TraceQueue behaviour suite MemoryQueue passes in Node, run against the IndexedDB queue
// in Chromium: ordering, leases, ack/nack, expiry, idempotency, and the caps (oldest dropped,
// counted, warned).
import { expect, test } from "@playwright/test";
import { QUEUE_CONTRACT } from "../../../core/export/queue-contract.js";

for (const { name } of QUEUE_CONTRACT) {
  test(`IndexedDB queue: ${name}`, async ({ page }) => {
    await page.goto("/page/queue-contract");
    await page.waitForFunction(() => "contract" in globalThis);
    const outcome = await page.evaluate((n) => (globalThis as unknown as { contract: { run(n: string): Promise<string> } }).contract.run(n), name);
    expect(outcome).toBe("ok");
  });
}
