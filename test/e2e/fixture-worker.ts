// A fixture Worker of test/fixtures/workerd-instrument run in workerd by wrangler's
// unstable_startWorker, on loopback, with plain-text bindings, no metrics, state or inspector.
import { unstable_startWorker } from "wrangler";

export type FixtureWorker = Awaited<ReturnType<typeof unstable_startWorker>>;

export async function startFixtureWorker(options: { name: string; entrypoint: string; bindings?: Record<string, string>; port?: number }): Promise<FixtureWorker> {
  process.env.WRANGLER_SEND_METRICS = "false";
  process.env.CLOUDFLARE_CF_FETCH_ENABLED = "false";
  const worker = await unstable_startWorker({
    config: "test/fixtures/workerd-instrument/wrangler.toml",
    name: options.name,
    entrypoint: `test/fixtures/workerd-instrument/${options.entrypoint}`,
    compatibilityDate: "2026-04-01",
    compatibilityFlags: ["nodejs_als"],
    bindings: Object.fromEntries(Object.entries(options.bindings ?? {}).map(([key, value]) => [key, { type: "plain_text" as const, value }])),
    dev: { server: { hostname: "127.0.0.1", port: options.port ?? 0 }, inspector: false, persist: false, watch: false, logLevel: "none" },
  });
  await worker.ready;
  return worker;
}
