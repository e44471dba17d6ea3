// The product brief's examples (MLflow's manual-tracing page), ported to TypeScript, each with the
// exact traces it must produce. One source for every runtime: the Node tests, the browser pages and
// the MLflow round-trip tests all run these programs and compare with `expected`.
import * as mlflow from "../../core/index.js";
import type { Json } from "../../core/index.js";
import type { SpanShape, TraceShape } from "./shape.js";

export interface Program {
  name: string;
  /** Runs the example; resolves when it is done (traces may still need flushTraces()). */
  run(): unknown;
  expected: TraceShape[];
  /** Needs the active span to survive `await` (AsyncLocalStorage, or Zone.js with async lowered). */
  nestsAcrossAwait?: boolean;
  /** init() options the example needs besides the exporter. */
  init?: { dedupeSpanNames?: boolean };
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const ok = (name: string, spans: SpanShape[], extra: Partial<TraceShape> = {}): TraceShape => ({
  spans, state: "OK", tags: { "mlflow.traceName": name }, ...extra,
});
const root = (name: string, rest: Omit<SpanShape, "name" | "parent" | "status" | "spanType"> & { spanType?: string; status?: string }): SpanShape => ({
  name, parent: null, spanType: "UNKNOWN", status: "OK", ...rest,
});
const child = (name: string, parent: string, rest: Omit<SpanShape, "name" | "parent" | "status" | "spanType"> & { spanType?: string; status?: string }): SpanShape => ({
  name, parent, spanType: "UNKNOWN", status: "OK", ...rest,
});

class ValueError extends Error {}
function factorial(n: number): number {
  return n <= 1 ? 1 : n * factorial(n - 1);
}
export const longDocument = "This is a very long document that contains many details about various topics...".repeat(10);
export const instructions = "Focus on the key takeaways regarding topic X.";

type Delta = { role?: string; content?: string | null; tool_calls?: unknown[] };
type Chunk = { id: string; created: number; model: string; object: "chat.completion.chunk"; choices: { index: number; delta: Delta; finish_reason: string | null }[] };
const chunk = (delta: Delta, finish_reason: string | null = null): Chunk => ({
  id: "chatcmpl-1", created: 1718000000, model: "gpt-4o-mini", object: "chat.completion.chunk", choices: [{ index: 0, delta, finish_reason }],
});
const openaiChunks = [chunk({ role: "assistant", content: "" }), chunk({ content: "Hel" }), chunk({ content: "lo!" }), chunk({}, "stop")];
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

const sys = { role: "system", content: "You are a friendly chat bot" };
const u1 = { role: "user", content: "Hello" };
const a1 = { role: "assistant", content: "You said: Hello" };
const u2 = { role: "user", content: "How are you?" };
const a2 = { role: "assistant", content: "You said: How are you?" };
const completion = (message: { role: string; content: string }) => ({ choices: [{ message }] });

export const programs: Program[] = [
  {
    name: "decorator: add_1 and minus_1 under 'Trace Test'",
    run() {
      const add_1 = mlflow.trace(function add_1(x: number) { return x + 1; }, { spanType: "func", attributes: { key: "value" } });
      const minus_1 = mlflow.trace(function minus_1(x: number) { return x - 1; }, { spanType: "func", attributes: { key1: "value1" } });
      const trace_test = mlflow.trace(function trace_test(x: number) { return minus_1(add_1(x)); }, { name: "Trace Test" });
      return trace_test(4);
    },
    expected: [ok("Trace Test", [
      root("Trace Test", { inputs: { x: 4 }, outputs: 4 }),
      child("add_1", "Trace Test", { spanType: "func", inputs: { x: 4 }, outputs: 5, attrs: { key: "value" } }),
      child("minus_1", "Trace Test", { spanType: "func", inputs: { x: 5 }, outputs: 4, attrs: { key1: "value1" } }),
    ], { requestPreview: '{"x": 4}', responsePreview: "4" })],
  },
  {
    name: "decorator: a class method (TC39 @mlflow.trace)",
    run() {
      class MyClass {
        @mlflow.trace({ spanType: mlflow.SpanType.LLM })
        generateText(prompt: string) { return "It's sunny in Seattle!"; }
      }
      return new MyClass().generateText("weather?");
    },
    expected: [ok("generateText", [root("generateText", { spanType: "LLM", inputs: { prompt: "weather?" }, outputs: "It's sunny in Seattle!" })], {
      requestPreview: '{"prompt": "weather?"}', responsePreview: '"It\'s sunny in Seattle!"',
    })],
  },
  {
    name: "decorator: duplicate span names get _1, _2",
    run() {
      const step = mlflow.trace(function step(i: number) { return i; });
      return mlflow.trace(function run() { step(1); step(2); })();
    },
    expected: [ok("run", [
      root("run", { inputs: {}, outputs: null }),
      child("step_1", "run", { inputs: { i: 1 }, outputs: 1 }),
      child("step_2", "run", { inputs: { i: 2 }, outputs: 2 }),
    ], { requestPreview: "{}", responsePreview: "null" })],
  },
  {
    name: "wrapping: external functions (Math.pow, factorial), each call its own trace",
    run() {
      function invocation(x: number, y: number, exp = 2) {
        const tracedPow = mlflow.trace(Math.pow);
        const raised = tracedPow(x, exp);
        const tracedFactorial = mlflow.trace(factorial);
        return tracedFactorial(Math.trunc(raised));
      }
      return invocation(4, 2);
    },
    expected: [
      // Math.pow is native code: its parameter names cannot be read, so inputs are positional.
      ok("pow", [root("pow", { inputs: { args: [4, 2] }, outputs: 16 })], { requestPreview: '{"args": [4, 2]}', responsePreview: "16" }),
      ok("factorial", [root("factorial", { inputs: { n: 16 }, outputs: 20922789888000 })], { requestPreview: '{"n": 16}', responsePreview: "20922789888000" }),
    ],
  },
  {
    name: "wrapping: a named async function with a custom name",
    run() {
      const getWeather = async (city: string) => `The weather in ${city} is sunny`;
      return mlflow.trace(getWeather, { name: "get-weather" })("San Francisco");
    },
    expected: [ok("get-weather", [root("get-weather", { inputs: { city: "San Francisco" }, outputs: "The weather in San Francisco is sunny" })], {
      requestPreview: '{"city": "San Francisco"}', responsePreview: '"The weather in San Francisco is sunny"',
    })],
  },
  {
    name: "wrapping: an anonymous function named by the option",
    run() {
      const getWeather = mlflow.trace((city: string) => `The weather in ${city} is sunny`, { name: "get-weather" });
      return getWeather("San Francisco");
    },
    expected: [ok("get-weather", [root("get-weather", { inputs: { city: "San Francisco" }, outputs: "The weather in San Francisco is sunny" })], {
      requestPreview: '{"city": "San Francisco"}', responsePreview: '"The weather in San Francisco is sunny"',
    })],
  },
  {
    name: "customizing: name, span type and attributes",
    run() {
      class MyClass {
        @mlflow.trace({ name: "call-local-llm", spanType: mlflow.SpanType.LLM, attributes: { model: "gpt-4o-mini" } })
        generateText(prompt: string) { return "It's sunny in Seattle!"; }
      }
      return new MyClass().generateText("hi");
    },
    expected: [ok("call-local-llm", [root("call-local-llm", { spanType: "LLM", inputs: { prompt: "hi" }, outputs: "It's sunny in Seattle!", attrs: { model: "gpt-4o-mini" } })], {
      requestPreview: '{"prompt": "hi"}', responsePreview: '"It\'s sunny in Seattle!"',
    })],
  },
  {
    name: "customizing: attributes set through getCurrentActiveSpan()",
    run() {
      class MyClass {
        @mlflow.trace({ spanType: mlflow.SpanType.LLM })
        generateText(prompt: string) {
          const modelId = "gpt-4o-mini";
          mlflow.getCurrentActiveSpan()?.setAttribute("model", modelId);
          return "It's sunny in Seattle!";
        }
      }
      return new MyClass().generateText("hi");
    },
    expected: [ok("generateText", [root("generateText", { spanType: "LLM", inputs: { prompt: "hi" }, outputs: "It's sunny in Seattle!", attrs: { model: "gpt-4o-mini" } })], {
      requestPreview: '{"prompt": "hi"}', responsePreview: '"It\'s sunny in Seattle!"',
    })],
  },
  {
    name: "tags: updateCurrentTrace({ tags })",
    run() {
      class MyClass {
        @mlflow.trace({ spanType: mlflow.SpanType.LLM })
        generateText(prompt: string) {
          mlflow.updateCurrentTrace({ tags: { fruit: "apple" } });
          return "It's sunny in Seattle!";
        }
      }
      return new MyClass().generateText("hi");
    },
    expected: [{
      spans: [root("generateText", { spanType: "LLM", inputs: { prompt: "hi" }, outputs: "It's sunny in Seattle!" })],
      state: "OK", tags: { fruit: "apple", "mlflow.traceName": "generateText" }, requestPreview: '{"prompt": "hi"}', responsePreview: '"It\'s sunny in Seattle!"',
    }],
  },
  {
    name: "previews: the Summarization Pipeline sets request and response previews",
    run() {
      class MyClass {
        @mlflow.trace({ name: "Summarization Pipeline" })
        summarizeDocument(documentContent: string, userInstructions: string) {
          const requestPreview = `Doc: ${documentContent.slice(0, 30)}... Instr: ${userInstructions.slice(0, 30)}...`;
          mlflow.updateCurrentTrace({ requestPreview });
          const summary = `Summary of document starting with '${documentContent.slice(0, 20)}...' based on '${userInstructions}'`;
          mlflow.updateCurrentTrace({ responsePreview: `Summary: ${summary.slice(0, 50)}...` });
          return summary;
        }
      }
      return new MyClass().summarizeDocument(longDocument, instructions);
    },
    expected: [ok("Summarization Pipeline", [
      root("Summarization Pipeline", {
        inputs: { documentContent: longDocument, userInstructions: instructions },
        outputs: `Summary of document starting with 'This is a very long ...' based on '${instructions}'`,
      }),
    ], {
      requestPreview: "Doc: This is a very long document t... Instr: Focus on the key takeaways reg...",
      responsePreview: "Summary: Summary of document starting with 'This is a very ...",
    })],
  },
  {
    name: "code block: withSpan with inputs and outputs set by hand",
    run() {
      return mlflow.withSpan(async (span: mlflow.Span) => {
        const x = 1;
        const y = 2;
        span.setInputs({ x, y });
        span.setOutputs(x + y);
      }, { name: "MySpan" });
    },
    expected: [ok("MySpan", [root("MySpan", { inputs: { x: 1, y: 2 }, outputs: 3 })], { requestPreview: '{"x": 1, "y": 2}', responsePreview: "3" })],
  },
  {
    name: "code block: a CHAIN session with per-turn withSpan blocks and LLM calls",
    nestsAcrossAwait: true,
    async run() {
      const typed = ["Hello", "How are you?", "BYE"];
      const getUserInput = async (_prompt: string) => { await sleep(1); return typed.shift() ?? "BYE"; };
      // A stand-in for tracedOpenAI(new OpenAI()).chat.completions.create
      const create = mlflow.trace(async function create(request: { model: string; max_tokens: number; messages: { role: string; content: string }[] }) {
        await sleep(1);
        return completion({ role: "assistant", content: `You said: ${request.messages[request.messages.length - 1]!.content}` });
      }, { name: "Completions", spanType: mlflow.SpanType.CHAT_MODEL });
      class MyClass {
        @mlflow.trace({ spanType: mlflow.SpanType.CHAIN })
        async startSession() {
          const messages = [{ role: "system", content: "You are a friendly chat bot" }];
          while (true) {
            let userInput = "";
            await mlflow.withSpan(async (span) => {
              span.setInputs({ messages });
              userInput = await getUserInput(">> ");
              span.setOutputs({ userInput });
            }, { name: "User" });
            if (userInput === "BYE") break;
            messages.push({ role: "user", content: userInput });
            const response = await create({ model: "gpt-4o-mini", max_tokens: 100, messages });
            messages.push({ role: "assistant", content: response.choices[0]!.message.content });
          }
        }
      }
      await new MyClass().startSession();
    },
    expected: [ok("startSession", [
      root("startSession", { spanType: "CHAIN", inputs: {}, outputs: null }),
      // Inputs are captured when set: later pushes to `messages` do not rewrite earlier spans.
      child("User_1", "startSession", { inputs: { messages: [sys] }, outputs: { userInput: "Hello" } }),
      child("Completions_1", "startSession", { spanType: "CHAT_MODEL", inputs: { request: { model: "gpt-4o-mini", max_tokens: 100, messages: [sys, u1] } }, outputs: completion(a1) }),
      child("User_2", "startSession", { inputs: { messages: [sys, u1, a1] }, outputs: { userInput: "How are you?" } }),
      child("Completions_2", "startSession", { spanType: "CHAT_MODEL", inputs: { request: { model: "gpt-4o-mini", max_tokens: 100, messages: [sys, u1, a1, u2] } }, outputs: completion(a2) }),
      child("User_3", "startSession", { inputs: { messages: [sys, u1, a1, u2, a2] }, outputs: { userInput: "BYE" } }),
    ], { requestPreview: "{}", responsePreview: "null" })],
  },
  {
    name: "exceptions: ERROR status, an exception event, partial data kept, error rethrown",
    run() {
      const childFn = mlflow.trace(function child(x: number) { return x * 2; });
      const parse = mlflow.trace(function parse(text: string) {
        childFn(21);
        mlflow.getCurrentActiveSpan()?.setAttribute("stage", "parsing");
        throw new ValueError("Some error");
      });
      try {
        parse("{bad json");
      } catch (error) {
        if (!(error instanceof ValueError)) throw error;
        return "rethrown";
      }
      throw new Error("the error did not reach the caller");
    },
    expected: [{
      spans: [
        root("parse", {
          inputs: { text: "{bad json" }, status: "ERROR", attrs: { stage: "parsing" },
          events: [{ name: "exception", attributes: { "exception.type": "ValueError", "exception.message": "Some error", "exception.stacktrace": "<stack>" } }],
        }),
        child("child", "parse", { inputs: { x: 21 }, outputs: 42 }),
      ],
      state: "ERROR", tags: { "mlflow.traceName": "parse" }, requestPreview: '{"text": "{bad json"}', responsePreview: "",
    }],
  },
  {
    name: "other decorators: @trace outermost sees the whole call",
    async run() {
      function timing<A extends unknown[], R>(fn: (...args: A) => Promise<R>, _ctx: ClassMethodDecoratorContext) {
        return async function (this: unknown, ...args: A): Promise<R> {
          const start = Date.now();
          const result = await fn.apply(this, args);
          void (Date.now() - start);
          return result;
        };
      }
      class Service {
        @mlflow.trace({ name: "my_decorated_function_correct_order" })
        @timing
        async myComplexFunction(x: number, y: number) { await sleep(5); return x + y; }

        @timing
        @mlflow.trace({ name: "my_decorated_function_incorrect_order" })
        async myOtherComplexFunction(x: number, y: number) { await sleep(5); return x * y; }
      }
      const s = new Service();
      await s.myComplexFunction(5, 3);
      await s.myOtherComplexFunction(5, 3);
    },
    expected: [
      // The inner decorator replaced the method with `(...args)`: those are the names @trace sees.
      ok("my_decorated_function_correct_order", [root("my_decorated_function_correct_order", { inputs: { args: [5, 3] }, outputs: 8 })], { requestPreview: '{"args": [5, 3]}', responsePreview: "8" }),
      ok("my_decorated_function_incorrect_order", [root("my_decorated_function_incorrect_order", { inputs: { x: 5, y: 3 }, outputs: 15 })], { requestPreview: '{"x": 5, "y": 3}', responsePreview: "15" }),
    ],
  },
  {
    name: "streaming: a generator records every element as a chunk event",
    run() {
      const stream_data = mlflow.trace(function* stream_data() {
        for (let i = 0; i < 5; i++) yield i;
      });
      return [...stream_data()];
    },
    expected: [ok("stream_data", [root("stream_data", {
      inputs: {}, outputs: [0, 1, 2, 3, 4],
      events: [0, 1, 2, 3, 4].map((i) => ({ name: `mlflow.chunk.item.${i}`, attributes: { "mlflow.chunk.value": String(i) } })),
    })], { requestPreview: "{}", responsePreview: "[0, 1, 2, 3, 4]" })],
  },
  {
    name: "streaming: outputReducer joins the chunks",
    run() {
      const stream_data = mlflow.trace(function* stream_data() {
        for (const c of "hello") yield c;
      }, { outputReducer: (chunks: string[]) => chunks.join(",") });
      return [...stream_data()].join("");
    },
    expected: [ok("stream_data", [root("stream_data", {
      inputs: {}, outputs: "h,e,l,l,o",
      events: [..."hello"].map((c, i) => ({ name: `mlflow.chunk.item.${i}`, attributes: { "mlflow.chunk.value": `"${c}"` } })),
    })], { requestPreview: "{}", responsePreview: '"h,e,l,l,o"' })],
  },
  {
    name: "streaming: an OpenAI-style chunk aggregator",
    async run() {
      async function* fakeOpenAIStream() {
        for (const c of openaiChunks) {
          await sleep(1);
          yield c;
        }
      }
      const predict = mlflow.trace(async function* predict(messages: { role: string; content: string }[]) {
        for await (const c of fakeOpenAIStream()) yield c;
      }, { outputReducer: aggregateChunks });
      const received: Chunk[] = [];
      for await (const c of predict([{ role: "user", content: "Hello" }])) received.push(c);
      return received.length;
    },
    expected: [ok("predict", [root("predict", {
      inputs: { messages: [{ role: "user", content: "Hello" }] },
      outputs: aggregateChunks(openaiChunks) as unknown as Json,
      events: openaiChunks.map((c, i) => ({ name: `mlflow.chunk.item.${i}`, attributes: { "mlflow.chunk.value": pyDumpsChunk(c) } })),
    })], { requestPreview: "Hello", responsePreview: "Hello!" })],
  },
  {
    name: "concurrency: the thread-pool example with concurrent promises",
    nestsAcrossAwait: true,
    async run() {
      const completions = mlflow.trace(async function completions(question: string) {
        await sleep(question.includes("France") ? 15 : 3); // finish out of order on purpose
        return question.includes("France") ? "Paris" : "Berlin";
      }, { spanType: mlflow.SpanType.CHAT_MODEL });
      const worker = mlflow.trace(async function worker(question: string) {
        await sleep(1);
        return completions(question);
      });
      const main = mlflow.trace(async function main(questions: string[]) {
        return Promise.all(questions.map((q) => worker(q)));
      });
      return main(["What is the capital of France?", "What is the capital of Germany?"]);
    },
    expected: [ok("main", [
      root("main", { inputs: { questions: ["What is the capital of France?", "What is the capital of Germany?"] }, outputs: ["Paris", "Berlin"] }),
      child("worker_1", "main", { inputs: { question: "What is the capital of France?" }, outputs: "Paris" }),
      child("worker_2", "main", { inputs: { question: "What is the capital of Germany?" }, outputs: "Berlin" }),
      child("completions_1", "worker_1", { spanType: "CHAT_MODEL", inputs: { question: "What is the capital of France?" }, outputs: "Paris" }),
      child("completions_2", "worker_2", { spanType: "CHAT_MODEL", inputs: { question: "What is the capital of Germany?" }, outputs: "Berlin" }),
    ], { requestPreview: '{"questions": ["What is the capital of France?", "What is the capital of Germany?"]}', responsePreview: '["Paris", "Berlin"]' })],
  },
  {
    name: "async: a pipeline awaiting async_operation three times",
    nestsAcrossAwait: true,
    async run() {
      const async_operation = mlflow.trace(async function async_operation(data: string) {
        await sleep(2);
        return `Processed: ${data}`;
      });
      const async_pipeline = mlflow.trace(async function async_pipeline(items: string[]) {
        const results: string[] = [];
        for (const item of items) results.push(await async_operation(item));
        return results;
      });
      return async_pipeline(["item1", "item2", "item3"]);
    },
    expected: [ok("async_pipeline", [
      root("async_pipeline", { inputs: { items: ["item1", "item2", "item3"] }, outputs: ["Processed: item1", "Processed: item2", "Processed: item3"] }),
      ...[1, 2, 3].map((i) => child(`async_operation_${i}`, "async_pipeline", { inputs: { data: `item${i}` }, outputs: `Processed: item${i}` })),
    ], { requestPreview: '{"items": ["item1", "item2", "item3"]}', responsePreview: '["Processed: item1", "Processed: item2", "Processed: item3"]' })],
  },
];

/** A chunk as Python's json.dumps writes it (the chunk event value). */
function pyDumpsChunk(c: Chunk): string {
  const delta = Object.entries(c.choices[0]!.delta).map(([k, v]) => `${JSON.stringify(k)}: ${JSON.stringify(v)}`).join(", ");
  return `{"id": "${c.id}", "created": ${c.created}, "model": "${c.model}", "object": "${c.object}", "choices": [{"index": 0, "delta": {${delta}}, "finish_reason": ${JSON.stringify(c.choices[0]!.finish_reason)}}]}`;
}
