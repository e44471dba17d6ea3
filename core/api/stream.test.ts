import { describe, expect, it } from "vitest";
import * as mlflow from "../index.js";
import { captureWarnings, setup, shape, sleep } from "../../test/unit/helpers.js";

describe("stream spans", () => {
  it("ends OK with the chunks consumed so far when the consumer breaks early", async () => {
    const t = setup();
    let cleanedUp = false;
    const numbers = mlflow.trace(function* numbers() {
      try {
        for (let i = 0; ; i++) yield i;
      } finally {
        cleanedUp = true;
      }
    });
    for (const n of numbers()) if (n === 2) break;
    expect(cleanedUp).toBe(true);
    const [span] = shape(await t.only());
    expect(span).toMatchObject({ name: "numbers", outputs: [0, 1, 2], status: "OK" });
    expect(span!.events).toHaveLength(3);
  });

  it("records a producer's throw as ERROR after the chunks it yielded, and rethrows it", async () => {
    const t = setup();
    const boom = new RangeError("stream broke");
    const flaky = mlflow.trace(async function* flaky() {
      yield "a";
      await sleep(1);
      throw boom;
    });
    const seen: string[] = [];
    await expect(async () => {
      for await (const c of flaky()) seen.push(c);
    }).rejects.toBe(boom);
    expect(seen).toEqual(["a"]);
    const trace = await t.only();
    const [span] = shape(trace);
    expect(span!.events!.map((e) => e.name)).toEqual(["mlflow.chunk.item.0", "exception"]);
    expect(span).toMatchObject({ status: "ERROR" });
    expect(span!.outputs).toBeUndefined();
    expect(trace.data.spans[0]!.status.description).toBe("RangeError: stream broke");
    expect(trace.info.state).toBe("ERROR");
  });

  it("nests a generator's span under the caller's span and keeps the caller's trace open until it ends", async () => {
    const t = setup();
    const tokens = mlflow.trace(async function* tokens(prompt: string) {
      for (const w of prompt.split(" ")) {
        await sleep(1);
        yield w;
      }
    }, { spanType: mlflow.SpanType.LLM });
    const answer = mlflow.trace(function answer(prompt: string) {
      return tokens(prompt); // returned un-iterated: the caller iterates after answer() returned
    });
    const stream = answer("hello big world");
    await sleep(5);
    expect(t.exporter.traces).toHaveLength(0); // held open for the stream
    const words: string[] = [];
    for await (const w of stream) words.push(w);
    expect(words).toEqual(["hello", "big", "world"]);
    const trace = await t.only();
    expect(shape(trace).map(({ name, parent, spanType, outputs }) => ({ name, parent, spanType, outputs }))).toEqual([
      { name: "answer", parent: null, spanType: "UNKNOWN", outputs: ["hello", "big", "world"] },
      { name: "tokens", parent: "answer", spanType: "LLM", outputs: ["hello", "big", "world"] },
    ]);
  });

  it("makes the stream span active only while the producer runs", async () => {
    const t = setup();
    const inner = mlflow.trace(function inner(x: number) { return x; });
    const gen = mlflow.trace(function* gen() {
      yield inner(1); // runs inside gen's span
      yield 2;
    });
    mlflow.withSpan(() => {
      for (const _ of gen()) {
        expect(mlflow.getCurrentActiveSpan()?.name).toBe("consumer"); // consumer's context here
      }
    }, { name: "consumer" });
    expect(shape(await t.only()).map((s) => [s.name, s.parent])).toEqual([["consumer", null], ["gen", "consumer"], ["inner", "gen"]]);
  });

  it("exports the caller's trace without the stream span if the stream is never iterated", async () => {
    const t = setup({ openSpanTimeoutMs: 20 });
    const gen = mlflow.trace(function* never() { yield 1; });
    mlflow.withSpan(() => {
      gen(); // created under "caller" and dropped: the trace must not wait for it forever
    }, { name: "caller" });
    await sleep(40);
    expect(t.exporter.traces.map(shape)).toEqual([[expect.objectContaining({ name: "caller", parent: null })]]);
  });

  it("traces an async iterable returned by a plain function, keeping the object's other methods", async () => {
    const t = setup();
    class SdkStream {
      controller = "abort-controller";
      async *[Symbol.asyncIterator]() {
        yield { delta: "Hi" };
        yield { delta: "!" };
      }
      toText() {
        return "SdkStream";
      }
    }
    const create = mlflow.trace(async function create(stream: boolean) {
      await sleep(1);
      return new SdkStream();
    }, { spanType: mlflow.SpanType.CHAT_MODEL, outputReducer: (chunks: { delta: string }[]) => chunks.map((c) => c.delta).join("") });
    // (no outer variable named `stream`: esbuild renames a parameter that shadows one)
    const sdkStream = await create(true);
    expect(sdkStream.toText()).toBe("SdkStream");
    expect(sdkStream.controller).toBe("abort-controller");
    expect(sdkStream).toBeInstanceOf(SdkStream);
    const deltas: string[] = [];
    for await (const c of sdkStream) deltas.push(c.delta);
    expect(deltas).toEqual(["Hi", "!"]);
    const [span] = shape(await t.only());
    expect(span).toMatchObject({ name: "create", spanType: "CHAT_MODEL", inputs: { stream: true }, outputs: "Hi!", status: "OK" });
    expect(span!.events).toHaveLength(2);
  });

  it("keeps the raw chunks and warns when the outputReducer throws", async () => {
    const t = setup();
    const w = captureWarnings();
    const gen = mlflow.trace(function* g() { yield 1; yield 2; }, { outputReducer: () => { throw new Error("bad reducer"); } });
    expect([...gen()]).toEqual([1, 2]);
    expect(shape(await t.only())[0]!.outputs).toEqual([1, 2]);
    expect(w.messages().some((m) => m.includes("outputReducer") && m.includes("bad reducer"))).toBe(true);
    w.restore();
  });

  it("does not wrap ReadableStreams, which platform APIs must receive untouched", async () => {
    const t = setup();
    const body = new ReadableStream({ start(c) { c.enqueue(new TextEncoder().encode("x")); c.close(); } });
    const make = mlflow.trace(function make() { return body; });
    expect(make()).toBe(body);
    expect(await new Response(make()).text()).toBe("x");
    expect((await t.traces()).length).toBe(2);
  });

  it("passes values sent with next(v) and errors injected with throw() through to the generator", async () => {
    const t = setup();
    const echo = mlflow.trace(function* echo() {
      let got: unknown = yield "ready";
      try {
        while (true) got = yield `got ${String(got)}`;
      } catch (e) {
        yield `caught ${(e as Error).message}`;
      }
    });
    const it = echo();
    expect(it.next().value).toBe("ready");
    expect(it.next(1).value).toBe("got 1");
    expect(it.throw(new Error("stop")).value).toBe("caught stop");
    expect(it.next().done).toBe(true);
    expect(shape(await t.only())[0]!.outputs).toEqual(["ready", "got 1", "caught stop"]);
  });
});
