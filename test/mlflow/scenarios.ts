// The product brief's seed examples (reference/brief-manual-tracing.md) as programs written with
// mlflow-edge, each producing one or more traces. Shared by the round-trip tests and the bench.
import * as mlflow from "../../core/index.js";

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export interface Scenario {
  name: string;
  /** Traces the program produces. */
  traces: number;
  run(): Promise<void>;
}

class ValueError extends Error {}

type Delta = { role?: string; content?: string | null };
type Chunk = { id: string; created: number; model: string; object: "chat.completion.chunk"; choices: { index: number; delta: Delta; finish_reason: string | null }[] };
const chunk = (delta: Delta, finish_reason: string | null = null): Chunk => ({
  id: "chatcmpl-1", created: 1718000000, model: "gpt-4o-mini", object: "chat.completion.chunk", choices: [{ index: 0, delta, finish_reason }],
});

function aggregateChunks(outputs: Chunk[]) {
  if (!outputs.length) return null;
  const first = outputs[0]!;
  const message = { role: first.choices[0]!.delta.role, content: first.choices[0]!.delta.content ?? "" };
  let finishReason = first.choices[0]!.finish_reason;
  for (const c of outputs.slice(1)) {
    message.content += c.choices[0]!.delta.content ?? "";
    finishReason = finishReason ?? c.choices[0]!.finish_reason;
  }
  return { id: first.id, choices: [{ index: 0, message, finish_reason: finishReason }], created: first.created, model: first.model, object: "chat.completion" };
}

function factorial(n: number): number {
  return n <= 1 ? 1 : n * factorial(n - 1);
}

export const scenarios: Scenario[] = [
  {
    name: "decorator: add_1 and minus_1 under 'Trace Test'",
    traces: 1,
    async run() {
      const add_1 = mlflow.trace(function add_1(x: number) { return x + 1; }, { spanType: "func", attributes: { key: "value" } });
      const minus_1 = mlflow.trace(function minus_1(x: number) { return x - 1; }, { spanType: "func", attributes: { key1: "value1" } });
      mlflow.trace(function trace_test(x: number) { return minus_1(add_1(x)); }, { name: "Trace Test" })(4);
    },
  },
  {
    name: "wrapped external functions (Math.pow, factorial): one trace each",
    traces: 2,
    async run() {
      const raised = mlflow.trace(Math.pow)(4, 2);
      mlflow.trace(factorial)(Math.trunc(raised));
    },
  },
  {
    name: "named async and anonymous wrapped functions",
    traces: 2,
    async run() {
      await mlflow.trace(async (city: string) => `The weather in ${city} is sunny`, { name: "get-weather" })("San Francisco");
      mlflow.trace((() => (city: string) => city.length)())("Paris");
    },
  },
  {
    name: "custom name, span type and attributes on a class method",
    traces: 1,
    async run() {
      class MyClass {
        @mlflow.trace({ name: "call-local-llm", spanType: mlflow.SpanType.LLM, attributes: { model: "gpt-4o-mini" } })
        generateText(prompt: string) {
          return `It's sunny in Seattle! (${prompt})`;
        }
      }
      new MyClass().generateText("hi");
    },
  },
  {
    name: "dynamic attributes through getCurrentActiveSpan and trace tags",
    traces: 1,
    async run() {
      class MyClass {
        @mlflow.trace({ spanType: mlflow.SpanType.LLM })
        generateText(prompt: string) {
          mlflow.getCurrentActiveSpan()?.setAttributes({ model: "gpt-4o-mini", temperature: 0.7, top_k: 3, stop: ["\n"], nested: { a: [1, { b: null }] } });
          mlflow.updateCurrentTrace({ tags: { fruit: "apple" }, metadata: { tenant: "acme" }, clientRequestId: "req-42" });
          return prompt.toUpperCase();
        }
      }
      new MyClass().generateText("hi");
    },
  },
  {
    name: "request/response previews for a long document",
    traces: 2,
    async run() {
      class MyClass {
        @mlflow.trace({ name: "Summarization Pipeline" })
        summarizeDocument(documentContent: string, userInstructions: string) {
          mlflow.updateCurrentTrace({ requestPreview: `Doc: ${documentContent.slice(0, 30)}... Instr: ${userInstructions.slice(0, 30)}...` });
          const summary = `Summary of document starting with '${documentContent.slice(0, 20)}...' based on '${userInstructions}'`;
          mlflow.updateCurrentTrace({ responsePreview: `Summary: ${summary.slice(0, 50)}...` });
          return summary;
        }
      }
      const longDocument = "This is a very long document that contains many details about various topics...".repeat(10);
      new MyClass().summarizeDocument(longDocument, "Focus on the key takeaways regarding topic X.");
      // No override: the default preview is the inputs' JSON cut to 1000 characters.
      mlflow.trace(function summarize(documentContent: string) { return documentContent.length; })(longDocument.repeat(2));
    },
  },
  {
    name: "code blocks with withSpan and a chat session",
    traces: 2,
    async run() {
      await mlflow.withSpan(async (span: mlflow.Span) => { span.setInputs({ x: 1, y: 2 }); span.setOutputs(3); }, { name: "MySpan" });
      const typed = ["Hello", "BYE"];
      const create = mlflow.trace(
        async function create(request: { model: string; messages: { role: string; content: string }[] }) {
          await sleep(1);
          return { choices: [{ message: { role: "assistant", content: `You said: ${request.messages.at(-1)!.content}` } }], usage: { prompt_tokens: 5, completion_tokens: 3, total_tokens: 8 } };
        },
        { name: "Completions", spanType: mlflow.SpanType.CHAT_MODEL },
      );
      await mlflow.trace(async function startSession() {
        const messages = [{ role: "system", content: "You are a friendly chat bot" }];
        for (;;) {
          const userInput = await mlflow.withSpan(async (span) => { span.setInputs({ messages }); return typed.shift() ?? "BYE"; }, { name: "User" });
          if (userInput === "BYE") break;
          messages.push({ role: "user", content: userInput });
          const response = await create({ model: "gpt-4o-mini", messages });
          messages.push({ role: "assistant", content: response.choices[0]!.message.content });
        }
      }, { spanType: mlflow.SpanType.CHAIN })();
    },
  },
  {
    name: "exceptions: ERROR status, exception event, child kept, async rejection",
    traces: 2,
    async run() {
      const child = mlflow.trace(function child(x: number) { return x * 2; });
      const parse = mlflow.trace(function parse(text: string) {
        child(21);
        mlflow.getCurrentActiveSpan()?.setAttribute("stage", "parsing");
        throw new ValueError(`Some error in ${text}`);
      });
      try { parse("{bad json"); } catch { /* expected */ }
      await mlflow.trace(async function fetchDoc(id: string) { await sleep(1); throw new TypeError(`no document ${id}`); })("42").catch(() => {});
    },
  },
  {
    name: "generator without outputReducer: chunk events and the list as outputs",
    traces: 1,
    async run() {
      const stream_data = mlflow.trace(function* stream_data() { for (let i = 0; i < 5; i++) yield i; });
      for (const _ of stream_data()) { /* consume */ }
    },
  },
  {
    name: "generator with outputReducer",
    traces: 1,
    async run() {
      const stream_data = mlflow.trace(function* stream_data() { for (const c of "hello") yield c; }, { outputReducer: (chunks: string[]) => chunks.join(",") });
      for (const _ of stream_data()) { /* consume */ }
    },
  },
  {
    name: "OpenAI-style chunk aggregator over an async generator",
    traces: 1,
    async run() {
      async function* fakeOpenAIStream() {
        for (const c of [chunk({ role: "assistant", content: "" }), chunk({ content: "Hel" }), chunk({ content: "lo!" }), chunk({}, "stop")]) {
          await sleep(1);
          yield c;
        }
      }
      const predict = mlflow.trace(
        async function* predict(messages: { role: string; content: string }[]) { yield* fakeOpenAIStream(); },
        { outputReducer: aggregateChunks, spanType: mlflow.SpanType.LLM },
      );
      for await (const _ of predict([{ role: "user", content: "Hello" }])) { /* consume */ }
    },
  },
  {
    name: "async pipeline",
    traces: 1,
    async run() {
      const async_operation = mlflow.trace(async function async_operation(data: string) { await sleep(2); return `Processed: ${data}`; });
      await mlflow.trace(async function async_pipeline(items: string[]) {
        const results: string[] = [];
        for (const item of items) results.push(await async_operation(item));
        return results;
      })(["item1", "item2", "item3"]);
    },
  },
  {
    name: "concurrent promises as the thread pool",
    traces: 1,
    async run() {
      const llm = mlflow.trace(async function completions(question: string) {
        await sleep(question.includes("France") ? 20 : 5);
        return question.includes("France") ? "Paris" : "Berlin";
      }, { spanType: mlflow.SpanType.CHAT_MODEL });
      const worker = mlflow.trace(async function worker(question: string) { await sleep(1); return llm(question); });
      await mlflow.trace(async function main(questions: string[]) { return Promise.all(questions.map((q) => worker(q))); })(
        ["What is the capital of France?", "What is the capital of Germany?"],
      );
    },
  },
];
