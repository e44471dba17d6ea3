import { EventEmitter } from "node:events";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { describe, expect, it, vi } from "vitest";
import * as mlflow from "../index.js";
import { captureWarnings, setup, shape, sleep } from "../../test/unit/helpers.js";

describe("stream spans", () => {
  it("says so once when a stream whose span started at the call is read inside a span of another trace", async () => {
    const w = captureWarnings();
    const t = setup();
    // A plain function returning an async iterator: its span starts at the call, as an async
    // generator lowered by a build (Zone.js mode) does, unlike a native one's at its first read.
    const words = mlflow.trace(function words() {
      return (async function* () { yield "a"; yield "b"; })();
    });
    const made = words(); // outside any span: its own trace
    await mlflow.withSpan(async () => {
      for await (const _ of made) { /* read */ }
      for await (const _ of words()) { /* made and read here: nests, nothing to say */ }
    }, { name: "consume" });
    const shapes = (await t.traces()).map((tr) => shape(tr).map((s) => [s.name, s.parent]));
    expect(shapes).toContainEqual([["words", null]]);
    expect(shapes).toContainEqual([["consume", null], ["words", "consume"]]);
    const said = w.messages().filter((m) => m.includes("is read inside span \"consume\""));
    expect(said).toHaveLength(1);
    expect(said[0]).toContain('"words"');
    w.restore();
  });

  it("says nothing when the stream's trace was asked for ({ parent: null }), though read inside another trace", async () => {
    const w = captureWarnings();
    setup();
    const own = mlflow.trace(function own() {
      return (async function* () { yield "a"; })();
    }, { parent: null });
    await mlflow.withSpan(async () => {
      for await (const _ of own()) { /* read */ }
      const inner = mlflow.withSpan(() => own(), { name: "separate", parent: null });
      for await (const _ of inner) { /* read */ }
    }, { name: "page" });
    expect(w.messages().filter((m) => m.includes("of another trace"))).toEqual([]);
    w.restore();
  });

  it("still says so for a stream span placed by context under a root the caller chose", async () => {
    const w = captureWarnings();
    setup();
    const words = mlflow.trace(function words() {
      return (async function* () { yield "a"; })();
    });
    // "job" is the chosen trace; "words" is in it only because it was active: read elsewhere, said.
    const made = mlflow.withSpan(() => words(), { name: "job", parent: null });
    await mlflow.withSpan(async () => { for await (const _ of made) { /* read */ } }, { name: "consume" });
    expect(w.messages().filter((m) => m.includes('the stream of "words" is read inside span "consume"'))).toHaveLength(1);
    w.restore();
  });

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
    // As Python's _end_stream_span: a bare ERROR status; the exception is in its event.
    expect(trace.data.spans[0]!.status.description).toBe("");
    expect(trace.data.spans[0]!.events[1]!.attributes).toMatchObject({ "exception.type": "RangeError", "exception.message": "stream broke" });
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

  it("a function returning a stream that set its outputs itself keeps them, as any traced function's are kept; the chunks are still events", async () => {
    const t = setup();
    async function* upstream() {
      yield "a";
      yield "b";
    }
    const call = mlflow.trace(async function call() {
      mlflow.getCurrentActiveSpan()!.setOutputs({ explicit: true });
      return upstream();
    }, { outputReducer: (chunks: string[]) => chunks.join("") });
    const plain = mlflow.trace(async function plain() {
      return upstream();
    }, { outputReducer: (chunks: string[]) => chunks.join("") });
    for await (const _ of await call());
    for await (const _ of await plain());
    const [own, reduced] = (await t.traces()).map((tr) => shape(tr)[0]!);
    expect(own).toMatchObject({ name: "call", outputs: { explicit: true }, status: "OK" });
    expect(own!.events).toHaveLength(2);
    expect(reduced).toMatchObject({ name: "plain", outputs: "ab" });
  });

  it("an async iterable with an unrelated `iterator` field, a shared one returned by many calls, and a frozen one are each traced, their own methods untouched", async () => {
    const t = setup();
    class Pages {
      items = [1, 2];
      iterator = () => this.items[Symbol.iterator](); // not a Stainless stream's reader (no tee())
      async *[Symbol.asyncIterator]() {
        yield* this.items;
      }
    }
    const pages = await mlflow.trace(async function listPages() { return new Pages(); })();
    expect(pages.iterator().next()).toEqual({ value: 1, done: false }); // still the user's own, sync
    for await (const _ of pages) { /* read */ }
    expect(shape(await t.only())[0]).toMatchObject({ name: "listPages", outputs: [1, 2], status: "OK" });

    // A cached iterable returned by every call: no hook wrapped on a hook (that overflowed the stack).
    const shared = { async *[Symbol.asyncIterator]() { yield "s"; } };
    const getShared = mlflow.trace(function getShared() { return shared; });
    for (let i = 0; i < 20_000; i++) getShared();
    const last = getShared();
    for await (const _ of last) { /* read */ }
    const traces = await t.traces();
    expect(traces.at(-1)!.data.spans[0]!.outputs).toEqual(["s"]);

    const frozen = Object.freeze({ async *[Symbol.asyncIterator]() { yield "f"; }, label: "frozen" });
    const got = mlflow.trace(function getFrozen() { return frozen; })();
    expect(got.label).toBe("frozen");
    for await (const _ of got) { /* read */ }
    expect((await t.traces()).at(-1)!.data.spans[0]).toMatchObject({ name: "getFrozen", outputs: ["f"] });
  });

  it("a traced function returning another traced function's iterable: both spans get the chunks and end", async () => {
    const t = setup();
    class SdkStream {
      constructor(private readonly items: string[]) {}
      async *[Symbol.asyncIterator]() {
        yield* this.items;
      }
    }
    const callLLM = mlflow.trace(async function callLLM(prompt: string) { return new SdkStream([prompt, "b"]); });
    const agent = mlflow.trace(async function agent(q: string) { return callLLM(q); });
    const got: string[] = [];
    for await (const x of await agent("a")) got.push(x);
    expect(got).toEqual(["a", "b"]);
    const spans = shape(await t.only());
    expect(spans.map((s) => [s.name, s.outputs, s.status, s.events!.length])).toEqual([
      ["agent", ["a", "b"], "OK", 2],
      ["callLLM", ["a", "b"], "OK", 2],
    ]);
  });

  it("an iterable result nobody starts reading ends after openSpanTimeoutMs; one being read, however slowly, is never cut", async () => {
    const t = setup({ openSpanTimeoutMs: 150 });
    const iterable = (gate?: Promise<void>) => ({ async *[Symbol.asyncIterator]() { await gate; yield "a"; await sleep(200); yield "b"; } });
    await mlflow.trace(async function unread() { return iterable(); })();
    await sleep(400);
    const [unread] = shape(await t.only());
    expect(unread).toMatchObject({ name: "unread", outputs: [], status: "OK" });
    expect(unread!.events).toMatchObject([{ name: "cancelled", attributes: { reason: "stream not read within 150 ms" } }]);

    // A model thinking longer than the timeout before its first chunk, a consumer slower than it
    // between chunks: every chunk is recorded.
    let open!: () => void;
    const slow = await mlflow.trace(async function slowStream() { return iterable(new Promise<void>((r) => (open = r))); })();
    const reading = (async () => {
      for await (const _ of slow) await sleep(200);
    })();
    await sleep(300);
    open();
    await reading;
    const traces = await t.traces();
    expect(traces).toHaveLength(2);
    expect(shape(traces[1]!)[0]).toMatchObject({ name: "slowStream", outputs: ["a", "b"], status: "OK" });
    expect(shape(traces[1]!)[0]!.events!.map((e) => e.name)).toEqual(["mlflow.chunk.item.0", "mlflow.chunk.item.1"]);
  });

  it("a read stream leaves no timer behind (its chunks are not kept alive), and openSpanTimeoutMs: 0 watches nothing", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    try {
      const t = setup();
      const before = vi.getTimerCount();
      const result = await mlflow.trace(async function read() { return { async *[Symbol.asyncIterator]() { yield 1; } }; })();
      expect(vi.getTimerCount()).toBe(before + 1); // waiting for a first read
      for await (const _ of result) { /* read */ }
      expect(vi.getTimerCount()).toBe(before);
      expect(shape(await t.only())[0]).toMatchObject({ name: "read", outputs: [1] });

      setup({ openSpanTimeoutMs: 0 });
      await mlflow.trace(async function unwatched() { return { async *[Symbol.asyncIterator]() { yield 1; } }; })();
      expect(vi.getTimerCount()).toBe(before);
    } finally {
      vi.useRealTimers();
    }
  });

  it("a cached iterable returned to two concurrent requests: each request's reading records into its own trace", async () => {
    const t = setup();
    const fetchChunk = mlflow.trace(async function fetchChunk(i: number) { return `c${i}`; });
    const shared = { async *[Symbol.asyncIterator]() { for (let i = 0; i < 2; i++) yield await fetchChunk(i); } };
    const getStream = mlflow.trace(async function getStream(req: string) { return shared; });
    const handle = mlflow.trace(async function handle(req: string) {
      const stream = await getStream(req);
      if (req === "r1") await sleep(30); // r2 reads first
      const out: string[] = [];
      for await (const c of stream) out.push(c);
      return out;
    });
    expect(await Promise.all([handle("r1"), handle("r2")])).toEqual([["c0", "c1"], ["c0", "c1"]]);
    const traces = await t.traces();
    for (const req of ["r1", "r2"]) {
      const tr = traces.find((x) => (x.data.spans[0]!.inputs as { req: string }).req === req)!;
      expect(shape(tr).map((s) => `${s.name}<${s.parent ?? ""}`)).toEqual(["handle<", "getStream<handle", "fetchChunk_1<getStream", "fetchChunk_2<getStream"]);
      expect(shape(tr)[1]).toMatchObject({ name: "getStream", inputs: { req }, outputs: ["c0", "c1"] });
    }
  });

  it("a cached iterable returned through enclosing traced calls to two requests: each request's reads stay in its own trace, in both spans", async () => {
    const t = setup();
    let reads = 0;
    const shared = { async *[Symbol.asyncIterator]() { const n = ++reads; yield `read${n}:a`; yield `read${n}:b`; } };
    const getStream = mlflow.trace(async function getStream(req: string) { return shared; });
    const handle = mlflow.trace(async function handle(req: string) { return getStream(req); });
    const s1 = await handle("r1");
    const s2 = await handle("r2");
    (s2 as unknown as { label: string }).label = "mine"; // the caller may still set properties on what it got (strict mode)
    for await (const _ of s2) { /* read1 */ }
    for await (const _ of s1) { /* read2 */ }
    const byReq = new Map((await t.traces()).map((tr) => [(tr.data.spans[0]!.inputs as { req: string }).req, shape(tr)]));
    expect(byReq.get("r2")!.map((sp) => [sp.name, sp.outputs])).toEqual([["handle", ["read1:a", "read1:b"]], ["getStream", ["read1:a", "read1:b"]]]);
    expect(byReq.get("r1")!.map((sp) => [sp.name, sp.outputs])).toEqual([["handle", ["read2:a", "read2:b"]], ["getStream", ["read2:a", "read2:b"]]]);
  });

  it("an iterable frozen after it was traced (an app's cache) reads normally when another traced call returns it; two reads of one at once record one", async () => {
    const t = setup();
    class Feed { async *[Symbol.asyncIterator]() { yield 1; yield 2; } }
    const load = mlflow.trace(async function load() { return new Feed(); });
    const cache = Object.freeze(await load()); // hooked in place by load(), then frozen
    const handle = mlflow.trace(async function handle(req: string) { return cache; });
    const got: number[] = [];
    for await (const x of await handle("r1")) got.push(x); // threw a proxy invariant TypeError
    expect(got).toEqual([1, 2]);
    const outer = mlflow.trace(async function outer() { return Object.freeze(await load()); });
    for await (const _ of await outer()) { /* read */ }

    const shared = { async *[Symbol.asyncIterator]() { yield "a"; await sleep(5); yield "b"; } };
    const first = mlflow.trace(async function first() { return shared; });
    const second = mlflow.trace(async function second() { return shared; });
    await first();
    const s2 = await second();
    const collect = async () => { const out: string[] = []; for await (const c of s2) out.push(c); return out; };
    expect(await Promise.all([collect(), collect()])).toEqual([["a", "b"], ["a", "b"]]);
    const traces = await t.traces();
    const outputs = new Map(traces.map((tr) => [tr.data.spans[0]!.name, tr.data.spans[0]!.outputs]));
    expect(outputs.get("handle")).toEqual([1, 2]);
    expect(outputs.get("outer")).toEqual([1, 2]);
    expect(outputs.get("second")).toEqual(["a", "b"]); // was the two reads interleaved
  });

  it("a user's iterable with its own controller is not taken for an SDK stream: aborting it ends nothing, and its signal gets no listener", async () => {
    const t = setup({ openSpanTimeoutMs: 50 });
    const shared = new AbortController();
    class Prefetch { controller = shared; async *[Symbol.asyncIterator]() { yield "a"; yield "b"; } }
    const prefetch = mlflow.trace(async function prefetch() { return new Prefetch(); });
    const stream = await prefetch();
    for (let i = 0; i < 12; i++) await prefetch(); // never read
    expect(EventEmitter.getEventListeners(shared.signal, "abort")).toHaveLength(0);
    shared.abort(); // it only stopped a side task: the stream still reads
    const got: string[] = [];
    for await (const x of stream) got.push(x);
    expect(got).toEqual(["a", "b"]);
    await sleep(100);
    const traces = await t.traces();
    expect(traces).toHaveLength(13);
    expect(traces.filter((tr) => JSON.stringify(tr.data.spans[0]!.outputs) === '["a","b"]')).toHaveLength(1);
  });

  it("a list API's page (getNextPage, hasNextPage) is a value, as in Python, not a stream", async () => {
    const t = setup();
    class Page {
      data = [{ id: "m1" }];
      hasNextPage() { return false; }
      async getNextPage(): Promise<Page> { throw new Error("no next page"); }
      async *[Symbol.asyncIterator]() { yield* this.data; }
    }
    const page = await mlflow.trace(async function listModels() { return new Page(); })();
    expect(page).toBeInstanceOf(Page);
    expect(shape(await t.only())[0]).toMatchObject({ name: "listModels", outputs: { data: [{ id: "m1" }] }, status: "OK" });
  });

  it("a generator created outside any span nests under the span that iterates it, as in Python; one created in a span keeps that parent", async () => {
    const t = setup();
    const numbers = mlflow.trace(function* numbers() { yield 1; yield 2; });
    const consume = mlflow.trace(function consume(it: Iterable<number>) { return [...it]; });
    expect(consume(numbers())).toEqual([1, 2]);
    const made = mlflow.withSpan(() => numbers(), { name: "maker" });
    consume(made);
    const traces = await t.traces();
    expect(traces.map((tr) => shape(tr).map((s) => `${s.name}<${s.parent ?? ""}`))).toEqual([
      ["consume<", "numbers<consume"],
      ["maker<", "numbers<maker"],
      ["consume<"],
    ]);
  });

  it("a generator whose parameter default throws runs once and throws the caller's error, not an SDK fault", async () => {
    const t = setup();
    const w = captureWarnings();
    let calls = 0;
    const side = (): number => {
      calls++;
      throw new TypeError("bad default");
    };
    const gen = mlflow.trace(function* gen(x: number = side()) { yield x; });
    expect(() => gen()).toThrow("bad default");
    expect(calls).toBe(1);
    expect(w.messages()).toEqual([]);
    expect(await t.traces()).toEqual([]);
    w.restore();
  });

  it("warns once when a generator's span lost its context across an await (stack context), as a plain function's does", async () => {
    const t = setup({ contextManager: new mlflow.StackContextManager() });
    const w = captureWarnings();
    const tokens = mlflow.trace(function* tokens(text: string) { yield* text.split(" "); });
    await mlflow.withSpan(async () => {
      await sleep(1);
      return [...tokens("a b")];
    }, { name: "answer" });
    expect((await t.traces()).map((tr) => shape(tr)[0]!.name)).toEqual(["tokens", "answer"]);
    expect(w.messages().filter((m) => m.includes("context (stack) was lost"))).toHaveLength(1);
    w.restore();
  });

  it("an outputReducer returning null or undefined (an empty stream) leaves the outputs and response preview unset, as in Python", async () => {
    const t = setup();
    const join = (chunks: string[]) => (chunks.length ? chunks.join("") : undefined);
    const empty = mlflow.trace(async function* empty() { /* no chunks */ }, { outputReducer: join });
    for await (const _ of empty()) { /* read */ }
    const trace = await t.only();
    expect(trace.data.spans[0]!.outputs).toBeUndefined();
    expect(trace.info.responsePreview ?? "").toBe("");
    expect(trace.info.traceMetadata["mlflow.traceOutputs"] ?? "").toBe("");
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

  describe("a long stream: what its span keeps is bounded", () => {
    // maxValueBytes 4096: chunk events up to 16 x 4096 bytes of JSON, outputs up to 4096.
    const MAX = 4096;
    const eventJson = (span: mlflow.SpanData) => span.events.filter((e) => e.name.startsWith("mlflow.chunk.item.")).reduce((n, e) => n + String(e.attributes["mlflow.chunk.value"]).length, 0);

    it("a file's body streamed through a traced function reaches the reader whole, while the span keeps the first chunks as events, counts the others, and says in its outputs how many it left out", async () => {
      const t = setup({ maxValueBytes: MAX });
      const line = "0123456789".repeat(100); // 1000 bytes a chunk
      const download = mlflow.trace(function download() {
        let n = 0;
        return new ReadableStream<Uint8Array>({ pull: (c) => (n++ < 3000 ? c.enqueue(new TextEncoder().encode(line)) : c.close()) });
      });
      const text = await new Response(download()).text();
      expect(text.length).toBe(3_000_000); // nothing of the body is lost
      const [span] = (await t.only()).data.spans;
      const chunkEvents = span!.events.filter((e) => e.name.startsWith("mlflow.chunk.item."));
      expect(eventJson(span!)).toBeLessThanOrEqual(16 * MAX + 1002); // the budget, passed by one chunk at most
      expect(chunkEvents.length).toBeGreaterThan(50); // 16 x 4096 bytes at about 1000 bytes and 128 of overhead each
      expect(chunkEvents.map((e) => e.name)).toEqual(chunkEvents.map((_, i) => `mlflow.chunk.item.${i}`)); // the first ones, in order
      expect(span!.attributes["chunks.omitted"]).toBe(3000 - chunkEvents.length);
      const outputs = span!.attributes["mlflow.spanOutputs"] as string;
      const kept = outputs.replace(/\.\.\.\[truncated \d+ chunks\]$/, "");
      expect(kept).toBe(line.repeat(kept.length / 1000)); // whole chunks from the start
      expect(outputs).toBe(`${kept}...[truncated ${3000 - kept.length / 1000} chunks]`);
      expect(outputs.length).toBeLessThanOrEqual(MAX);
    });

    it("a generator's values: outputs list the chunks that fit, then how many did not; a short stream keeps everything, as before", async () => {
      const t = setup({ maxValueBytes: MAX });
      const rows = mlflow.trace(function* rows(n: number) {
        for (let i = 0; i < n; i++) yield { i, text: "x".repeat(200) };
      });
      expect([...rows(2000)]).toHaveLength(2000);
      expect([...rows(3)]).toHaveLength(3);
      const [long, short] = (await t.traces()).map((tr) => tr.data.spans[0]!);
      const outputs = long!.attributes["mlflow.spanOutputs"] as unknown[];
      const omitted = outputs.at(-1) as string;
      expect(omitted).toMatch(/^\.\.\.\[truncated \d+ chunks\]$/);
      // The first chunks, in order (the last one kept may be cut to leave the marker room, and says so).
      expect((outputs.slice(0, -1) as { i: number; text: string }[]).map((o) => o.i)).toEqual(outputs.slice(0, -1).map((_, i) => i));
      expect((outputs.slice(0, -1) as { text: string }[]).every((o) => /^x+(?:\.\.\.\[truncated \d+ chars\])?$/.test(o.text))).toBe(true);
      expect(outputs.length - 1 + Number(/\d+/.exec(omitted)![0])).toBe(2000);
      expect(long!.attributes["chunks.omitted"]).toBe(2000 - long!.events.length);
      expect(short!.attributes).not.toHaveProperty("chunks.omitted");
      expect(short!.attributes["mlflow.spanOutputs"]).toHaveLength(3);
      expect(short!.events).toHaveLength(3);
    });

    it("a stream that throws after many chunks still counts those not kept; so does one of tiny chunks, whose events are bounded by their number too", async () => {
      const t = setup({ maxValueBytes: MAX });
      const failing = mlflow.trace(function* failing() {
        for (let i = 0; i < 2000; i++) yield { i, text: "x".repeat(200) };
        throw new Error("disk gone");
      });
      expect(() => [...failing()]).toThrow("disk gone");
      const ones = mlflow.trace(function* ones() {
        for (let i = 0; i < 100_000; i++) yield 1;
      });
      expect([...ones()]).toHaveLength(100_000);
      const [failed, tiny] = (await t.traces()).map((tr) => tr.data.spans[0]!);
      expect(failed!.status.statusCode).toBe("STATUS_CODE_ERROR");
      const chunkEvents = (s: mlflow.SpanData) => s.events.filter((e) => e.name.startsWith("mlflow.chunk.item.")).length;
      expect(chunkEvents(failed!)).toBeGreaterThan(100);
      expect(failed!.attributes["chunks.omitted"]).toBe(2000 - chunkEvents(failed!));
      expect(chunkEvents(tiny!)).toBeLessThanOrEqual((16 * MAX) / 128);
      expect(chunkEvents(tiny!)).toBeGreaterThan((16 * MAX) / 140);
      expect(tiny!.attributes["chunks.omitted"]).toBe(100_000 - chunkEvents(tiny!));
      // The outputs: the ones that fit, then one marker counting every one left out.
      const outputs = tiny!.attributes["mlflow.spanOutputs"] as unknown[];
      expect(outputs.length).toBeGreaterThan(100);
      expect(outputs.slice(0, -1).every((v) => v === 1)).toBe(true);
      expect(outputs.at(-1)).toBe(`...[truncated ${100_000 - (outputs.length - 1)} chunks]`);
      expect(JSON.stringify(outputs).length).toBeLessThanOrEqual(MAX);
    });

    it("an SSE body (quotes and line breaks, escaped in JSON): the outputs end in one marker, counting every chunk they lack", async () => {
      const t = setup({ maxValueBytes: MAX });
      const sse = (i: number) => `data: {"id":"chatcmpl-${i}","choices":[{"delta":{"content":"word ${i}"}}]}\n\n`;
      const events = mlflow.trace(function events() {
        let n = 0;
        return new ReadableStream<Uint8Array>({ pull: (c) => (n < 400 ? c.enqueue(new TextEncoder().encode(sse(n++))) : c.close()) });
      });
      await new Response(events()).text();
      const text = (await t.only()).data.spans[0]!.attributes["mlflow.spanOutputs"] as string;
      const [, kept, n] = /^([\s\S]*)\.\.\.\[truncated (\d+) chunks\]$/.exec(text)!;
      expect(kept).not.toContain("...[truncated");
      const whole = Array.from({ length: 400 }, (_, i) => sse(i));
      const keptChunks = whole.findIndex((_, i) => whole.slice(0, i + 1).join("").length > kept!.length);
      expect(kept).toBe(whole.slice(0, keptChunks).join(""));
      expect(keptChunks + Number(n)).toBe(400);
    });

    it("a long stream whose function ended its own span: its failure adds nothing to the ended span, and says nothing", async () => {
      const w = captureWarnings();
      const t = setup({ maxValueBytes: MAX });
      const own = mlflow.trace(async function own() {
        const gen = (function* () {
          for (let i = 0; i < 3000; i++) yield "x".repeat(100);
          throw new Error("late");
        })();
        mlflow.getCurrentActiveSpan()!.end();
        return gen;
      });
      const g = await own();
      expect(() => [...g]).toThrow("late");
      expect(w.messages().filter((m) => m.includes("setAttribute() was called"))).toEqual([]); // (its chunks after the end are warned of, as before)
      expect((await t.only()).data.spans[0]!.attributes).not.toHaveProperty("chunks.omitted");
      w.restore();
    });

    it("bytes that are not UTF-8 make the outputs a list only when the outputs hold them: past the bound, the text stays text", async () => {
      const t = setup({ maxValueBytes: MAX });
      const body = (bad: number) =>
        mlflow.trace(function body() {
          let n = 0;
          return new ReadableStream<Uint8Array>({ pull: (c) => (n < 3000 ? c.enqueue(n++ === bad ? new Uint8Array([0xff, 0xfe]) : new TextEncoder().encode("0123456789".repeat(100))) : c.close()) });
        })();
      for (const bad of [2, 10, 2900]) await new Response(body(bad)).arrayBuffer();
      const [early, asEvent, late] = (await t.traces()).map((tr) => tr.data.spans[0]!.attributes["mlflow.spanOutputs"]);
      expect(Array.isArray(early)).toBe(true); // among the chunks the outputs hold: { bytes: 2 } is one of them
      expect((early as unknown[])[2]).toEqual({ bytes: 2 });
      for (const text of [asEvent, late]) expect(text).toMatch(/^(0123456789)+\.\.\.\[truncated \d+ chunks\]$/);
    });

    it("text beyond ASCII fills the outputs by its UTF-8 size; the smallest maxValueBytes still gives a list", async () => {
      const t = setup({ maxValueBytes: MAX });
      const japanese = mlflow.trace(function japanese() {
        let n = 0;
        return new ReadableStream<Uint8Array>({ pull: (c) => (n++ < 200 ? c.enqueue(new TextEncoder().encode("日本語のテキスト")) : c.close()) });
      });
      await new Response(japanese()).text();
      const text = (await t.only()).data.spans[0]!.attributes["mlflow.spanOutputs"] as string;
      const [, kept, n] = /^((?:日本語のテキスト)+)\.\.\.\[truncated (\d+) chunks\]$/.exec(text)!; // whole chunks, then the count
      expect(kept!.length / 8 + Number(n)).toBe(200);
      expect(new TextEncoder().encode(JSON.stringify(kept)).length).toBeGreaterThan(MAX * 0.9);
      expect(new TextEncoder().encode(JSON.stringify(text)).length).toBeLessThanOrEqual(MAX);
      const tiny = setup({ maxValueBytes: 64 });
      const few = mlflow.trace(function* few() {
        for (let i = 0; i < 50; i++) yield `item ${i}`;
      });
      [...few()];
      const outputs = (await tiny.only()).data.spans[0]!.attributes["mlflow.spanOutputs"];
      expect(Array.isArray(outputs)).toBe(true);
      expect((outputs as string[])[0]).toBe("item 0");
      expect((outputs as string[]).at(-1)).toMatch(/^\.\.\.\[truncated \d+ chunks\]$/);
    });

    it("a text that fits is kept whole, with no marker, however many chunks it came in", async () => {
      const t = setup({ maxValueBytes: MAX });
      const words = mlflow.trace(function words() {
        let n = 0;
        return new ReadableStream<Uint8Array>({ pull: (c) => (n++ < 100 ? c.enqueue(new TextEncoder().encode("x".repeat(40))) : c.close()) });
      });
      await new Response(words()).text(); // 4000 characters: 4002 bytes of JSON, within 4096
      const [span] = (await t.only()).data.spans;
      expect(span!.attributes["mlflow.spanOutputs"]).toBe("x".repeat(4000));
      expect(span!.attributes).not.toHaveProperty("chunks.omitted");
    });

    it("an outputReducer is given every chunk, though the events stop at the budget", async () => {
      const t = setup({ maxValueBytes: MAX });
      const tokens = mlflow.trace(
        async function* tokens() {
          for (let i = 0; i < 3000; i++) yield { delta: `token ${i} `.padEnd(100, ".") };
        },
        { outputReducer: (chunks: { delta: string }[]) => ({ count: chunks.length, last: chunks.at(-1)?.delta.trim() }) },
      );
      for await (const _ of tokens()) { /* read */ }
      const [span] = (await t.only()).data.spans;
      expect(span!.attributes["mlflow.spanOutputs"]).toEqual({ count: 3000, last: "token 2999 ".padEnd(100, ".").trim() });
      expect(eventJson(span!)).toBeLessThanOrEqual(16 * MAX + 200);
      expect(span!.attributes["chunks.omitted"]).toBe(3000 - span!.events.length);
    });
  });

  describe("ReadableStream results", () => {
    const bytes = (text: string) => new TextEncoder().encode(text);
    // An LLM's SSE body as a network delivers it: "é" (2 bytes in UTF-8) split across two chunks.
    const sse = ["data: {\"delta\":\"Caf", "\u00e9\"}\n\n", "data: [DONE]\n\n"];
    const sseChunks = () => {
      const all = bytes(sse.join(""));
      const cut = bytes(sse[0]!).length + 1; // in the middle of the é
      return [all.slice(0, cut), all.slice(cut, bytes(sse[0]! + sse[1]!).length), all.slice(bytes(sse[0]! + sse[1]!).length)];
    };
    const readAll = async (stream: unknown) => {
      const reader = (stream as ReadableStream).getReader();
      const chunks: unknown[] = [];
      for (let r = await reader.read(); !r.done; r = await reader.read()) chunks.push(r.value);
      return chunks;
    };
    const slowStream = (chunks: unknown[], log: string[] = []) => {
      let i = 0;
      return new ReadableStream({
        async pull(controller) {
          await sleep(10);
          if (i < chunks.length) controller.enqueue(chunks[i++]);
          else controller.close();
        },
        cancel(reason) {
          log.push(`cancelled: ${String(reason)}`);
        },
      });
    };

    it("ends the span when the stream has been read to the end, with the body's text as outputs", async () => {
      const t = setup();
      const callModel = mlflow.trace(async function callModel(prompt: string) {
        return slowStream(sseChunks());
      }, { spanType: mlflow.SpanType.LLM });
      const body = await callModel("hi");
      expect(body).toBeInstanceOf(ReadableStream);
      await sleep(5);
      expect(t.exporter.traces).toHaveLength(0); // still open: nothing read yet
      // A platform API takes it (a proxy would be refused) and sees the original bytes.
      expect(await new Response(body as ReadableStream<Uint8Array>).text()).toBe(sse.join(""));
      const trace = await t.only();
      const [span] = shape(trace);
      expect(span).toMatchObject({ name: "callModel", spanType: "LLM", inputs: { prompt: "hi" }, outputs: sse.join(""), status: "OK" });
      // One event per chunk, each the text it completed: the split é is in the second.
      expect(span!.events!.map((e) => JSON.parse(String(e.attributes!["mlflow.chunk.value"])))).toEqual(["data: {\"delta\":\"Caf", "\u00e9\"}\n\n", "data: [DONE]\n\n"]);
      const s = trace.data.spans[0]!;
      expect(s.endTime! - s.startTime).toBeGreaterThanOrEqual(30); // four reads of 10 ms, not the call alone
    });

    it("a consumer that cancels ends the span OK with the text read so far, and cancels the source", async () => {
      const t = setup();
      const log: string[] = [];
      const make = mlflow.trace(function make() {
        return slowStream(["one ", "two ", "three"].map(bytes), log);
      });
      const reader = (make() as ReadableStream<Uint8Array>).getReader();
      expect(new TextDecoder().decode((await reader.read()).value)).toBe("one ");
      await reader.cancel("user pressed stop");
      expect(log).toEqual(["cancelled: user pressed stop"]);
      const [span] = shape(await t.only());
      expect(span).toMatchObject({ name: "make", outputs: "one ", status: "OK" });
      expect(span!.events).toHaveLength(1);
    });

    it("a source that errors ends the span ERROR and the reader gets the same error", async () => {
      const t = setup();
      const broken = new TypeError("network error");
      let sent = false;
      const make = mlflow.trace(function make() {
        return new ReadableStream({
          pull(controller) {
            if (sent) controller.error(broken);
            else controller.enqueue(bytes("partial"));
            sent = true;
          },
        });
      });
      const reader = (make() as ReadableStream<Uint8Array>).getReader();
      await reader.read();
      await expect(reader.read()).rejects.toBe(broken);
      const trace = await t.only();
      expect(shape(trace)[0]).toMatchObject({ status: "ERROR" });
      expect(trace.data.spans[0]!.status.description).toBe(""); // as a generator's: the exception is in the event
      expect(trace.data.spans[0]!.events.at(-1)!.attributes).toMatchObject({ "exception.type": "TypeError", "exception.message": "network error" });
    });

    it("string chunks are joined; other values are kept as a list; bytes that are not UTF-8 are recorded by size", async () => {
      const t = setup();
      const text = mlflow.trace(function text() { return slowStream(["a", "b"]); });
      const objects = mlflow.trace(function objects() { return slowStream([{ n: 1 }, { n: 2 }]); });
      const audio = mlflow.trace(function audio() { return slowStream([new Uint8Array([0xff, 0xfe, 0x00]), bytes("ok")]); });
      for (const make of [text, objects, audio]) await readAll(make());
      const outputs = (await t.traces()).map((tr) => shape(tr)[0]!.outputs);
      expect(outputs).toEqual(["ab", [{ n: 1 }, { n: 2 }], [{ bytes: 3 }, "ok"]]);
    });

    it("an outputReducer gets the decoded text chunks", async () => {
      const t = setup();
      const make = mlflow.trace(function make() { return slowStream(["data: a\n\n", "data: b\n\n"].map(bytes)); }, {
        outputReducer: (chunks: string[]) => chunks.map((c) => c.slice(6).trim()),
      });
      await new Response(make() as ReadableStream).text();
      expect(shape(await t.only())[0]!.outputs).toEqual(["a", "b"]);
    });

    it("a locked stream (a reader already holds it) is returned untouched and the span ends at once", async () => {
      const t = setup();
      const body = new ReadableStream({ start(c) { c.enqueue(bytes("x")); c.close(); } });
      const reader = body.getReader();
      const make = mlflow.trace(function make() { return body; });
      expect(make()).toBe(body);
      expect(await t.traces()).toHaveLength(1);
      expect(new TextDecoder().decode((await reader.read()).value)).toBe("x");
    });

    it("nests under the caller, whose trace stays open until the stream is read", async () => {
      const t = setup();
      const callModel = mlflow.trace(function callModel() { return slowStream(["x", "y"]); }, { spanType: mlflow.SpanType.LLM });
      const answer = mlflow.trace(async function answer() { return callModel(); });
      const body = await answer();
      await sleep(5);
      expect(t.exporter.traces).toHaveLength(0);
      expect(await readAll(body)).toEqual(["x", "y"]);
      const spans = shape(await t.only());
      expect(spans.map((s) => [s.name, s.parent ?? null])).toEqual([["answer", null], ["callModel", "answer"]]);
    });
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

describe("stream spans: a stream dropped unfinished (garbage collected)", () => {
  setFlagsFromString("--expose-gc");
  const gc = runInNewContext("gc") as () => void;
  /** Collects until the exporter has `n` traces (finalizers run in a later task). */
  async function collectUntil(exporter: { traces: unknown[] }, n: number): Promise<void> {
    for (let i = 0; i < 100 && exporter.traces.length < n; i++) {
      gc();
      await sleep(5);
    }
  }

  it("ends at its last chunk, OK, with the chunks so far and a 'cancelled' event", async () => {
    const t = setup();
    const tokens = mlflow.trace(async function* tokens() {
      yield "a";
      yield "b";
      await new Promise(() => {}); // never ends, and the consumer stops asking
    });
    await (async () => {
      const it = tokens();
      await it.next();
      await it.next();
    })();
    await sleep(20);
    expect(t.exporter.traces).toHaveLength(0);
    await collectUntil(t.exporter, 1);
    expect(t.exporter.traces).toHaveLength(1); // exported by the collection, not by a flush
    const trace = await t.only();
    const [span] = shape(trace);
    expect(span).toMatchObject({ name: "tokens", status: "OK", outputs: ["a", "b"] });
    expect(span!.events!.map((e) => e.name)).toEqual(["mlflow.chunk.item.0", "mlflow.chunk.item.1", "cancelled"]);
    const raw = trace.data.spans[0]!;
    expect(raw.events[2]!.attributes).toEqual({ reason: "stream dropped unfinished" });
    expect(raw.endTime).toBe(raw.events[1]!.timestamp); // not the (later) moment it was collected
  });

  it("a generator returned and never iterated no longer holds its parent trace open", async () => {
    const t = setup({ openSpanTimeoutMs: 60_000 });
    const gen = mlflow.trace(function* gen() { yield 1; });
    const parent = mlflow.trace(function parent() { gen(); return "done"; });
    parent();
    await sleep(5);
    expect(t.exporter.traces).toHaveLength(0);
    await collectUntil(t.exporter, 1);
    expect(t.exporter.traces).toHaveLength(1); // exported by the collection, not by a flush
    expect(shape(await t.only()).map((s) => s.name)).toEqual(["parent"]);
  });

  it("a ReadableStream result read once and dropped ends with the text read so far", async () => {
    const t = setup();
    const body = mlflow.trace(function body() {
      const bytes = new TextEncoder();
      let n = 0;
      return new ReadableStream<Uint8Array>({ pull: (c) => c.enqueue(bytes.encode(`part${n++} `)) });
    });
    await (async () => {
      const reader = (body() as ReadableStream<Uint8Array>).getReader();
      await reader.read();
    })();
    await collectUntil(t.exporter, 1);
    expect(t.exporter.traces).toHaveLength(1); // exported by the collection, not by a flush
    const [span] = shape(await t.only());
    expect(span).toMatchObject({ name: "body", status: "OK", outputs: "part0 " });
  });

  it("a stream still held is not ended by a collection, however long it waits", async () => {
    const t = setup();
    const tokens = mlflow.trace(function* tokens() { yield "a"; yield "b"; });
    const it = tokens();
    it.next();
    for (let i = 0; i < 5; i++) {
      gc();
      await sleep(5);
    }
    expect(t.exporter.traces).toHaveLength(0);
    expect([...it]).toEqual(["b"]);
    const [span] = shape(await t.only());
    expect(span).toMatchObject({ outputs: ["a", "b"] });
    expect(span!.events!.map((e) => e.name)).toEqual(["mlflow.chunk.item.0", "mlflow.chunk.item.1"]);
  });
});

describe("Node streams returned by a traced function", () => {
  it("are values, as in Python: the span ends at return, whether the stream is piped, read by events or iterated", async () => {
    const { Readable, Writable } = await import("node:stream");
    const { once } = EventEmitter;
    const t = setup({ openSpanTimeoutMs: 60_000 });
    const open = mlflow.trace(function open(lines: string[]) { return Readable.from(lines); });
    const got: string[] = [];
    const sink = new Writable({ objectMode: true, write(chunk, _enc, done) { got.push(String(chunk)); done(); } });
    open(["a", "b"]).pipe(sink);
    await once(sink, "finish");
    const byEvents = open(["c"]);
    byEvents.on("data", (c) => got.push(String(c)));
    await once(byEvents, "end");
    for await (const c of open(["d"])) got.push(String(c));
    expect(got).toEqual(["a", "b", "c", "d"]);
    const traces = await t.traces(); // within the flush, not after the 60 s an unread stream waits
    expect(traces).toHaveLength(3);
    for (const trace of traces) {
      const span = trace.data.spans[0]!;
      expect(span.status.statusCode).toBe("STATUS_CODE_OK");
      expect(span.events.filter((e) => e.name === "cancelled")).toEqual([]);
      expect(span.outputs).toBe("[Readable]"); // a label, not its buffers
    }
  });
});

// Zone.js mode lowers async generators (zoneBuildOptions): esbuild turns `async function*` into a
// plain function returning an object with next/throw/return, which a traced call must still treat
// as a generator, however it is read.
describe("async generators a build lowered (Zone.js mode)", () => {
  type Words = (text: string) => AsyncGenerator<string>;
  async function lowered(): Promise<Words> {
    const { transformSync } = await import("esbuild");
    const src = `return trace(async function* words(text) { for (const w of text.split(" ")) { await sleep(1); yield w; } });`;
    const { code } = transformSync(src, { target: "es2017", supported: { "async-generator": false, "async-await": false, "for-await": false } });
    expect(code).toContain("__asyncGenerator"); // really lowered: a plain function
    return (new Function("trace", "sleep", code) as (trace: typeof mlflow.trace, s: typeof sleep) => Words)(mlflow.trace, sleep);
  }

  it("read with next() by hand: every chunk is recorded under the caller; the span starts at the call (the build made it a plain function)", async () => {
    const t = setup();
    const words = await lowered();
    const got: string[] = [];
    let called = 0;
    await mlflow.withSpan(async () => {
      const it = words("a b c");
      called = Date.now();
      await sleep(30);
      for (let r = await it.next(); !r.done; r = await it.next()) got.push(r.value);
    }, { name: "answer" });
    expect(got).toEqual(["a", "b", "c"]);
    const trace = await t.only();
    expect(shape(trace).map((s) => [s.name, s.parent, s.outputs ?? null])).toEqual([["answer", null, null], ["words", "answer", ["a", "b", "c"]]]);
    expect(trace.data.spans[1]!.events.map((e) => e.name)).toEqual(["mlflow.chunk.item.0", "mlflow.chunk.item.1", "mlflow.chunk.item.2"]);
    expect(trace.data.spans[1]!.startTime).toBeLessThanOrEqual(called + 1); // README: at the call, not at the first next()
  });

  it("next() then for await (the brief's form): no chunk lost; return() and throw() end the span", async () => {
    const t = setup();
    const words = await lowered();
    await mlflow.withSpan(async () => {
      const it = words("x y");
      const first = await it.next();
      const rest: string[] = [];
      for await (const w of it) rest.push(w);
      expect([first.value, ...rest]).toEqual(["x", "y"]);
    }, { name: "both" });
    await mlflow.withSpan(async () => {
      const it = words("p q r");
      await it.next();
      await it.return(undefined);
    }, { name: "early" });
    const boom = new Error("stop");
    await mlflow.withSpan(async () => {
      const it = words("p q r");
      await it.next();
      await expect(it.throw(boom)).rejects.toBe(boom);
    }, { name: "thrown" });
    const traces = (await t.traces()).map((tr) => shape(tr)[1]);
    expect(traces.map((s) => [s!.outputs ?? null, s!.status])).toEqual([[["x", "y"], "OK"], [["p"], "OK"], [null, "ERROR"]]);
  });

  it("a traced call returning a mapper over a traced generator it made: one tree, caller → chat → tokens", async () => {
    const t = setup();
    const tokens = mlflow.trace(async function* tokens() { yield "a"; yield "b"; });
    // graphql-js's mapAsyncIterator shape: a plain object with next/return/throw, its own iterable.
    const mapAsync = <T, U>(source: AsyncGenerator<T>, f: (v: T) => U) => ({
      async next() { const r = await source.next(); return r.done ? r : { done: false, value: f(r.value) }; },
      async return() { return source.return(undefined); },
      async throw(e: unknown) { return source.throw(e); },
      [Symbol.asyncIterator]() { return this; },
    });
    const chat = mlflow.trace(function chat() { return mapAsync(tokens(), (s: string) => s.toUpperCase()); });
    const seen: string[] = [];
    await mlflow.withSpan(async () => {
      for await (const v of chat() as AsyncIterable<string>) seen.push(v);
    }, { name: "caller" });
    expect(seen).toEqual(["A", "B"]);
    expect(shape(await t.only()).map((s) => [s.name, s.parent])).toEqual([["caller", null], ["chat", "caller"], ["tokens", "chat"]]);
  });

  it("Babel's lowering (Angular CLI's): a class with next/throw/return and an own _invoke, read with next(), is recorded", async () => {
    const t = setup();
    // The shape of @babel/helpers' _wrapAsyncGenerator: new AsyncGenerator(gen), methods on the class.
    class AsyncGenerator<T> {
      _invoke: (kind: "next" | "throw" | "return", arg?: unknown) => Promise<IteratorResult<T>>;
      constructor(gen: globalThis.AsyncGenerator<T>) { this._invoke = (kind, arg) => gen[kind](arg as never); }
      next(arg?: unknown) { return this._invoke("next", arg); }
      throw(arg?: unknown) { return this._invoke("throw", arg); }
      return(arg?: unknown) { return this._invoke("return", arg); }
      [Symbol.asyncIterator]() { return this; }
    }
    const words = mlflow.trace(function words(text: string) {
      return new AsyncGenerator((async function* () { for (const w of text.split(" ")) yield w; })());
    });
    await mlflow.withSpan(async () => {
      const it = words("x y z");
      for (let r = await it.next(); !r.done; r = await it.next()) { /* read by hand */ }
    }, { name: "caller" });
    expect(shape(await t.only())[1]).toMatchObject({ name: "words", outputs: ["x", "y", "z"], status: "OK" });
  });

  it("an async iterator that is more than a generator (a class with its own methods) comes back as itself", async () => {
    const t = setup();
    class Subscription {
      private items: string[];
      closed = false;
      constructor(items: string[]) { this.items = [...items]; }
      get size() { return this.items.length; }
      unsubscribe() { this.closed = true; }
      async next() { const value = this.items.shift(); return value === undefined ? { done: true as const, value: undefined } : { done: false as const, value }; }
      async return() { this.closed = true; return { done: true as const, value: undefined }; }
      async throw(e: unknown): Promise<IteratorResult<string>> { throw e; }
      [Symbol.asyncIterator]() { return this; }
    }
    const subscribe = mlflow.trace(function subscribe(topic: string) { return new Subscription([topic, "b"]); });
    const sub = subscribe("a");
    expect(sub).toBeInstanceOf(Subscription);
    expect(sub.size).toBe(2);
    const seen: string[] = [];
    for await (const m of sub) seen.push(m);
    sub.unsubscribe();
    expect(seen).toEqual(["a", "b"]);
    expect(shape(await t.only())[0]).toMatchObject({ name: "subscribe", outputs: ["a", "b"] });
  });
});

describe("a traced stream answers as the stream itself does", () => {
  it("next() settles in the same microtask as untraced, so a race with return() ends the same way", async () => {
    setup();
    async function* g() { yield 1; yield 2; }
    const orders: string[] = [];
    for (const make of [g, mlflow.trace(g)]) {
      const it = make();
      const order: string[] = [];
      void it.next().then(() => order.push("next"));
      void Promise.resolve().then(() => order.push("t1")).then(() => order.push("t2")).then(() => order.push("t3"));
      await sleep(5);
      const won = await Promise.race([it.return(undefined).then(() => "return"), Promise.resolve().then(() => 0).then(() => 0).then(() => "other")]);
      orders.push(`${order.join(",")} ${won}`);
    }
    expect(orders[1]).toBe(orders[0]); // t1,next,t2,t3 return (traced: a tick later, and the race lost)
  });

  it("an iterator without throw(): yield*'s throw closes it through return() with the runtime's TypeError, as untraced", async () => {
    setup();
    const seen: string[] = [];
    const source = () => ({
      [Symbol.asyncIterator]() {
        let i = 0;
        return { next: async () => ({ value: i++, done: false }), return: async () => (seen.push("closed"), { value: undefined, done: true }) };
      },
    });
    const outcomes: string[] = [];
    for (const make of [source, mlflow.trace(source, { name: "source" })]) {
      async function* outer() { yield* make(); }
      const o = outer();
      await o.next();
      outcomes.push(await o.throw(new Error("stop")).then(() => "no error", (e: Error) => `${e.constructor.name} ${seen.length}`));
      seen.length = 0;
    }
    expect(outcomes[0]).toMatch(/^TypeError 1$/);
    expect(outcomes[1]).toBe(outcomes[0]); // (traced: "Error 0": the source left open)
  });

  it("a next() answering null: the caller gets the runtime's own TypeError, and the span is ERROR", async () => {
    const t = setup();
    const broken = mlflow.trace(function broken() {
      return { [Symbol.asyncIterator]: () => ({ next: async () => null as unknown as IteratorResult<number> }) };
    });
    const error = await (async () => {
      for await (const _ of broken()) { /* read */ }
    })().catch((e: Error) => e);
    expect(String(error)).toBe("TypeError: Iterator result null is not an object");
    expect(shape(await t.only())[0]).toMatchObject({ name: "broken", status: "ERROR" });
  });

  it("next is read once per loop, as for await reads it: an iterator that replaces its own next() gives the same values", async () => {
    setup();
    const swapping = () => ({
      [Symbol.asyncIterator]() {
        let i = 0;
        const it: { next(): Promise<IteratorResult<unknown>> } = {
          async next() {
            it.next = async () => ({ value: "replaced", done: true });
            return i < 3 ? { value: i++, done: false } : { value: undefined, done: true };
          },
        };
        return it;
      },
    });
    const read = async (iterable: AsyncIterable<unknown>) => {
      const out: unknown[] = [];
      for await (const v of iterable) out.push(v);
      return out;
    };
    expect(await read(mlflow.trace(swapping)())).toEqual(await read(swapping()));
  });

  it("a generator function: new throws as untraced, the generators it makes are instances of it, with no own enumerable keys", () => {
    setup();
    function* g() { yield 1; }
    const traced = mlflow.trace(g);
    expect(() => new (traced as unknown as new () => unknown)()).toThrow(new TypeError("g is not a constructor"));
    const it = traced();
    expect(it instanceof g).toBe(true);
    expect(it instanceof traced).toBe(true);
    expect(Object.keys(it)).toEqual([]);
    expect(Object.prototype.toString.call(it)).toBe("[object Generator]");
    expect([...it]).toEqual([1]);
  });

  it("a cached iterable returned by an unrelated traced call: its setters still write the object's private fields", async () => {
    setup();
    class Feed {
      #topic = "a";
      set topic(value: string) { this.#topic = value; }
      get topic() { return this.#topic; }
      async *[Symbol.asyncIterator]() { yield this.#topic; }
    }
    const cached = new Feed();
    const first = mlflow.trace(function first() { return cached; });
    const second = mlflow.trace(function second() { return cached; });
    first();
    const other = second(); // another request's view of the same object
    other.topic = "b";
    expect(other.topic).toBe("b");
    const read: unknown[] = [];
    for await (const v of other) read.push(v);
    expect(read).toEqual(["b"]);
  });

  it("a frozen stream object (its reader its class's) keeps its own fields: JSON, keys and spread read as untraced, and its reading is recorded", async () => {
    const t = setup();
    class Reply {
      constructor(readonly id: number) { Object.freeze(this); }
      async *[Symbol.asyncIterator]() { yield "a"; }
    }
    const reply = mlflow.trace(function reply() { return new Reply(7); });
    const r = reply();
    expect([JSON.stringify(r), Object.keys(r), { ...r }.id, r instanceof Reply]).toEqual(['{"id":7}', ["id"], 7, true]); // (was '{}', [], undefined)
    for await (const _ of r) { /* read */ }
    expect(shape(await t.only())[0]).toMatchObject({ name: "reply", outputs: ["a"] });
  });

  it("a ReadableStream result whose reader stops asking (an RPC caller that cancelled: the source never hears) ends openSpanTimeoutMs after its last chunk; a slow source is never cut", async () => {
    const t = setup({ openSpanTimeoutMs: 60 });
    const bytes = new TextEncoder();
    const body = mlflow.trace(function body(delayMs: number) {
      let n = 0;
      return new ReadableStream<Uint8Array>({
        async pull(c) {
          await sleep(delayMs);
          if (n === 3) return c.close();
          c.enqueue(bytes.encode(`part${n++} `));
        },
      });
    });
    const stopped = (body(0) as ReadableStream<Uint8Array>).getReader();
    await stopped.read(); // then nothing: the reader is kept, never read again nor cancelled
    await sleep(150);
    // (Before: no trace at all, for as long as the stream lived.)
    expect(t.exporter.traces).toHaveLength(1);
    const [span] = shape(t.exporter.traces[0]!);
    expect(span).toMatchObject({ name: "body", status: "OK", outputs: "part0 " });
    expect(t.exporter.traces[0]!.data.spans[0]!.events.at(-1)).toMatchObject({ name: "cancelled", attributes: { reason: "stream not read for 60 ms" } });
    t.exporter.traces.length = 0;
    const slow = (body(100) as ReadableStream<Uint8Array>).getReader(); // each chunk 100 ms away: longer than the bound
    for (let r = await slow.read(); !r.done; r = await slow.read()) { /* read on */ }
    const [whole] = shape(await t.only());
    expect(whole).toMatchObject({ name: "body", status: "OK", outputs: "part0 part1 part2 " });
    expect(whole!.events!.map((e) => e.name)).not.toContain("cancelled");
  });

  it("a ReadableStream it returns stays the function's to cancel until the caller reads it (a timeout), as untraced", async () => {
    const t = setup();
    let cancelled: unknown;
    let kept: ReadableStream<string> | undefined;
    const body = mlflow.trace(function body() {
      kept = new ReadableStream<string>({ pull: (c) => c.enqueue("x"), cancel: (reason) => void (cancelled = reason) });
      return kept;
    });
    const relayed = body() as ReadableStream<string>;
    await kept!.cancel("timeout"); // (traced: 'ReadableStream is locked', the source never cancelled)
    expect(cancelled).toBe("timeout");
    expect(await relayed.getReader().read()).toEqual({ done: true, value: undefined });
    expect(shape(await t.only())[0]).toMatchObject({ name: "body", status: "OK" });
  });
});

describe("throw() into a generator that never started", () => {
  it("runs none of its body and records no span, sync and async, as Python's wrapper records none", async () => {
    const t = setup();
    let ran = 0;
    const g = mlflow.trace(function* g() { ran++; yield 1; });
    const ag = mlflow.trace(async function* ag() { ran++; yield 1; });
    const boom = new Error("in before start");
    mlflow.withSpan(() => {
      expect(() => g().throw(boom)).toThrow(boom);
    }, { name: "caller" });
    await mlflow.withSpan(async () => {
      await expect(ag().throw(boom)).rejects.toBe(boom);
    }, { name: "async caller" });
    expect(ran).toBe(0);
    expect((await t.traces()).map((tr) => shape(tr).map((s) => s.name))).toEqual([["caller"], ["async caller"]]);
  });
});

describe("return() of a generator that yields in its finally", () => {
  it("break ends the span at once, with what the generator yielded while finishing, and frees the caller's trace", async () => {
    const t = setup();
    const fy = mlflow.trace(function* fy() {
      try {
        yield 1;
        yield 2;
      } finally {
        yield "cleanup";
      }
    });
    mlflow.withSpan(() => {
      for (const v of fy()) if (v === 1) break;
    }, { name: "caller" });
    const trace = await t.only();
    expect(shape(trace)[1]).toMatchObject({ name: "fy", outputs: [1, "cleanup"], status: "OK" });
  });
});
