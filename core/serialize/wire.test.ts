// The wire converters against the worked example of reference/mlflow-protocol.md §3.4 (a 2-span
// trace as MLflow's Python SDK sends and stores it).
import { describe, expect, it } from "vitest";
import type { SpanData, TraceInfo } from "../model/types.js";
import { base64ToHex, hexToBase64, spanToMlflowJson, traceDataToMlflowJson, wireAttributes } from "./mlflow-json.js";
import { toAnyValue, toOtlpExportRequest } from "./otlp.js";
import { pyPrefix } from "./py-json.js";
import { computeSizeStats, durationJson, parseStartTraceResponse, pythonAsciiJsonBytes, toStartTraceInfo, toTraceInfoV3 } from "./trace-info.js";

const TRACE = "tr-0af7651916cd43dd8448eb211c80319c";
const ROOT = "b7ad6b7169203331";
const CHILD = "00f067aa0ba902b7";
const usage = { input_tokens: 12, output_tokens: 8, total_tokens: 20 };
const messages = [{ role: "user", content: "What is MLflow?" }];

const root: SpanData = {
  traceId: TRACE, spanId: ROOT, parentId: null, name: "answer_question", spanType: "CHAIN",
  startTime: 1718000000123, endTime: 1718000001623,
  status: { statusCode: "STATUS_CODE_OK", description: "" },
  inputs: { question: "What is MLflow?" }, outputs: "MLflow is an open-source platform.",
  attributes: {
    "mlflow.traceRequestId": TRACE, "mlflow.spanType": "CHAIN", "mlflow.spanFunctionName": "answer_question",
    "mlflow.spanInputs": { question: "What is MLflow?" }, "mlflow.spanOutputs": "MLflow is an open-source platform.",
  },
  events: [],
};
const child: SpanData = {
  traceId: TRACE, spanId: CHILD, parentId: ROOT, name: "call_llm", spanType: "LLM",
  startTime: 1718000000200, endTime: 1718000001500.25,
  status: { statusCode: "STATUS_CODE_OK", description: "" },
  inputs: { messages, model: "gpt-4o-mini" }, outputs: undefined,
  attributes: {
    "mlflow.traceRequestId": TRACE, "mlflow.spanType": "LLM",
    "mlflow.spanInputs": { messages, model: "gpt-4o-mini" }, "mlflow.chat.tokenUsage": usage, "mlflow.message.format": "openai",
  },
  events: [{ name: "exception", timestamp: 1718000000900, attributes: { "exception.type": "TimeoutError", "exception.message": "retrying" } }],
};
const info: TraceInfo = {
  traceId: TRACE, clientRequestId: "req-42", traceLocation: { type: "MLFLOW_EXPERIMENT" },
  requestTime: 1718000000123, executionDuration: 1500, state: "OK",
  requestPreview: '{"question": "What is MLflow?"}', responsePreview: '"MLflow is an open-source platform."',
  traceMetadata: { "mlflow.trace_schema.version": "3", "mlflow.trace.session": "sess-1" },
  tags: { "mlflow.traceName": "answer_question", env: "dev" },
};

describe("MLflow span JSON (traces.json, Python Span.to_dict)", () => {
  it("writes base64 ids, exact integer nanoseconds and Python-encoded attribute strings", () => {
    const text = spanToMlflowJson(root);
    // Nanoseconds beyond 2^53 must be written exactly, as integers.
    expect(text).toContain('"start_time_unix_nano": 1718000000123000000, "end_time_unix_nano": 1718000001623000000');
    const parsed = JSON.parse(text) as Record<string, unknown>;
    expect(parsed).toMatchObject({
      trace_id: "CvdlGRbNQ92ESOshHIAxnA==", span_id: "t61rcWkgMzE=", parent_span_id: null, name: "answer_question",
      events: [], status: { code: "STATUS_CODE_OK", message: "" },
    });
    expect(parsed.attributes).toEqual({
      "mlflow.traceRequestId": `"${TRACE}"`,
      "mlflow.spanType": '"CHAIN"',
      "mlflow.spanFunctionName": '"answer_question"',
      "mlflow.spanInputs": '{"question": "What is MLflow?"}',
      "mlflow.spanOutputs": '"MLflow is an open-source platform."',
      "mlflow.spanLogLevel": "10",
    });
  });

  it("keeps event attributes raw, child parent ids in base64 and sub-millisecond times", () => {
    const text = spanToMlflowJson(child);
    expect(text).toContain('"parent_span_id": "t61rcWkgMzE="');
    expect(text).toContain('"end_time_unix_nano": 1718000001500250000');
    expect(text).toContain('{"name": "exception", "time_unix_nano": 1718000000900000000, "attributes": {"exception.type": "TimeoutError", "exception.message": "retrying"}}');
    const attrs = (JSON.parse(text) as { attributes: Record<string, string> }).attributes;
    expect(attrs["mlflow.chat.tokenUsage"]).toBe('{"input_tokens": 12, "output_tokens": 8, "total_tokens": 20}');
    expect(attrs["mlflow.message.format"]).toBe('"openai"');
    expect(attrs["mlflow.spanLogLevel"]).toBe("40"); // an exception event raises the level to ERROR, as Python does
    expect(traceDataToMlflowJson([root, child]).startsWith('{"spans": [{"trace_id": "CvdlGRbNQ92ESOshHIAxnA=="')).toBe(true);
  });

  it("round-trips ids through base64 and rejects non-hex ids", () => {
    expect(hexToBase64("00f067aa0ba902b7")).toBe("APBnqgupArc=");
    expect(base64ToHex("CvdlGRbNQ92ESOshHIAxnA==")).toBe("0af7651916cd43dd8448eb211c80319c");
    expect(() => hexToBase64("tr-0af7")).toThrow(/not a hex id/);
  });

  it("defaults mlflow.spanLogLevel by span type and keeps one the user set", () => {
    expect(wireAttributes({ ...root, spanType: "TOOL" })["mlflow.spanLogLevel"]).toBe(20);
    expect(wireAttributes({ ...root, attributes: { ...root.attributes, "mlflow.spanLogLevel": 30 } })["mlflow.spanLogLevel"]).toBe(30);
  });
});

describe("OTLP JSON for POST /v1/traces", () => {
  const body = toOtlpExportRequest([root, child]);
  const [r, c] = body.resourceSpans[0]!.scopeSpans[0]!.spans;
  const attr = (span: typeof r, key: string) => span!.attributes.find((a) => a.key === key)?.value;

  it("sends hex ids, decimal-string nanoseconds, INTERNAL kind, numeric status and no resource attributes", () => {
    expect(body.resourceSpans[0]!.resource.attributes).toEqual([]);
    expect(r).toMatchObject({ traceId: "0af7651916cd43dd8448eb211c80319c", spanId: ROOT, name: "answer_question", kind: 1, startTimeUnixNano: "1718000000123000000", endTimeUnixNano: "1718000001623000000", status: { code: 1 } });
    expect(r).not.toHaveProperty("parentSpanId");
    expect(c).toMatchObject({ parentSpanId: ROOT, endTimeUnixNano: "1718000001500250000" });
    expect(c!.events).toEqual([{ name: "exception", timeUnixNano: "1718000000900000000", attributes: [
      { key: "exception.type", value: { stringValue: "TimeoutError" } }, { key: "exception.message", value: { stringValue: "retrying" } },
    ] }]);
  });

  it("types attribute values: plain strings, kvlists, integer strings; never JSON-quoted strings", () => {
    expect(attr(r, "mlflow.traceRequestId")).toEqual({ stringValue: TRACE });
    expect(attr(r, "mlflow.spanType")).toEqual({ stringValue: "CHAIN" });
    expect(attr(r, "mlflow.spanInputs")).toEqual({ kvlistValue: { values: [{ key: "question", value: { stringValue: "What is MLflow?" } }] } });
    expect(attr(r, "mlflow.spanOutputs")).toEqual({ stringValue: "MLflow is an open-source platform." });
    expect(attr(c, "mlflow.chat.tokenUsage")).toEqual({ kvlistValue: { values: [
      { key: "input_tokens", value: { intValue: "12" } }, { key: "output_tokens", value: { intValue: "8" } }, { key: "total_tokens", value: { intValue: "20" } },
    ] } });
  });

  it("maps every JSON value kind, including null (unset), doubles, non-finite numbers and empty containers", () => {
    expect(toAnyValue(null)).toEqual({});
    expect(toAnyValue(true)).toEqual({ boolValue: true });
    expect(toAnyValue(1.5)).toEqual({ doubleValue: 1.5 });
    expect(toAnyValue(2 ** 60)).toEqual({ intValue: "1152921504606846976" });
    expect(toAnyValue(2 ** 70)).toEqual({ doubleValue: 2 ** 70 });
    expect(toAnyValue(Number.NaN)).toEqual({ doubleValue: "NaN" });
    expect(toAnyValue(-Infinity)).toEqual({ doubleValue: "-Infinity" });
    expect(toAnyValue([])).toEqual({ arrayValue: { values: [] } });
    expect(toAnyValue({})).toEqual({ kvlistValue: { values: [] } });
    expect(toAnyValue([1, "a", null])).toEqual({ arrayValue: { values: [{ intValue: "1" }, { stringValue: "a" }, {}] } });
  });
});

describe("TraceInfo V3 for StartTraceV3", () => {
  it("writes the §3.4 TraceInfo: location, RFC 3339 time, Duration, previews, tags and metadata", () => {
    expect(toTraceInfoV3(info, "1")).toEqual({
      trace_id: TRACE, client_request_id: "req-42",
      trace_location: { type: "MLFLOW_EXPERIMENT", mlflow_experiment: { experiment_id: "1" } },
      request_preview: '{"question": "What is MLflow?"}', response_preview: '"MLflow is an open-source platform."',
      request_time: "2024-06-10T06:13:20.123Z", execution_duration: "1.500s", state: "OK",
      // Python always sends these two, "" when the root has no inputs/outputs.
      trace_metadata: { "mlflow.traceInputs": "", "mlflow.traceOutputs": "", "mlflow.trace_schema.version": "3", "mlflow.trace.session": "sess-1" },
      tags: { "mlflow.traceName": "answer_question", env: "dev" },
    });
    // An empty preview is left out (the server then stores none), as Python does.
    expect(toTraceInfoV3({ ...info, responsePreview: "" }, "1")).not.toHaveProperty("response_preview");
    expect(durationJson(0)).toBe("0.000s");
    expect(durationJson(61_005)).toBe("61.005s");
  });

  it("adds size stats with the true span count and Python's percentiles", () => {
    const sent = toStartTraceInfo(info, "1", [root, child]);
    const stats = JSON.parse(sent.trace_metadata["mlflow.trace.sizeStats"]!) as Record<string, number>;
    const sizes = [root, child].map((s) => pythonAsciiJsonBytes(spanToMlflowJson(s))).sort((a, b) => a - b);
    expect(stats).toMatchObject({ num_spans: 2, max: sizes[1], p25: Math.trunc(sizes[0]! * 0.75 + sizes[1]! * 0.25), p50: Math.trunc((sizes[0]! + sizes[1]!) / 2) });
    expect(sent.trace_metadata["mlflow.trace.sizeBytes"]).toBe(String(stats.total_size_bytes));
    expect(sent.trace_metadata["mlflow.trace.sizeStats"]).toMatch(/^\{"total_size_bytes": \d+, "num_spans": 2, "max": /);
    expect(stats.total_size_bytes).toBeGreaterThan(sizes[0]! + sizes[1]!);
    expect(computeSizeStats(toTraceInfoV3(info, "1"), [])).toMatchObject({ num_spans: 0, max: 0 });
  });

  it("cuts tags to 4096 characters and metadata to 250, keys to 250, counting as Python counts", () => {
    const long = { ...info, tags: { "mlflow.traceName": "😀".repeat(5000), ["k".repeat(300)]: "v" }, traceMetadata: { "mlflow.trace.session": "é".repeat(300) } };
    const sent = toStartTraceInfo(long, "1", [root]);
    // 4096 code points of an astral character are 8192 UTF-16 units, and no pair is split.
    expect(sent.tags["mlflow.traceName"]).toBe("😀".repeat(4096));
    expect(sent.tags["k".repeat(250)]).toBe("v");
    expect(sent.trace_metadata["mlflow.trace.session"]).toBe("é".repeat(250));
    // Measured before the cut, as Python measures.
    expect(Number(sent.trace_metadata["mlflow.trace.sizeBytes"])).toBeGreaterThan(5000 * 12);
    expect(pyPrefix("a😀b", 2)).toBe("a😀");
    expect(pyPrefix("ab", 5)).toBe("ab");
  });

  it("cuts another client's previews to MLflow's 1000-character column", () => {
    const sent = toStartTraceInfo({ ...info, requestPreview: "😀".repeat(5000), responsePreview: "short" }, "1", [root]);
    expect(sent.request_preview).toBe(`${"😀".repeat(997)}...`);
    expect(sent.response_preview).toBe("short");
  });

  it("counts non-ASCII characters as Python's \\uXXXX escapes", () => {
    expect(pythonAsciiJsonBytes("aé")).toBe(7);
    expect(pythonAsciiJsonBytes("😀")).toBe(12);
  });

  it("reads the server's answer defensively", () => {
    expect(parseStartTraceResponse({ trace: { trace_info: { trace_id: TRACE, tags: { a: "b", n: 1 } } } })).toEqual({ traceId: TRACE, tags: { a: "b" }, metadata: {} });
    for (const bad of [null, "x", {}, { trace: [] }, { trace: { trace_info: { trace_id: 5 } } }]) expect(parseStartTraceResponse(bad)).toBeUndefined();
  });
});
