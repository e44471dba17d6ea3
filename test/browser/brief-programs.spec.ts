// The product brief's programs in Chromium produce the same traces as in Node, in every mode that
// claims correctness: Zone.js with async/await lowered (all programs), and the plain stack with
// native async/await (the programs that do not nest across an await).
import { expect, test } from "@playwright/test";
import { programs } from "../programs/brief.js";

const modes = [
  { mode: "zone.js, async lowered", url: "/page/brief-programs?build=lowered&zone=1", manager: "zone", all: true },
  { mode: "stack, native async", url: "/page/brief-programs?build=native&context=stack", manager: "stack", all: false },
];

for (const { mode, url, manager, all } of modes) {
  test.describe(mode, () => {
    for (const program of programs.filter((p) => all || !p.nestsAcrossAwait)) {
      test(program.name, async ({ page }) => {
        const errors: string[] = [];
        page.on("pageerror", (e) => errors.push(e.message));
        await page.goto(url);
        await page.waitForFunction(() => "runProgram" in globalThis);
        const result = await page.evaluate((name) => (globalThis as any).runProgram(name), program.name);
        expect(result.manager).toBe(manager);
        expect(result.shapes).toEqual(program.expected);
        expect(errors).toEqual([]);
      });
    }
  });
}
