// Which context patterns nest correctly in each browser mode (the README's matrix is this table).
// "nests": the tree is exactly right. "splits": spans after a lost context become separate traces
// and a warning names the fix; "splits silently": the same, without the warning (the README says
// so); never a wrong parent. Every cell is asserted.
import { expect, test } from "@playwright/test";

type Edge = [string, string | null];

// The correct tree of each scenario (parents by label), as a sorted list of edges.
const CORRECT: Record<string, Edge[]> = {
  "await-chain": [["chain", null], ["step:1", "chain"], ["step:2", "chain"], ["step:3", "chain"]],
  "promise-all": [["fanout", null], ["branch:a", "fanout"], ["branch:b", "fanout"], ["leaf:a", "branch:a"], ["leaf:b", "branch:b"]],
  "set-timeout": [["timer", null], ["leaf:tick", "timer"]],
  "event-listener": [["listen", null], ["leaf:clicked", "listen"]],
  "event-listener-after-await": [["listen", null], ["leaf:clicked", "listen"]],
  fetch: [["load", null], ["step:parsed", "load"]],
  "stream-read": [["read", null], ["leaf:chunk", "read"]],
  "stream-transform": [["sse", null], ["leaf:parse", "sse"]],
  "stream-pull": [["relay", null], ["leaf:parse", "relay"]],
  "array-from-async": [["collect", null], ["leaf:x", "collect"]],
  "concurrent-actions": [["action:a", null], ["action:b", null], ["step:a", "action:a"], ["step:b", "action:b"], ["leaf:a", "action:a"], ["leaf:b", "action:b"]],
};

const MODES = {
  // no zone.js, native async/await, the synchronous stack
  "stack, implicit": { page: "/page/context-matrix?build=native&context=stack", style: "implicit" },
  // zone.js loaded but async/await left native
  "zone native, implicit": { page: "/page/context-matrix?build=native&zone=1", style: "implicit" },
  // zone.js with async/await lowered (mlflow-edge/browser/build)
  "zone lowered, implicit": { page: "/page/context-matrix?build=lowered&zone=1", style: "implicit" },
  // no zone.js, no build step: the span passed explicitly (parent option / span.run)
  "explicit, native": { page: "/page/context-matrix?build=native&context=stack", style: "explicit" },
} as const;

type Outcome = "nests" | "splits" | "splits silently";
const MATRIX: Record<keyof typeof MODES, Record<string, Outcome>> = {
  "stack, implicit": {
    "await-chain": "splits", "promise-all": "splits", "set-timeout": "splits", "event-listener": "splits", "event-listener-after-await": "splits",
    fetch: "splits", "stream-read": "splits", "stream-transform": "splits", "stream-pull": "splits", "array-from-async": "splits", "concurrent-actions": "splits",
  },
  // Zone.js patches addEventListener: a listener registered before the first await keeps its zone;
  // after it, the zone is already lost.
  "zone native, implicit": {
    "await-chain": "splits", "promise-all": "splits", "set-timeout": "splits", "event-listener": "nests", "event-listener-after-await": "splits",
    fetch: "splits", "stream-read": "splits", "stream-transform": "splits", "stream-pull": "splits", "array-from-async": "splits", "concurrent-actions": "splits",
  },
  // Callbacks the browser makes from its own machinery run outside any zone task: split, and said;
  // an async `pull` the stream calls is seen only until its first await, so its spans split unsaid.
  "zone lowered, implicit": {
    "await-chain": "nests", "promise-all": "nests", "set-timeout": "nests", "event-listener": "nests", "event-listener-after-await": "nests",
    fetch: "nests", "stream-read": "nests", "stream-transform": "splits", "stream-pull": "splits silently", "array-from-async": "splits", "concurrent-actions": "nests",
  },
  "explicit, native": {
    "await-chain": "nests", "promise-all": "nests", "set-timeout": "nests", "event-listener": "nests", "event-listener-after-await": "nests",
    fetch: "nests", "stream-read": "nests", "stream-transform": "nests", "stream-pull": "nests", "array-from-async": "nests", "concurrent-actions": "nests",
  },
};

// Unique edges, sorted (a stream may be read in any number of chunks).
const sortEdges = (edges: Edge[]) =>
  [...new Map(edges.map((e) => [`${e[0]}<${e[1]}`, e] as const)).values()].sort((a, b) => `${a[0]}<${a[1]}`.localeCompare(`${b[0]}<${b[1]}`));

for (const [mode, { page: url, style }] of Object.entries(MODES) as [keyof typeof MODES, (typeof MODES)[keyof typeof MODES]][]) {
  test.describe(mode, () => {
    for (const scenario of Object.keys(CORRECT)) {
      test(`${scenario}: ${MATRIX[mode][scenario]}`, async ({ page }) => {
        await page.goto(url);
        await page.waitForFunction(() => "runScenario" in globalThis);
        const result = await page.evaluate(([name, s]) => (globalThis as any).runScenario(name, s), [scenario, style] as const);
        const edges = sortEdges(result.trees.flat() as Edge[]);
        const labels = (es: Edge[]) => [...new Set(es.map(([c]) => c))].sort();
        const correct = sortEdges(CORRECT[scenario]!);
        // Never a wrong parent: every edge that exists is a correct edge, or a root.
        for (const [child, parent] of edges) {
          if (parent !== null) expect(correct, `${child} under ${parent}`).toContainEqual([child, parent]);
        }
        const lostWarnings = result.warnings.filter((w: string) => w.includes("lost across an await"));
        // Under zone.js each traced function the engine runs as native async/await is named.
        const nativeNamed = result.warnings.filter((w: string) => w.includes("runs as native async/await"));
        if (mode === "zone lowered, implicit") expect(nativeNamed).toEqual([]);
        if (mode === "zone native, implicit" && scenario === "await-chain") expect(nativeNamed.join("\n")).toContain('"chain" runs as native async/await');
        if (MATRIX[mode][scenario] === "nests") {
          expect(edges).toEqual(correct);
          expect(lostWarnings).toEqual([]);
        } else {
          expect(edges).not.toEqual(correct);
          expect(labels(edges)).toEqual(labels(correct)); // nothing lost
          expect(lostWarnings).toHaveLength(MATRIX[mode][scenario] === "splits" ? 1 : 0);
        }
      });
    }
  });
}

for (const [mode, url] of [["stack", MODES["stack, implicit"].page], ["zone lowered", MODES["zone lowered, implicit"].page]] as const) {
  test(`${mode}: flows started together, at once after init, are separate traces without a lost-context warning`, async ({ page }) => {
    await page.goto(url);
    await page.waitForFunction(() => "startTogether" in globalThis);
    const result = await page.evaluate(() => (globalThis as any).startTogether());
    expect(result.traces).toBe(2);
    expect(result.warnings.filter((w: string) => w.includes("lost across an await"))).toEqual([]);
  });
}

for (const [which, lost, traces] of [
  ["reentered-transform", 1, [["leaf"], ["leaf"], ["sse"]]],
  ["observer", 1, [["background"], ["fresh"]]],
  ["observer-placed", 0, [["background"], ["fresh"]]],
  ["ngzone-run-inside-span", 1, [["saveDraft"], ["send-message", "leaf"]]],
  ["run-outside-angular", 1, [["leaf"], ["send-message"]]],
  ["timer-new-flow", 0, [["long"], ["tick"]]],
  ["exported-listener-reenters", 0, [["first"], ["fresh"], ["other"]]],
] as const) {
  test(`zone lowered: ${which}: ${lost ? "the lost-context warning" : "no warning"}`, async ({ page }) => {
    await page.goto(MODES["zone lowered, implicit"].page);
    await page.waitForFunction(() => "zoneReentry" in globalThis);
    const result = await page.evaluate((w) => (globalThis as any).zoneReentry(w), which);
    // The stream's two chunks may reach the transform as one on a busy machine: one leaf trace or two.
    const sorted = (list: readonly (readonly string[])[]) => list.map((t) => JSON.stringify(t)).sort();
    const got = sorted(result.traces);
    if (which === "reentered-transform" && got.length === 2) expect(got).toEqual(sorted([["leaf"], ["sse"]]));
    else expect(got).toEqual(sorted(traces));
    expect(result.warnings.filter((w: string) => w.includes("lost across an await"))).toHaveLength(lost);
  });
}

test('auto mode, zone.js imported after set-up: the lost-context warning says zone.js came too late and what to do', async ({ page }) => {
  await page.goto("/page/late-zone?build=lowered");
  await page.waitForFunction(() => "lateZone" in globalThis);
  const result = await page.evaluate(() => (globalThis as any).lateZone());
  expect(result.zone).toBe(true);
  expect(result.traces).toBe(2); // the stack was chosen before zone.js came: split
  const lost = result.warnings.filter((w: string) => w.includes("lost across an await"));
  expect(lost).toHaveLength(1);
  // Before: "the context (stack) was lost", with zone.js on the page.
  expect(lost[0]).toContain('zone.js was loaded after initBrowser() chose it; import "zone.js" before the module that calls initBrowser()');
});

