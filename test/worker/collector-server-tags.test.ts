// A page (ingest key, no secret) cannot tie its trace to a run, a model or a user on the MLflow
// server (README "The collector and the buffer"). MLflow's OTLP ingest turns a root span attribute
// `mlflow.traceTag.<key>` into the trace tag <key> without filtering the reserved names, so the
// collector drops those attributes as it drops the tags. Checked in the real MLflow behind the proxy.
import { env, exports } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import { toOtlpExportRequest } from "../../core/serialize/otlp.js";
import { shardOf } from "../../worker/buffer/shards.js";
import { forwardNow, fromMlflow, resetProxy } from "./fixture/buffer-helpers.js";
import { simpleTrace } from "./traces.js";

const BASE = "https://collector.example";
const PAGE = { "x-mlflow-edge-key": "pk-test-app", origin: "https://app.example" };
beforeEach(async () => {
  await resetProxy();
});

function pageTrace(attributes: Record<string, string>, tags: Record<string, string> = {}) {
  const t = simpleTrace(`smuggle ${Math.random()}`);
  Object.assign(t.data.spans.find((s) => s.parentId === null)!.attributes, attributes);
  Object.assign(t.info.tags, tags);
  return t;
}

async function forwardedTags(id: string): Promise<Record<string, string>> {
  const shard = env.TRACE_BUFFER.get(env.TRACE_BUFFER.idFromName(`shard-${shardOf(id, 4)}`));
  await forwardNow(shard);
  const stored = (await (await exports.default.fetch(`${BASE}/api/traces/${id}`)).json()) as { summary: { forwarding: string } };
  expect(stored.summary.forwarding).toBe("forwarded");
  return (await fromMlflow(id))!.info.tags;
}

describe("server-only tags a page sends do not reach MLflow", () => {
  it("as trace tags", async () => {
    const t = pageTrace({}, { "mlflow.sourceRun": "run-planted-by-page" });
    const res = await exports.default.fetch(`${BASE}/v1/ingest`, { method: "POST", headers: { "content-type": "application/json", ...PAGE }, body: JSON.stringify({ version: 1, traces: [t] }) });
    expect(res.status).toBe(200);
    expect((await forwardedTags(t.info.traceId))["mlflow.sourceRun"]).toBeUndefined();
  });

  it("as mlflow.traceTag.* attributes of the root span, POST /v1/ingest", async () => {
    const t = pageTrace({ "mlflow.traceTag.mlflow.sourceRun": "run-planted-by-page", "mlflow.traceTag.mlflow.modelId": "m-planted", "mlflow.traceTag.mlflow.user": "ceo", "mlflow.traceTag.team": "search" });
    const res = await exports.default.fetch(`${BASE}/v1/ingest`, { method: "POST", headers: { "content-type": "application/json", ...PAGE }, body: JSON.stringify({ version: 1, traces: [t] }) });
    expect(res.status).toBe(200);
    const tags = await forwardedTags(t.info.traceId);
    expect(tags["mlflow.sourceRun"]).toBeUndefined();
    expect(tags["mlflow.modelId"]).toBeUndefined();
    expect(tags["mlflow.user"]).toBeUndefined();
    expect(tags.team).toBe("search"); // the page's own tags stay
  });

  it("as mlflow.traceTag.* attributes, OTLP JSON to /v1/traces with an ingest key", async () => {
    const t = pageTrace({ "mlflow.traceTag.mlflow.sourceRun": "run-planted-by-page" });
    const res = await exports.default.fetch(`${BASE}/v1/traces`, { method: "POST", headers: { "content-type": "application/json", ...PAGE }, body: JSON.stringify(toOtlpExportRequest(t.data.spans)) });
    expect(res.status).toBe(200);
    expect((await forwardedTags(t.info.traceId))["mlflow.sourceRun"]).toBeUndefined();
  });
});
