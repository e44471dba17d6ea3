import { describe, expect, it } from "vitest";
import * as mlflow from "../index.js";
import { setup } from "../../test/unit/helpers.js";
import { getTracer } from "../tracer.js";

describe("joining a trace from a W3C traceparent", () => {
  it("parses valid headers and rejects malformed or hostile ones", () => {
    expect(mlflow.parseTraceparent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")).toEqual({
      traceId: "tr-0af7651916cd43dd8448eb211c80319c", spanId: "b7ad6b7169203331", sampled: true, remote: true,
    });
    expect(mlflow.parseTraceparent(" 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00 ")).toMatchObject({ spanId: "b7ad6b7169203331", sampled: false });
    // The sampled flag is the flags' lowest bit; the others are for later versions.
    expect([ "03", "02"].map((f) => mlflow.parseTraceparent(`00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-${f}`)?.sampled)).toEqual([true, false]);
    expect(mlflow.parseTraceparent("01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-future")?.traceId).toBe("tr-0af7651916cd43dd8448eb211c80319c");
    for (const bad of [
      undefined, null, "", "garbage", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331", // too few parts
      "00-00000000000000000000000000000000-b7ad6b7169203331-01", // all-zero trace id
      "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01", // all-zero span id
      "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", // forbidden version
      "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra", // version 00 has no extra fields
      "00-0af7651916cd43dd8448eb211c8031zz-b7ad6b7169203331-01", "0".repeat(10_000),
      "00-0AF7651916CD43DD8448EB211C80319C-B7AD6B7169203331-01", // upper-case hex: W3C says to ignore it, as OpenTelemetry does
    ]) expect(mlflow.parseTraceparent(bad as string)).toBeUndefined();
  });

  it("continues the remote trace: same trace id, the local root points at the remote span", async () => {
    const t = setup();
    const remote = mlflow.parseTraceparent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")!;
    await mlflow.withSpan(async () => {
      mlflow.withSpan(() => 1, { name: "inner" });
    }, { name: "worker-request", parent: remote });
    const trace = await t.only();
    expect(trace.info.traceId).toBe("tr-0af7651916cd43dd8448eb211c80319c");
    const [root, inner] = trace.data.spans;
    expect(root).toMatchObject({ name: "worker-request", parentId: "b7ad6b7169203331", traceId: trace.info.traceId });
    expect(inner).toMatchObject({ name: "inner", parentId: root!.spanId });
    expect(trace.info.tags["mlflow.traceName"]).toBe("worker-request");
  });

  it("under a caller that does not record its trace (flags -00) nothing is exported, and the -00 is passed on; a recorded one is", async () => {
    const t = setup();
    const sent: Record<string, string> = {};
    for (const flags of ["00", "01"]) {
      const headers = { traceparent: `00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-${flags}` };
      mlflow.withTracingContextFromHeaders(headers, () => {
        const before = mlflow.getTracingContextHeadersForHttpRequest().traceparent!;
        mlflow.withSpan(() => {
          sent[flags] = `${before} ${mlflow.getTracingContextHeadersForHttpRequest().traceparent!}`;
        }, { name: `handler-${flags}` });
      });
    }
    expect(sent["00"]).toMatch(/^00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00 00-0af7651916cd43dd8448eb211c80319c-[0-9a-f]{16}-00$/);
    expect(sent["01"]).toMatch(/-01 00-0af7651916cd43dd8448eb211c80319c-[0-9a-f]{16}-01$/);
    expect((await t.traces()).map((trace) => trace.data.spans[0]!.name)).toEqual(["handler-01"]);
  });

  it("a trace under a -00 caller has no id to look up and no snapshot (a hidden page stores its open traces)", async () => {
    const t = setup();
    const parent = mlflow.parseTraceparent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00")!;
    mlflow.withSpan(() => 1, { name: "kept" });
    const kept = mlflow.getLastActiveTraceId();
    mlflow.withSpan(() => 1, { name: "not recorded", parent });
    expect(mlflow.getLastActiveTraceId()).toBe(kept);
    const open = mlflow.startSpan({ name: "open, not recorded", parent });
    expect(getTracer().snapshotOpenTraces("page hidden")).toEqual([]);
    open.end();
    expect((await t.traces()).map((trace) => trace.data.spans[0]!.name)).toEqual(["kept"]);
  });
});
