// zone.js imported after tracing was set up in "auto" mode (its import listed after the module
// that sets up): a span losing its parent across an await is said, and the warning says why.
import { chosen, exporter } from "./late-zone-setup.js";
import "zone.js";
import * as mlflow from "../../../core/index.js";

const warnings: string[] = [];
const warn = console.warn.bind(console);
console.warn = (...args: unknown[]) => {
  warnings.push(args.map(String).join(" "));
  warn(...args);
};
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const leaf = mlflow.trace(function leaf() { return 1; });

async function lateZone() {
  await mlflow.withSpan(async () => { await sleep(1); leaf(); }, { name: "root" });
  await mlflow.flushTraces();
  return { traces: exporter.traces.length, zone: "Zone" in globalThis, warnings };
}
Object.assign(globalThis, { lateZone, chosen });
