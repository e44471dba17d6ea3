// Every example of the product brief (MLflow's "manual tracing" page), ported to TypeScript, with
// the exact span tree each must produce. Python-only examples are ported to their JS equivalent.
import { describe, expect, it } from "vitest";
import * as mlflow from "../../core/index.js";
import { setup, shape, sleep } from "./helpers.js";

describe("decorator", () => {
  it("nests add_1 and minus_1 under 'Trace Test' with types, attributes, inputs and outputs", async () => {
    const t = setup();
    const add_1 = mlflow.trace(function add_1(x: number) { return x + 1; }, { spanType: "func", attributes: { key: "value" } });
    const minus_1 = mlflow.trace(function minus_1(x: number) { return x - 1; }, { spanType: "func", attributes: { key1: "value1" } });
    const trace_test = mlflow.trace(function trace_test(x: number) { return minus_1(add_1(x)); }, { name: "Trace Test" });

    expect(trace_test(4)).toBe(4);
    const trace = await t.only();
    expect(shape(trace)).toEqual([
      { name: "Trace Test", parent: null, spanType: "UNKNOWN", inputs: { x: 4 }, outputs: 4, status: "OK" },
      { name: "add_1", parent: "Trace Test", spanType: "func", inputs: { x: 4 }, outputs: 5, status: "OK", attrs: { key: "value" } },
      { name: "minus_1", parent: "Trace Test", spanType: "func", inputs: { x: 5 }, outputs: 4, status: "OK", attrs: { key1: "value1" } },
    ]);
    expect(trace.info.state).toBe("OK");
    expect(trace.info.tags["mlflow.traceName"]).toBe("Trace Test");
    expect(trace.data.spans[0]?.attributes["mlflow.spanFunctionName"]).toBe("trace_test");
  });

  it("traces a class method with @mlflow.trace (TC39 decorator); `this` is not an input", async () => {
    const t = setup();
    class MyClass {
      greeting = "sunny";
      @mlflow.trace({ spanType: mlflow.SpanType.LLM })
      generateText(prompt: string) {
        return `It's ${this.greeting} in Seattle!`;
      }
    }
    expect(new MyClass().generateText("weather?")).toBe("It's sunny in Seattle!");
    expect(shape(await t.only())).toEqual([
      { name: "generateText", parent: null, spanType: "LLM", inputs: { prompt: "weather?" }, outputs: "It's sunny in Seattle!", status: "OK" },
    ]);
  });

  it("suffixes duplicate span names with _1, _2 (and keeps them when dedupeSpanNames is false)", async () => {
    for (const dedupe of [true, false]) {
      const t = setup({ dedupeSpanNames: dedupe });
      const step = mlflow.trace(function step(i: number) { return i; });
      mlflow.trace(function run() { step(1); step(2); step(3); })();
      const names = shape(await t.only()).map((s) => s.name);
      expect(names).toEqual(dedupe ? ["run", "step_1", "step_2", "step_3"] : ["run", "step", "step", "step"]);
    }
  });
});

describe("function wrapping", () => {
  // math.factorial has no JS twin in the standard library: an "external" function stands in.
  function factorial(n: number): number {
    return n <= 1 ? 1 : n * factorial(n - 1);
  }

  it("wraps external functions (Math.pow) in place; each top-level call is its own trace", async () => {
    const t = setup();
    function invocation(x: number, y: number, exp = 2) {
      const tracedPow = mlflow.trace(Math.pow);
      const raised = tracedPow(x, exp);
      const tracedFactorial = mlflow.trace(factorial);
      return tracedFactorial(Math.trunc(raised));
    }
    expect(invocation(4, 2)).toBe(20922789888000);
    const traces = await t.traces();
    expect(traces.map(shape)).toEqual([
      // Math.pow is native code: its parameter names cannot be read, so inputs are positional.
      [{ name: "pow", parent: null, spanType: "UNKNOWN", inputs: { args: [4, 2] }, outputs: 16, status: "OK" }],
      [{ name: "factorial", parent: null, spanType: "UNKNOWN", inputs: { n: 16 }, outputs: 20922789888000, status: "OK" }],
    ]);
  });

  it("wraps a named async function with a custom name", async () => {
    const t = setup();
    const getWeather = async (city: string) => `The weather in ${city} is sunny`;
    const tracedGetWeather = mlflow.trace(getWeather, { name: "get-weather" });
    expect(await tracedGetWeather("San Francisco")).toBe("The weather in San Francisco is sunny");
    expect(shape(await t.only())).toEqual([
      { name: "get-weather", parent: null, spanType: "UNKNOWN", inputs: { city: "San Francisco" }, outputs: "The weather in San Francisco is sunny", status: "OK" },
    ]);
  });

  it("wraps an anonymous function, named by the option (or 'span' without one)", async () => {
    const t = setup();
    const getWeather = mlflow.trace((city: string) => `The weather in ${city} is sunny`, { name: "get-weather" });
    expect(getWeather("San Francisco")).toBe("The weather in San Francisco is sunny");
    mlflow.trace((() => (city: string) => city.length)())("Paris");
    const [named, unnamed] = await t.traces();
    expect(shape(named!)).toEqual([
      { name: "get-weather", parent: null, spanType: "UNKNOWN", inputs: { city: "San Francisco" }, outputs: "The weather in San Francisco is sunny", status: "OK" },
    ]);
    expect(shape(unnamed!)[0]).toMatchObject({ name: "span", inputs: { city: "Paris" }, outputs: 5 });
  });
});

describe("customizing spans", () => {
  it("sets name, span type and attributes from the decorator", async () => {
    const t = setup();
    class MyClass {
      @mlflow.trace({ name: "call-local-llm", spanType: mlflow.SpanType.LLM, attributes: { model: "gpt-4o-mini" } })
      generateText(prompt: string) {
        return "It's sunny in Seattle!";
      }
    }
    new MyClass().generateText("hi");
    expect(shape(await t.only())).toEqual([
      { name: "call-local-llm", parent: null, spanType: "LLM", inputs: { prompt: "hi" }, outputs: "It's sunny in Seattle!", status: "OK", attrs: { model: "gpt-4o-mini" } },
    ]);
  });

  it("updates attributes dynamically through getCurrentActiveSpan()", async () => {
    const t = setup();
    class MyClass {
      @mlflow.trace({ spanType: mlflow.SpanType.LLM })
      generateText(prompt: string) {
        const modelId = "gpt-4o-mini";
        const span = mlflow.getCurrentActiveSpan();
        span?.setAttribute("model", modelId);
        return "It's sunny in Seattle!";
      }
    }
    new MyClass().generateText("hi");
    expect(shape(await t.only())[0]).toEqual({
      name: "generateText", parent: null, spanType: "LLM", inputs: { prompt: "hi" }, outputs: "It's sunny in Seattle!", status: "OK", attrs: { model: "gpt-4o-mini" },
    });
    expect(mlflow.getCurrentActiveSpan()).toBeNull();
  });

  it("adds trace tags with updateCurrentTrace", async () => {
    const t = setup();
    class MyClass {
      @mlflow.trace({ spanType: mlflow.SpanType.LLM })
      generateText(prompt: string) {
        mlflow.updateCurrentTrace({ tags: { fruit: "apple" } });
        return "It's sunny in Seattle!";
      }
    }
    new MyClass().generateText("hi");
    const trace = await t.only();
    expect(trace.info.tags).toEqual({ fruit: "apple", "mlflow.traceName": "generateText" });
  });
});

describe("request and response previews", () => {
  it("uses the previews set in the Summarization Pipeline example", async () => {
    const t = setup();
    class MyClass {
      @mlflow.trace({ name: "Summarization Pipeline" })
      summarizeDocument(documentContent: string, userInstructions: string) {
        const requestPreview = `Doc: ${documentContent.slice(0, 30)}... Instr: ${userInstructions.slice(0, 30)}...`;
        mlflow.updateCurrentTrace({ requestPreview });
        const summary = `Summary of document starting with '${documentContent.slice(0, 20)}...' based on '${userInstructions}'`;
        const responsePreview = `Summary: ${summary.slice(0, 50)}...`;
        mlflow.updateCurrentTrace({ responsePreview });
        return summary;
      }
    }
    const longDocument = "This is a very long document that contains many details about various topics...".repeat(10);
    const instructions = "Focus on the key takeaways regarding topic X.";
    const summary = new MyClass().summarizeDocument(longDocument, instructions);
    const trace = await t.only();
    expect(trace.info.requestPreview).toBe("Doc: This is a very long document t... Instr: Focus on the key takeaways reg...");
    expect(trace.info.responsePreview).toBe("Summary: Summary of document starting with 'This is a very ...");
    expect(summary).toBe(`Summary of document starting with 'This is a very long ...' based on '${instructions}'`);
    expect(shape(trace)[0]).toMatchObject({ name: "Summarization Pipeline", inputs: { documentContent: longDocument, userInstructions: instructions } });
    // Without an override the default preview is the JSON of the inputs, cut to 1000 chars.
    const t2 = setup();
    const longerDocument = longDocument.repeat(2);
    mlflow.trace(function summarize(documentContent: string) { return documentContent.length; })(longerDocument);
    const info = (await t2.only()).info;
    expect(info.requestPreview).toHaveLength(1000);
    expect(info.requestPreview).toBe(`{"documentContent": "${longerDocument}"}`.slice(0, 997) + "...");
    expect(info.responsePreview).toBe(String(longerDocument.length));
  });
});

describe("code blocks", () => {
  it("records a withSpan block with inputs and outputs set by hand", async () => {
    const t = setup();
    const result = await mlflow.withSpan(
      async (span: mlflow.Span) => {
        const x = 1;
        const y = 2;
        span.setInputs({ x, y });
        const z = x + y;
        span.setOutputs(z);
      },
      { name: "MySpan" },
    );
    expect(result).toBeUndefined();
    expect(shape(await t.only())).toEqual([{ name: "MySpan", parent: null, spanType: "UNKNOWN", inputs: { x: 1, y: 2 }, outputs: 3, status: "OK" }]);
  });

  it("combines a CHAIN method, per-turn withSpan blocks and traced LLM calls (the chat session example)", async () => {
    const t = setup();
    // Stand-ins for readline and OpenAI: the user types two lines then BYE; the "model" echoes.
    const typed = ["Hello", "How are you?", "BYE"];
    const getUserInput = async (_prompt: string) => { await sleep(1); return typed.shift() ?? "BYE"; };
    const create = mlflow.trace(
      async function create(request: { model: string; max_tokens: number; messages: { role: string; content: string }[] }) {
        await sleep(1);
        const last = request.messages[request.messages.length - 1]!;
        return { choices: [{ message: { role: "assistant", content: `You said: ${last.content}` } }] };
      },
      { name: "Completions", spanType: mlflow.SpanType.CHAT_MODEL },
    );
    class MyClass {
      @mlflow.trace({ spanType: mlflow.SpanType.CHAIN })
      async startSession() {
        const messages = [{ role: "system", content: "You are a friendly chat bot" }];
        while (true) {
          let userInput = "";
          await mlflow.withSpan(
            async (span) => {
              span.setInputs({ messages });
              userInput = await getUserInput(">> ");
              span.setOutputs({ userInput });
            },
            { name: "User" },
          );
          if (userInput === "BYE") break;
          messages.push({ role: "user", content: userInput });
          const response = await create({ model: "gpt-4o-mini", max_tokens: 100, messages });
          messages.push({ role: "assistant", content: response.choices[0]!.message.content });
        }
      }
    }
    await new MyClass().startSession();
    const trace = await t.only();
    const sys = { role: "system", content: "You are a friendly chat bot" };
    const u1 = { role: "user", content: "Hello" };
    const a1 = { role: "assistant", content: "You said: Hello" };
    const u2 = { role: "user", content: "How are you?" };
    const a2 = { role: "assistant", content: "You said: How are you?" };
    expect(shape(trace)).toEqual([
      { name: "startSession", parent: null, spanType: "CHAIN", inputs: {}, outputs: null, status: "OK" },
      // Inputs are captured when set: later pushes to `messages` do not rewrite earlier spans.
      { name: "User_1", parent: "startSession", spanType: "UNKNOWN", inputs: { messages: [sys] }, outputs: { userInput: "Hello" }, status: "OK" },
      { name: "Completions_1", parent: "startSession", spanType: "CHAT_MODEL", inputs: { request: { model: "gpt-4o-mini", max_tokens: 100, messages: [sys, u1] } }, outputs: { choices: [{ message: a1 }] }, status: "OK" },
      { name: "User_2", parent: "startSession", spanType: "UNKNOWN", inputs: { messages: [sys, u1, a1] }, outputs: { userInput: "How are you?" }, status: "OK" },
      { name: "Completions_2", parent: "startSession", spanType: "CHAT_MODEL", inputs: { request: { model: "gpt-4o-mini", max_tokens: 100, messages: [sys, u1, a1, u2] } }, outputs: { choices: [{ message: a2 }] }, status: "OK" },
      { name: "User_3", parent: "startSession", spanType: "UNKNOWN", inputs: { messages: [sys, u1, a1, u2, a2] }, outputs: { userInput: "BYE" }, status: "OK" },
    ]);
  });
});

describe("automatic exception handling", () => {
  class ValueError extends Error {}

  it("marks the span ERROR, records an exception event, keeps what was captured and rethrows the same error", async () => {
    const t = setup();
    const thrown = new ValueError("Some error");
    const child = mlflow.trace(function child(x: number) { return x * 2; });
    const parse = mlflow.trace(function parse(text: string) {
      child(21);
      mlflow.getCurrentActiveSpan()?.setAttribute("stage", "parsing");
      throw thrown;
    });
    let caught: unknown;
    try {
      parse("{bad json");
    } catch (error) {
      caught = error;
    }
    expect(caught).toBe(thrown);
    const trace = await t.only();
    const root = trace.data.spans[0]!;
    expect(root.status).toEqual({ statusCode: "STATUS_CODE_ERROR", description: "ValueError: Some error" });
    expect(root.events).toHaveLength(1);
    expect(root.events[0]!.name).toBe("exception");
    expect(root.events[0]!.attributes).toMatchObject({ "exception.type": "ValueError", "exception.message": "Some error" });
    expect(String(root.events[0]!.attributes["exception.stacktrace"])).toMatch(/Some error\n\s+at /);
    expect(shape(trace).map(({ events, ...s }) => s)).toEqual([
      { name: "parse", parent: null, spanType: "UNKNOWN", inputs: { text: "{bad json" }, status: "ERROR", attrs: { stage: "parsing" } },
      { name: "child", parent: "parse", spanType: "UNKNOWN", inputs: { x: 21 }, outputs: 42, status: "OK" },
    ]);
    expect(trace.info.state).toBe("ERROR");
  });

  it("records async rejections the same way and passes the rejection through", async () => {
    const t = setup();
    const failing = mlflow.trace(async function fetchDoc(id: string) {
      await sleep(1);
      throw new TypeError(`no document ${id}`);
    });
    await expect(failing("42")).rejects.toThrow(new TypeError("no document 42"));
    const root = (await t.only()).data.spans[0]!;
    expect(root.status.description).toBe("TypeError: no document 42");
    expect(root.events.map((e) => e.name)).toEqual(["exception"]);
  });
});

describe("@mlflow.trace with other decorators", () => {
  function simpleTimingDecorator<A extends unknown[], R>(fn: (...args: A) => Promise<R>, _ctx: ClassMethodDecoratorContext) {
    return async function (this: unknown, ...args: A): Promise<R> {
      const start = Date.now();
      const result = await fn.apply(this, args);
      timings.push(Date.now() - start);
      return result;
    };
  }
  const timings: number[] = [];

  it("outermost: the span covers the inner decorator's work", async () => {
    const t = setup();
    class Service {
      @mlflow.trace({ name: "my_decorated_function_correct_order" })
      @simpleTimingDecorator
      async myComplexFunction(x: number, y: number) {
        await sleep(30);
        return x + y;
      }
    }
    expect(await new Service().myComplexFunction(5, 3)).toBe(8);
    const trace = await t.only();
    // The inner decorator replaced the method with `(...args)`, so the names are those it exposes.
    expect(shape(trace)).toEqual([{ name: "my_decorated_function_correct_order", parent: null, spanType: "UNKNOWN", inputs: { args: [5, 3] }, outputs: 8, status: "OK" }]);
    const span = trace.data.spans[0]!;
    expect(span.endTime! - span.startTime).toBeGreaterThanOrEqual(25);
  });

  it("not outermost: the span sees the original method's arguments but not the outer decorator", async () => {
    const t = setup();
    class Service {
      @simpleTimingDecorator
      @mlflow.trace({ name: "my_decorated_function_incorrect_order" })
      async myOtherComplexFunction(x: number, y: number) {
        await sleep(5);
        return x * y;
      }
    }
    expect(await new Service().myOtherComplexFunction(5, 3)).toBe(15);
    expect(shape(await t.only())).toEqual([
      { name: "my_decorated_function_incorrect_order", parent: null, spanType: "UNKNOWN", inputs: { x: 5, y: 3 }, outputs: 15, status: "OK" },
    ]);
  });
});

describe("streaming", () => {
  it("records a generator: one span, every element as a chunk event, outputs = the list", async () => {
    const t = setup();
    const stream_data = mlflow.trace(function* stream_data() {
      for (let i = 0; i < 5; i++) yield i;
    });
    const created = Date.now();
    const gen = stream_data();
    await sleep(15);
    expect(t.exporter.traces).toHaveLength(0);
    expect([...gen]).toEqual([0, 1, 2, 3, 4]);
    const trace = await t.only();
    expect(shape(trace)).toEqual([
      {
        name: "stream_data", parent: null, spanType: "UNKNOWN", inputs: {}, outputs: [0, 1, 2, 3, 4], status: "OK",
        events: [0, 1, 2, 3, 4].map((i) => ({ name: `mlflow.chunk.item.${i}`, attributes: { "mlflow.chunk.value": String(i) } })),
      },
    ]);
    // The span starts when iteration starts, not when the generator is created.
    expect(trace.data.spans[0]!.startTime).toBeGreaterThanOrEqual(created + 10);
  });

  it("aggregates chunks with outputReducer; raw chunks stay as events", async () => {
    const t = setup();
    const stream_data = mlflow.trace(
      function* stream_data() {
        for (const c of "hello") yield c;
      },
      { outputReducer: (chunks: string[]) => chunks.join(",") },
    );
    expect([...stream_data()].join("")).toBe("hello");
    const [span] = shape(await t.only());
    expect(span!.outputs).toBe("h,e,l,l,o");
    expect(span!.events!.map((e) => e.attributes["mlflow.chunk.value"])).toEqual(['"h"', '"e"', '"l"', '"l"', '"o"']);
  });

  it("merges OpenAI-style ChatCompletionChunks into one ChatCompletion with a custom reducer", async () => {
    const t = setup();
    type Delta = { role?: string; content?: string | null; tool_calls?: unknown[] };
    type Chunk = { id: string; created: number; model: string; object: "chat.completion.chunk"; choices: { index: number; delta: Delta; finish_reason: string | null }[] };
    const chunk = (delta: Delta, finish_reason: string | null = null): Chunk => ({
      id: "chatcmpl-1", created: 1718000000, model: "gpt-4o-mini", object: "chat.completion.chunk", choices: [{ index: 0, delta, finish_reason }],
    });
    async function* fakeOpenAIStream() {
      for (const c of [chunk({ role: "assistant", content: "" }), chunk({ content: "Hel" }), chunk({ content: "lo!" }), chunk({}, "stop")]) {
        await sleep(1);
        yield c;
      }
    }
    function aggregateChunks(outputs: Chunk[]) {
      if (!outputs.length) return null;
      const first = outputs[0]!;
      const delta = first.choices[0]!.delta;
      const message = { role: delta.role, content: delta.content ?? "", tool_calls: [...(delta.tool_calls ?? [])] };
      let finishReason = first.choices[0]!.finish_reason;
      for (const c of outputs.slice(1)) {
        message.content += c.choices[0]!.delta.content ?? "";
        message.tool_calls.push(...(c.choices[0]!.delta.tool_calls ?? []));
        finishReason = finishReason ?? c.choices[0]!.finish_reason;
      }
      return { id: first.id, choices: [{ index: 0, message, finish_reason: finishReason }], created: first.created, model: first.model, object: "chat.completion" };
    }
    const predict = mlflow.trace(
      async function* predict(messages: { role: string; content: string }[]) {
        for await (const c of fakeOpenAIStream()) yield c;
      },
      { outputReducer: aggregateChunks },
    );
    const received: Chunk[] = [];
    for await (const c of predict([{ role: "user", content: "Hello" }])) received.push(c);
    expect(received).toHaveLength(4);
    const [span] = shape(await t.only());
    expect(span!.inputs).toEqual({ messages: [{ role: "user", content: "Hello" }] });
    expect(span!.outputs).toEqual({
      id: "chatcmpl-1", choices: [{ index: 0, message: { role: "assistant", content: "Hello!", tool_calls: [] }, finish_reason: "stop" }],
      created: 1718000000, model: "gpt-4o-mini", object: "chat.completion",
    });
    expect(span!.events!.map((e) => e.name)).toEqual(["mlflow.chunk.item.0", "mlflow.chunk.item.1", "mlflow.chunk.item.2", "mlflow.chunk.item.3"]);
    expect(JSON.parse(String(span!.events![1]!.attributes["mlflow.chunk.value"]))).toEqual(received[1]);
  });
});

describe("concurrency (the brief's thread pool, done with concurrent promises)", () => {
  it("keeps each worker's LLM call under its own worker, all under main", async () => {
    const t = setup();
    const llm = mlflow.trace(
      async function completions(question: string) {
        await sleep(question.includes("France") ? 20 : 5); // finish out of order on purpose
        return question.includes("France") ? "Paris" : "Berlin";
      },
      { spanType: mlflow.SpanType.CHAT_MODEL },
    );
    const worker = mlflow.trace(async function worker(question: string) {
      await sleep(1);
      return llm(question);
    });
    const main = mlflow.trace(async function main(questions: string[]) {
      return Promise.all(questions.map((q) => worker(q)));
    });
    expect(await main(["What is the capital of France?", "What is the capital of Germany?"])).toEqual(["Paris", "Berlin"]);
    const trace = await t.only();
    const spans = trace.data.spans;
    const byId = new Map(spans.map((s) => [s.spanId, s]));
    const workers = spans.filter((s) => s.name.startsWith("worker"));
    const llms = spans.filter((s) => s.name.startsWith("completions"));
    expect(workers).toHaveLength(2);
    for (const w of workers) expect(byId.get(w.parentId!)!.name).toBe("main");
    for (const l of llms) {
      const parent = byId.get(l.parentId!)!;
      expect(parent.name.startsWith("worker")).toBe(true);
      expect(parent.inputs).toEqual(l.inputs ? { question: (l.inputs as { question: string }).question } : undefined);
    }
  });
});

describe("async support", () => {
  it("nests each awaited async_operation under async_pipeline, in order", async () => {
    const t = setup();
    const async_operation = mlflow.trace(async function async_operation(data: string) {
      await sleep(2);
      return `Processed: ${data}`;
    });
    const async_pipeline = mlflow.trace(async function async_pipeline(items: string[]) {
      const results: string[] = [];
      for (const item of items) results.push(await async_operation(item));
      return results;
    });
    const out = await async_pipeline(["item1", "item2", "item3"]);
    expect(out).toEqual(["Processed: item1", "Processed: item2", "Processed: item3"]);
    expect(shape(await t.only())).toEqual([
      { name: "async_pipeline", parent: null, spanType: "UNKNOWN", inputs: { items: ["item1", "item2", "item3"] }, outputs: out, status: "OK" },
      ...[1, 2, 3].map((i) => ({
        name: `async_operation_${i}`, parent: "async_pipeline", spanType: "UNKNOWN", inputs: { data: `item${i}` }, outputs: `Processed: item${i}`, status: "OK",
      })),
    ]);
  });
});
