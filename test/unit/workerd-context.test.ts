// Core in real workerd (through wrangler): AsyncLocalStorage is found on its own with nodejs_compat;
// with only nodejs_als (no process.getBuiltinModule) core falls back to the stack and warns
// instead of nesting wrong.
import { afterAll, describe, expect, it } from "vitest";
import { unstable_startWorker } from "wrangler";

const started: { dispose(): Promise<void> }[] = [];
afterAll(async () => {
  for (const w of started) await w.dispose();
});

async function run(flags: string[]) {
  process.env.WRANGLER_SEND_METRICS = "false";
  process.env.CLOUDFLARE_CF_FETCH_ENABLED = "false";
  const worker = await unstable_startWorker({
    config: "test/fixtures/workerd-context/wrangler.toml",
    name: "workerd-context",
    entrypoint: "test/fixtures/workerd-context/worker.ts",
    compatibilityDate: "2026-04-01",
    compatibilityFlags: flags,
    dev: { server: { hostname: "127.0.0.1", port: 0 }, inspector: false, persist: false, watch: false, logLevel: "none" },
  });
  started.push(worker);
  await worker.ready;
  const res = await worker.fetch("http://worker/");
  return (await res.json()) as { trees: (string | null)[][][]; warnings: string[] };
}

describe("core inside workerd", () => {
  it("nests across await, timers and Promise.all with nodejs_compat", async () => {
    const { trees, warnings } = await run(["nodejs_compat"]);
    expect(trees).toEqual([[["root", null], ["child_1", "root"], ["child_2", "root"]]]);
    expect(warnings).toEqual([]);
  }, 60_000);

  it("without an async context it never nests silently wrong: separate traces and a warning naming the fix", async () => {
    const { trees, warnings } = await run(["nodejs_als"]);
    expect(trees).toEqual([[["child", null]], [["child", null]], [["root", null]]]);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain("nodejs_compat");
  }, 60_000);
});
