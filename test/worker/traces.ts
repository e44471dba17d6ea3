// Real core traces for the workerd tests, made with the tracing API itself (not hand-typed JSON).
import * as mlflow from "../../core/index.js";
import type { SpanData, Trace } from "../../core/model/types.js";
import { wireAttributes } from "../../core/serialize/mlflow-json.js";
import { getTracer } from "../../core/tracer.js";

function record(fn: () => void): Trace[] {
  const exporter = new mlflow.InMemoryExporter();
  mlflow.init({ exporter, silent: true });
  fn();
  return exporter.drain();
}

/** A small finished trace; `tags` end up on the trace, `fail` makes its root fail. */
export function simpleTrace(question: string, options: { tags?: Record<string, string>; fail?: boolean } = {}): Trace {
  const [t] = record(() => {
    try {
      mlflow.withSpan(
        (span) => {
          mlflow.updateCurrentTrace({ tags: options.tags ?? {} });
          mlflow.withSpan(() => ["doc"], { name: "retrieve", spanType: mlflow.SpanType.RETRIEVER, inputs: { q: question } });
          if (options.fail) throw new Error(`cannot answer ${question}`);
          span.setOutputs({ answer: `about ${question}` });
        },
        { name: "answer", spanType: mlflow.SpanType.CHAIN, inputs: { question } },
      );
    } catch {
      // the failure is what the trace records
    }
  });
  return t!;
}

/**
 * One trace in two parts, as a browser and a Worker produce it: the browser's root `chat` with a
 * `fetch` child, and the Worker's `POST /api/answer` (parent: the browser's `fetch` span) with a
 * child `llm`. Same trace id.
 */
export function joinedTrace(): { browser: Trace; worker: Trace } {
  let worker: Trace | undefined;
  const [browser] = record(() => {
    mlflow.withSpan(
      (chat) => {
        mlflow.updateCurrentTrace({ tags: { side: "browser" } });
        const fetchSpan = mlflow.startSpan({ name: "fetch", spanType: mlflow.SpanType.UNKNOWN, parent: chat });
        const remote = mlflow.parseTraceparent(`00-${chat.traceId.slice(3)}-${fetchSpan.spanId}-01`)!;
        // The Worker side, recorded by its own tracer (a separate realm in reality).
        const inner = new mlflow.InMemoryExporter();
        mlflow.init({ exporter: inner, silent: true });
        mlflow.withSpan(
          () => {
            mlflow.withSpan(() => "42", { name: "llm", spanType: mlflow.SpanType.CHAT_MODEL, inputs: { prompt: "6*7?" } });
            return { status: 200 };
          },
          { name: "POST /api/answer", parent: remote, inputs: { method: "POST" } },
        );
        worker = inner.drain()[0];
        fetchSpan.end({ outputs: { status: 200 } });
        chat.setOutputs("42");
      },
      { name: "chat", spanType: mlflow.SpanType.AGENT, inputs: { message: "What is 6 times 7?" } },
    );
  });
  return { browser: browser!, worker: worker! };
}

/**
 * A trace and the snapshot a hidden page stored of it while it was still open
 * (snapshotOpenTraces): the snapshot's open spans ended early, with a `cancelled` event.
 */
export async function finishedAndSnapshot(): Promise<{ finished: Trace; snapshot: Trace }> {
  const exporter = new mlflow.InMemoryExporter();
  mlflow.init({ exporter, silent: true });
  let snapshot: Trace | undefined;
  await mlflow.withSpan(
    async (span) => {
      mlflow.withSpan(() => ["doc"], { name: "retrieve", inputs: { q: "tides" } });
      await new Promise((r) => setTimeout(r, 5));
      [snapshot] = getTracer().snapshotOpenTraces("page discarded while hidden");
      await new Promise((r) => setTimeout(r, 5));
      span.setOutputs("the moon");
    },
    { name: "answer", inputs: { question: "tides?" } },
  );
  return { finished: exporter.drain()[0]!, snapshot: snapshot! };
}

/** Core spans as OpenTelemetry's SDK hands them to an exporter (ReadableSpan), MLflow attributes and all: what its protobuf serializer takes. */
export function readableSpansOf(spans: SpanData[]) {
  const hr = (ms: number): [number, number] => [Math.floor(ms / 1000), Math.round((ms % 1000) * 1e6)];
  const resource = { attributes: { "service.name": "proto-test" }, merge: () => resource };
  const scope = { name: "proto-test" };
  return spans.map((s) => {
    const traceId = s.traceId.slice(3);
    return {
      name: s.name,
      kind: 0,
      spanContext: () => ({ traceId, spanId: s.spanId, traceFlags: 1 }),
      parentSpanContext: s.parentId ? { traceId, spanId: s.parentId, traceFlags: 1 } : undefined,
      startTime: hr(s.startTime),
      endTime: hr(s.endTime!),
      duration: [0, 0],
      ended: true,
      status: { code: ({ STATUS_CODE_UNSET: 0, STATUS_CODE_OK: 1, STATUS_CODE_ERROR: 2 } as Record<string, number>)[s.status.statusCode]!, message: s.status.description },
      attributes: wireAttributes(s),
      links: [],
      events: s.events.map((e) => ({ name: e.name, time: hr(e.timestamp), attributes: e.attributes })),
      resource,
      instrumentationScope: scope,
      droppedAttributesCount: 0,
      droppedEventsCount: 0,
      droppedLinksCount: 0,
    };
  });
}
