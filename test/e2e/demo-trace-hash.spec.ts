// The Traces view's address is `/traces#/<trace id>`, which a user can type or paste: a malformed
// escape in it is reported as such, as text, instead of throwing and leaving the previous trace
// on screen as if it were the one asked for.
import { expect, test } from "@playwright/test";
import { startWranglerDev, type WranglerDev } from "./wrangler-dev.js";

let demo: WranglerDev;
test.beforeAll(async () => {
  demo = await startWranglerDev();
});
test.afterAll(async () => demo?.stop());

test("a malformed trace id in the address: a clear message, not the previous trace", async ({ page }) => {
  const errors: string[] = [];
  page.on("pageerror", (error) => errors.push(error.message));
  await page.goto(`${demo.url}/`);
  await page.fill("#question", "What is mlflow-edge?");
  await page.press("#question", "Enter");
  await expect(page.locator(".msg.assistant").last()).not.toHaveAttribute("aria-busy", "true", { timeout: 20_000 });

  await page.goto(`${demo.url}/traces`);
  await page.locator("table.traces tbody tr a.trace-link").first().click({ timeout: 20_000 });
  await expect(page.locator(".span-tree .span-row").first()).toBeVisible();

  const hash = "#/%E0%A4%A";
  await page.evaluate((h) => (location.hash = h), hash);
  await expect(page.getByRole("alert")).toHaveText(`"${hash.slice(2)}" is not a valid trace id.`);
  await expect(page.locator(".span-tree")).toHaveCount(0);
  expect(errors).toEqual([]);

  // And the view still works: back to the list.
  await page.getByRole("link", { name: "← All traces" }).click();
  await expect(page.locator("table.traces tbody tr").first()).toBeVisible();
});
