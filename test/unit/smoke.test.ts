import { test, expect } from "vitest";
import * as mlflow from "../../core/index.js";
test("smoke", async () => {
  const exp = new mlflow.InMemoryExporter();
  mlflow.init({ exporter: exp });
  const add = mlflow.trace(function add_1(x: number) { return x + 1; }, { spanType: "func", attributes: { key: "value" } });
  const outer = mlflow.trace(async function trace_test(x: number) { await new Promise(r => setTimeout(r, 1)); return add(x) - 1; }, { name: "Trace Test" });
  expect(await outer(4)).toBe(4);
  console.log(JSON.stringify(exp.traces, null, 1));
});
