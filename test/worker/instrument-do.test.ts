// instrumentDurableObject() inside workerd: the fixture's TracedCounter and TracedAgent
// (test/worker/fixture/worker.ts) export to this file's in-memory exporter through do-sink.ts.
import { createExecutionContext, runDurableObjectAlarm, runInDurableObject, waitOnExecutionContext } from "cloudflare:test";
import { DurableObject, env } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import { getTracingContextHeadersForHttpRequest, trace } from "../../core/index.js";
import type { Trace } from "../../core/model/types.js";
import { instrumentDurableObject } from "../../worker/durable-object.js";
import { instrument, resetWorkerTracing } from "../../worker/instrument.js";
import { sink, toSink } from "./fixture/do-sink.js";
import { exported, sleep } from "./worker-tracing.js";

const tree = (t: Trace) => t.data.spans.map((s) => [s.name, t.data.spans.find((p) => p.spanId === s.parentId)?.name ?? s.parentId]);
const root = (t: Trace) => t.data.spans.find((s) => !t.data.spans.some((p) => p.spanId === s.parentId))!;

beforeEach(() => {
  sink.exporter = exported;
});

/** The traces exported so far, once `count` of them are (a DO exports after its call returned). */
async function traces(count: number): Promise<Trace[]> {
  for (let i = 0; i < 200 && exported.traces.length < count; i++) await sleep(10);
  await sleep(20); // and nothing more arrives
  return exported.traces;
}

/**
 * Sets an alarm through the stub's setAlarmIn (a traced call: its trace is set aside), runs it as
 * the runtime would and returns the one trace the alarm made.
 */
async function alarmTrace(stub: { setAlarmIn(ms: number): Promise<void> } & Parameters<typeof runDurableObjectAlarm>[0]): Promise<Trace> {
  await stub.setAlarmIn(60_000);
  await traces(1);
  exported.drain(); // the setAlarmIn call's own span
  expect(await runDurableObjectAlarm(stub)).toBe(true);
  const [t, ...more] = await traces(1);
  expect(more).toHaveLength(0);
  return t!;
}

let n = 0;
const counter = () => env.TRACED_COUNTER.get(env.TRACED_COUNTER.idFromName(`counter-${Date.now()}-${n++}`));
const agent = () => env.TRACED_AGENT.get(env.TRACED_AGENT.idFromName(`agent-${Date.now()}-${n++}`));

describe("instrumentDurableObject(): fetch", () => {
  it("a Durable Object that is the first code to run in the isolate exports its spans: the request span with status, a withSpan and an internal method call nested", async () => {
    resetWorkerTracing(); // no instrumented handler has run: only the class's constructor sets tracing up
    const response = await counter().fetch("https://do.example/summarize", { method: "POST", body: "hello world" });
    expect(await response.json()).toEqual({ summary: "hello", count: 1 });
    const [t, ...more] = await traces(1);
    expect(more).toHaveLength(0);
    expect(tree(t!)).toEqual([
      ["TracedCounter POST /summarize", null],
      ["handle", "TracedCounter POST /summarize"],
      ["summarize", "handle"],
      ["TracedCounter.increment", "TracedCounter POST /summarize"],
    ]);
    const r = root(t!);
    expect(r.attributes).toMatchObject({ "http.request.method": "POST", "url.path": "/summarize", "http.response.status_code": 200 });
    expect(r.outputs).toEqual({ status: 200 });
    expect(r.status.statusCode).toBe("STATUS_CODE_OK");
    expect(t!.data.spans.find((s) => s.name === "TracedCounter.increment")).toMatchObject({ inputs: { by: 1 }, outputs: 1 });
  });

  it("ignoreRequest leaves a request to the Durable Object out, with the spans under it", async () => {
    const stub = counter();
    expect(await (await stub.fetch("https://do.example/health")).text()).toBe("healt");
    await (await stub.fetch("https://do.example/summarize", { method: "POST", body: "after" })).json();
    const [t, ...more] = await traces(1);
    expect(more).toHaveLength(0);
    expect(root(t!).name).toBe("TracedCounter POST /summarize");
  });

  it("a 5xx from the Durable Object marks its span ERROR", async () => {
    const response = await counter().fetch("https://do.example/boom");
    expect(response.status).toBe(503);
    expect(await response.text()).toBe("down"); // the span ends with the body
    const [t] = await traces(1);
    expect(root(t!).status).toEqual({ statusCode: "STATUS_CODE_ERROR", description: "HTTP 503" });
  });

  it("an instrumented Worker that forwards its traceparent to the stub gets one trace, the Durable Object's span under the Worker's", async () => {
    const worker = instrument<Cloudflare.Env, ExportedHandler<Cloudflare.Env>>(
      {
        async fetch(request, workerEnv) {
          const stub = workerEnv.TRACED_COUNTER.get(workerEnv.TRACED_COUNTER.idFromName(`forward-${n++}`));
          const forwarded = new Request(request, { headers: { ...Object.fromEntries(request.headers), ...getTracingContextHeadersForHttpRequest() } });
          return stub.fetch(forwarded);
        },
      },
      { exporter: () => exported },
    );
    const ctx = createExecutionContext();
    const response = await worker.fetch!(new Request("https://app.example/ask", { method: "POST", body: "question" }) as never, env, ctx);
    expect(await response.json()).toMatchObject({ summary: "quest" });
    await waitOnExecutionContext(ctx);
    const all = await traces(2);
    
    expect(new Set(all.map((t) => t.info.traceId)).size).toBe(1);
    const workerTrace = all.find((t) => root(t).name === "POST /ask")!;
    const doTrace = all.find((t) => t !== workerTrace)!;
    expect(tree(doTrace)[0]).toEqual(["TracedCounter POST /ask", root(workerTrace).spanId]);
    expect(tree(doTrace).slice(1)).toEqual([
      ["handle", "TracedCounter POST /ask"],
      ["summarize", "handle"],
      ["TracedCounter.increment", "TracedCounter POST /ask"],
    ]);
  });
});

describe("instrumentDurableObject(): RPC in the caller's trace", () => {
  it("an RPC call given getTracingContextHeadersForHttpRequest() as its last argument joins the caller's trace; without it, a trace of its own", async () => {
    const worker = instrument<Cloudflare.Env, ExportedHandler<Cloudflare.Env>>(
      {
        async fetch(request, workerEnv) {
          const stub = workerEnv.TRACED_COUNTER.get(workerEnv.TRACED_COUNTER.idFromName(`rpc-${n++}`));
          const joined = await stub.answer(await request.text(), getTracingContextHeadersForHttpRequest());
          const apart = await stub.answer("apart");
          return Response.json({ joined, apart });
        },
      },
      { exporter: () => exported },
    );
    const ctx = createExecutionContext();
    const response = await worker.fetch!(new Request("https://app.example/ask", { method: "POST", body: "question" }) as never, env, ctx);
    expect(await response.json()).toEqual({ joined: "quest", apart: "apart" });
    await waitOnExecutionContext(ctx);
    const all = await traces(3);
    const workerTrace = all.find((t) => root(t).name === "POST /ask")!;
    const joined = all.find((t) => t !== workerTrace && t.info.traceId === workerTrace.info.traceId)!;
    const apart = all.find((t) => t.info.traceId !== workerTrace.info.traceId)!;
    expect(tree(joined)).toEqual([["TracedCounter.answer", root(workerTrace).spanId], ["summarize", "TracedCounter.answer"]]);
    expect(tree(apart)).toEqual([["TracedCounter.answer", null], ["summarize", "TracedCounter.answer"]]);
    expect(all).toHaveLength(3);
  });
});

describe("instrumentDurableObject(): continueTrace", () => {
  it("with continueTrace: false, a context argument is not followed: the call is a trace of its own", async () => {
    const Apart = instrumentDurableObject(
      class Apart extends DurableObject {
        async ask(question: string, _context?: Record<string, string>): Promise<string> {
          return question;
        }
      },
      { exporter: toSink, continueTrace: false },
    );
    exported.drain();
    await runInDurableObject(counter(), async (_, state) => {
      expect(await new Apart(state, env).ask("q", { traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" })).toBe("q");
    });
    const [t, ...more] = await traces(1);
    expect(more).toHaveLength(0);
    expect(tree(t!)).toEqual([["Apart.ask", null]]);
    expect(t!.info.traceId).not.toBe("tr-0af7651916cd43dd8448eb211c80319c");
  });
});

describe("instrumentDurableObject(): alarm", () => {
  it("an alarm is a root span with the retry information as inputs, its work nested", async () => {
    const stub = counter();
    const t = await alarmTrace(stub);
    expect(tree(t)).toEqual([
      ["TracedCounter.alarm", null],
      ["summarize", "TracedCounter.alarm"],
    ]);
    expect(root(t).inputs).toEqual({}); // this runtime's test alarm passes no AlarmInvocationInfo
    expect(await runInDurableObject(stub, (_, state) => state.storage.get("alarmRan"))).toBe(true);
    exported.drain();
    // As Cloudflare calls it on a retry:
    await runInDurableObject(stub, (instance) => instance.alarm({ retryCount: 2, isRetry: true, scheduledTime: 1_700_000_000_000 }));
    const [retry] = await traces(1);
    expect(root(retry!).inputs).toEqual({ retryCount: 2, isRetry: true, scheduledTime: 1_700_000_000_000 });
  });
});

describe("instrumentDurableObject(): RPC methods", () => {
  it("each call over a stub is a root span named <Class>.<method> with its arguments as inputs and its result as outputs", async () => {
    const stub = counter();
    expect(await stub.add(2, 3)).toEqual({ sum: 5 });
    expect(await stub.increment(4)).toBe(4);
    expect(await stub.increment(1)).toBe(5); // state (a private field) kept on the one instance
    const all = await traces(3);
    expect(all.map((t) => [tree(t), root(t).inputs, root(t).outputs])).toEqual([
      [[["TracedCounter.add", null]], { a: 2, b: 3 }, { sum: 5 }],
      [[["TracedCounter.increment", null]], { by: 4 }, 4],
      [[["TracedCounter.increment", null]], { by: 1 }, 5],
    ]);
  });

  it("a method that throws or rejects: ERROR with the exception event, and the error reaches the caller", async () => {
    const stub = counter();
    const rejected = await Promise.resolve(stub.fail("nope")).catch((e: unknown) => e);
    expect(rejected).toBeInstanceOf(RangeError);
    expect((rejected as Error).message).toBe("no: nope");
    const thrown = await Promise.resolve(stub.failNow()).catch((e: unknown) => e);
    expect(thrown).toBeInstanceOf(TypeError);
    expect((thrown as Error).message).toBe("sync failure");
    const all = await traces(2);
    expect(all.map((t) => [root(t).name, root(t).status, root(t).events.map((e) => [e.name, e.attributes["exception.type"]]), t.info.state])).toEqual([
      ["TracedCounter.fail", { statusCode: "STATUS_CODE_ERROR", description: "RangeError: no: nope" }, [["exception", "RangeError"]], "ERROR"],
      ["TracedCounter.failNow", { statusCode: "STATUS_CODE_ERROR", description: "TypeError: sync failure" }, [["exception", "TypeError"]], "ERROR"],
    ]);
  });

  it("a method returning a ReadableStream, an RpcTarget or a function still works over RPC", async () => {
    const stub = counter();
    expect(await new Response(await stub.numbers()).text()).toBe("1,2,3");
    using meter = await stub.meter();
    expect(await meter.read()).toBe(7);
    using add10 = await stub.adder(10);
    expect(await add10(5)).toBe(15);
    const all = await traces(3);
    expect(all.map((t) => root(t).name).sort()).toEqual(["TracedCounter.adder", "TracedCounter.meter", "TracedCounter.numbers"]);
    const numbers = all.find((t) => root(t).name === "TracedCounter.numbers")!;
    expect(root(numbers).status.statusCode).toBe("STATUS_CODE_OK");
  });

  it("the subclass form keeps the class: a method of the user's subclass is not traced, the wrapped class's are, not those it inherits (a framework's); instanceof, statics and the name stay", async () => {
    const stub = agent();
    expect(await stub.chat("tell me a story")).toBe("tell ");
    expect(await stub.ownMethod()).toBe("own");
    expect(await stub.remember("four")).toBe(4); // inherited, still served over RPC, not traced
    const all = await traces(1);
    expect(all.map(tree)).toEqual([[["AgentBase.chat", null], ["summarize", "AgentBase.chat"]]]);
    expect(root(all[0]!).inputs).toEqual({ prompt: "tell me a story" });
    await runInDurableObject(stub, (instance) => {
      expect(instance).toBeInstanceOf(DurableObject);
      expect(instance.constructor.name).toBe("TracedAgent");
    });
    await runInDurableObject(counter(), (instance) => {
      const Class = instance.constructor as unknown as { name: string; kind: string };
      expect(Class.name).toBe("TracedCounter");
      expect(Class.kind).toBe("counter");
      expect((instance as unknown as { count: number }).count).toBe(0); // a getter reading a private field, untouched
    });
  });
});

describe("instrumentDurableObject(): WebSocket Hibernation API", () => {
  it("webSocketMessage and webSocketClose are root spans; a text message is recorded with its length, a binary one by size; a throwing handler is ERROR", async () => {
    const stub = counter();
    const response = await stub.fetch("https://do.example/ws", { headers: { upgrade: "websocket" } });
    const ws = response.webSocket!;
    ws.accept();
    const replies: string[] = [];
    ws.addEventListener("message", (e) => replies.push(String(e.data)));
    ws.send("what is the weather");
    ws.send(new Uint8Array([1, 2, 3]));
    ws.send("throw");
    for (let i = 0; i < 100 && replies.length < 2; i++) await sleep(10);
    expect(replies).toEqual(["what ", "binar"]);
    ws.close(1000, "bye");
    const all = await traces(5);
    const byName = (name: string) => all.filter((t) => root(t).name === name).map((t) => root(t));
    expect(byName("TracedCounter GET /ws")).toHaveLength(1);
    const messages = byName("TracedCounter.webSocketMessage");
    expect(messages.map((s) => s.inputs)).toEqual([{ message: "what is the weather", length: 19 }, { bytes: 3 }, { message: "throw", length: 5 }]);
    expect(messages.map((s) => s.status.statusCode)).toEqual(["STATUS_CODE_OK", "STATUS_CODE_OK", "STATUS_CODE_ERROR"]);
    expect(messages[2]!.events.map((e) => [e.name, e.attributes["exception.message"]])).toEqual([["exception", "bad message"]]);
    const first = all.find((t) => root(t).inputs && (root(t).inputs as { length?: number }).length === 19)!;
    expect(tree(first)).toEqual([["TracedCounter.webSocketMessage", null], ["summarize", "TracedCounter.webSocketMessage"]]);
    expect(byName("TracedCounter.webSocketClose").map((s) => s.inputs)).toEqual([{ code: 1000, reason: "bye", wasClean: true }]);
  });

  it("webSocketError is a root span marked ERROR with the socket's error as its exception event", async () => {
    await runInDurableObject(counter(), (instance) => {
      const [, server] = Object.values(new WebSocketPair());
      return instance.webSocketError(server!, new Error("connection reset"));
    });
    const [t] = await traces(1);
    const r = root(t!);
    expect(r.name).toBe("TracedCounter.webSocketError");
    expect(r.inputs).toEqual({ error: "Error: connection reset" });
    expect(r.status).toEqual({ statusCode: "STATUS_CODE_ERROR", description: "Error: connection reset" });
    expect(r.events.map((e) => [e.name, e.attributes["exception.message"]])).toEqual([["exception", "connection reset"]]);
  });
});

describe("instrumentDurableObject(): the call itself", () => {
  it("a non-class argument or a bad option is a TypeError at the call", () => {
    const message = /^mlflow-edge instrumentDurableObject\(\): the argument must be a Durable Object class/;
    expect(() => instrumentDurableObject({} as never)).toThrow(TypeError);
    expect(() => instrumentDurableObject({} as never)).toThrow(message);
    expect(() => instrumentDurableObject((() => {}) as never)).toThrow(message);
    expect(() => instrumentDurableObject(undefined as never)).toThrow(message);
    class Ok extends DurableObject {}
    expect(() => instrumentDurableObject(Ok, { exporter: "mlflow" as never })).toThrow(TypeError);
    expect(() => instrumentDurableObject(Ok, { exporter: "mlflow" as never })).toThrow(/instrumentDurableObject.*exporter/);
    expect(() => instrumentDurableObject(Ok, { experimentID: "1" } as never)).toThrow(/experimentId/);
    expect(() => instrumentDurableObject(Ok, { methods: "chat" as never })).toThrow(/"methods" must be an array of method names \(strings\)/);
  });

  it("handlers written as fields are traced, a method traced already with @trace() keeps its own span, and `methods` leaves the others alone", async () => {
    const stub = env.TRACED_FIELDS.get(env.TRACED_FIELDS.idFromName(`fields-${n++}`));
    expect(await (await stub.fetch("https://do.example/ask", { method: "POST", body: "field fetch" })).text()).toBe("field");
    expect(await stub.chat("decorated")).toBe("decor");
    expect(await new Response(await stub.download()).text()).toBe("a large file"); // not listed: no span, the stream untouched
    const all = await traces(2);
    expect(all.map(tree)).toEqual([
      [["TracedFields POST /ask", null], ["summarize", "TracedFields POST /ask"]],
      [["chat", null], ["summarize", "chat"]], // the user's AGENT span is the root, not under a wrapper's
    ]);
    expect(root(all[1]!).attributes["mlflow.spanType"]).toBe("AGENT");
    exported.drain();
    expect(tree(await alarmTrace(stub))).toEqual([["TracedFields.alarm", null]]);
  });

  it("a handler bound in the constructor, and an override calling super's in a class wrapped again, make one trace per alarm", async () => {
    for (const ns of [env.BOUND_HANDLERS, env.RE_WRAPPED] as DurableObjectNamespace<DurableObject & { setAlarmIn(ms: number): Promise<void> }>[]) {
      exported.drain();
      const stub = ns.get(ns.idFromName(`alarm-${n++}`));
      expect(tree(await alarmTrace(stub)).map(([name]) => name)).toEqual([expect.stringMatching(/^(BoundHandlers|ReWrapped)\.alarm$/), "summarize"]);
    }
  });

  it("a handler run again from a timer its invocation left, after that span ended, gets a span of its own", async () => {
    const stub = env.BOUND_HANDLERS.get(env.BOUND_HANDLERS.idFromName(`again-${n++}`));
    await stub.againLater();
    await stub.setAlarmIn(60_000);
    await traces(2);
    exported.drain();
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    const all = await traces(2);
    expect(all.map(tree)).toEqual([
      [["BoundHandlers.alarm", null], ["summarize", "BoundHandlers.alarm"]],
      [["BoundHandlers.alarm", null], ["summarize", "BoundHandlers.alarm"]],
    ]);
  });

  it("methods: a name that is not an RPC method the class defines is refused at the call", () => {
    class Base extends DurableObject {
      inherited(): number {
        return 1;
      }
    }
    class Child extends Base {
      own(): number {
        return 2;
      }
    }
    expect(() => instrumentDurableObject(Child, { methods: ["onw"] })).toThrow(/"methods" names "onw", which is not an RPC method Child defines itself \(its methods: own;/);
    expect(() => instrumentDurableObject(Child, { methods: ["inherited"] })).toThrow(/"methods" names "inherited"/);
    expect(() => instrumentDurableObject(Child, { methods: ["fetch"] })).toThrow(/handlers are always traced/);
    expect(() => instrumentDurableObject(Child, { methods: [1] as never })).toThrow(/"methods" must be an array of method names \(strings\); got an array with a non-string/);
    expect(() => instrumentDurableObject(Child, { methods: ["own"] })).not.toThrow();
    // Wrapped twice with the same choice: the first wrapping's methods are still the class's.
    expect(() => instrumentDurableObject(instrumentDurableObject(Child, { methods: ["own"] }), { methods: ["own"] })).not.toThrow();
  });

  it("a class wrapped twice is traced once: one span per RPC call, one trace per alarm", async () => {
    const stub = env.TWICE_TRACED.get(env.TWICE_TRACED.idFromName(`twice-${n++}`));
    expect(await stub.echo(5)).toBe(5);
    await stub.setAlarmIn(60_000);
    const calls = await traces(2);
    expect(calls.map(tree)).toEqual([[["TwiceTraced.echo", null]], [["TwiceTraced.setAlarmIn", null]]]);
    exported.drain();
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    const [alarm, ...more] = await traces(1);
    expect(more).toHaveLength(0);
    expect(tree(alarm!)).toEqual([["TwiceTraced.alarm", null], ["summarize", "TwiceTraced.alarm"]]);
  });

  it("a class not extending DurableObject (no RPC) gets its handlers traced and its other methods left alone", () => {
    class Legacy {
      constructor(readonly state: DurableObjectState, readonly env: unknown) {}
      helper() {
        return 1;
      }
      async fetch() {
        return new Response(String(this.helper()));
      }
    }
    const Traced = instrumentDurableObject(Legacy);
    expect(Traced.prototype.helper).toBe(Legacy.prototype.helper);
    expect(Traced.prototype.fetch).not.toBe(Legacy.prototype.fetch);
    expect(Object.prototype.hasOwnProperty.call(Traced.prototype, "alarm")).toBe(false); // no handler added the class lacks
  });

  it("a tracing failure does not fail the call: an exporter factory that throws leaves the methods working", async () => {
    class Broken extends DurableObject {
      double(x: number) {
        return x * 2;
      }
    }
    const Traced = instrumentDurableObject(Broken, {
      exporter: () => {
        throw new Error("no exporter");
      },
    });
    await runInDurableObject(counter(), (_, state) => {
      const instance = new Traced(state, env);
      expect(instance.double(21)).toBe(42);
      expect(instance).toBeInstanceOf(Broken);
    });
  });

  it("a sync method stays sync when called inside the object, and a traced call there nests", async () => {
    await runInDurableObject(counter(), async (instance) => {
      const traced = trace(function outer() {
        return instance.increment(2);
      });
      expect(traced()).toBe(2); // not a Promise
    });
    const [t] = await traces(1);
    expect(tree(t!)).toEqual([["outer", null], ["TracedCounter.increment", "outer"]]);
  });
});

