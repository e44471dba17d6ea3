// instrument() in real workerd under each compatibility setup a Worker may have: with nodejs_als
// (AsyncLocalStorage passed in) spans nest implicitly; with no flag only explicit parents nest and
// the implicit child becomes its own trace with a warning, never silently under a wrong parent.
import { afterAll, describe, expect, it } from "vitest";
import { unstable_startWorker } from "wrangler";

const started: { dispose(): Promise<void> }[] = [];
afterAll(async () => {
  for (const w of started) await w.dispose();
});

async function run(entrypoint: string, flags: string[]) {
  process.env.WRANGLER_SEND_METRICS = "false";
  process.env.CLOUDFLARE_CF_FETCH_ENABLED = "false";
  const worker = await unstable_startWorker({
    config: "test/fixtures/workerd-instrument/wrangler.toml",
    name: "workerd-instrument",
    entrypoint: `test/fixtures/workerd-instrument/${entrypoint}`,
    compatibilityDate: "2026-04-01",
    compatibilityFlags: flags,
    dev: { server: { hostname: "127.0.0.1", port: 0 }, inspector: false, persist: false, watch: false, logLevel: "none" },
  });
  started.push(worker);
  await worker.ready;
  expect(await (await worker.fetch("http://worker/ask")).text()).toBe("ok");
  // The export runs in waitUntil after the response; poll briefly for it.
  for (let i = 0; i < 50; i++) {
    const body = (await (await worker.fetch("http://worker/traces")).json()) as { trees: (string | null)[][][]; warnings: string[] };
    if (body.trees.length > 0 && body.trees.some((t) => t[0]?.[0] === "GET /ask")) return body;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error("no trace exported");
}

describe("instrument() inside workerd", () => {
  it("with only nodejs_als and AsyncLocalStorage passed in, handler spans nest under the request span", async () => {
    const { trees, warnings } = await run("als.ts", ["nodejs_als"]);
    expect(trees.filter((t) => t[0]?.[0] === "GET /ask")).toEqual([[["GET /ask", null], ["lookup", "GET /ask"], ["explicit", "GET /ask"]]]);
    expect(warnings).toEqual([]);
  }, 60_000);

  it("with no flag, explicit parents nest, the implicit child is its own trace, and a warning names the fix", async () => {
    const { trees, warnings } = await run("plain.ts", []);
    const ask = trees.find((t) => t[0]?.[0] === "GET /ask");
    expect(ask).toEqual([["GET /ask", null], ["explicit", "GET /ask"]]);
    expect(trees).toContainEqual([["lookup", null]]);
    expect(warnings.some((w) => w.includes("nodejs_compat"))).toBe(true);
  }, 60_000);
});
