// The demo chat: a traced agent in the page (retrieve → prompt → streamed LLM call → tool call →
// streamed answer) calling an OpenAI-compatible endpoint through the demo Worker. Traces are
// queued in IndexedDB and sent to the collector on the same origin; the Worker's part of each
// request joins the page's trace through the traceparent header.
import OpenAI from "openai";
import { SpanType, trace, updateCurrentTrace, withSpan } from "../../core/index.js";
import type { BrowserTracing } from "../../browser/index.js";
import { tracedOpenAI } from "../../openai/index.js";
import { append, clear, h } from "./dom.js";
import { DOCS, WEATHER } from "./knowledge.js";
import { startTracing } from "./tracing.js";

let tracing: BrowserTracing | undefined; // unset until the settings are read, or if tracing could not start
let client: OpenAI;
let model = "demo-mini"; // or the real provider's (OPENAI_MODEL), as /demo/chat-config says
const sessionId = crypto.randomUUID();

const retrieve = trace(
  async function retrieve(query: string) {
    const words = query.toLowerCase().split(/\W+/).filter((w) => w.length > 3);
    return DOCS.filter((d) => words.some((w) => d.text.toLowerCase().includes(w))).slice(0, 2);
  },
  { spanType: SpanType.RETRIEVER },
);

const buildPrompt = trace(
  function buildPrompt(question: string, docs: { id: string; text: string }[]) {
    const context = docs.map((d) => `[${d.id}] ${d.text}`).join("\n");
    return [
      { role: "system" as const, content: `You are a concise assistant. Context:\n${context || "(none)"}` },
      { role: "user" as const, content: question },
    ];
  },
  { spanType: SpanType.PARSER },
);

const getWeather = trace(
  async function get_weather(city: string) {
    // The city comes from the model: "constructor" or "__proto__" must not reach Object's prototype.
    const key = String(city).toLowerCase();
    return Object.hasOwn(WEATHER, key) ? WEATHER[key] : { city, forecast: "unknown" };
  },
  { spanType: SpanType.TOOL },
);

const tools = [
  {
    type: "function" as const,
    function: {
      name: "get_weather",
      description: "Weather forecast for a city",
      parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
    },
  },
];

type Message = OpenAI.Chat.Completions.ChatCompletionMessageParam;

/** Streams one completion into `out`; returns the text and any tool calls. */
async function streamInto(messages: Message[], out: HTMLElement, withTools: boolean) {
  const stream = await client.chat.completions.create({ model, messages, stream: true, ...(withTools ? { tools } : {}) });
  let text = "";
  const calls: { id: string; name: string; args: string }[] = [];
  for await (const chunk of stream) {
    const delta = chunk.choices[0]?.delta;
    if (delta?.content) {
      text += delta.content;
      out.textContent = text;
    }
    for (const call of delta?.tool_calls ?? []) {
      const slot = (calls[call.index] ??= { id: "", name: "", args: "" });
      if (call.id) slot.id = call.id;
      if (call.function?.name) slot.name += call.function.name;
      if (call.function?.arguments) slot.args += call.function.arguments;
    }
  }
  return { text, calls };
}

/** The traced agent for one question; `out` shows the answer as it streams (not a span input). */
function agentFor(out: HTMLElement) {
  return trace(
    async function agent(question: string) {
      // The previews the Traces view and MLflow show: the question and the answer, as plain text.
      updateCurrentTrace({ tags: { app: "mlflow-edge-demo" }, sessionId, requestPreview: question });
      const docs = await retrieve(question);
      const messages: Message[] = buildPrompt(question, docs);
      const first = await streamInto(messages, out, true);
      let answer = first.text;
      if (first.calls.length > 0) {
        messages.push({
          role: "assistant",
          content: first.text || null,
          tool_calls: first.calls.map((c) => ({ id: c.id, type: "function" as const, function: { name: c.name, arguments: c.args } })),
        });
        for (const call of first.calls) {
          const result = await withSpan(
            async () => {
              const args = JSON.parse(call.args || "{}") as { city?: string };
              return getWeather(String(args.city ?? ""));
            },
            { name: "tool_call", spanType: SpanType.CHAIN, inputs: call },
          );
          messages.push({ role: "tool", tool_call_id: call.id, content: JSON.stringify(result) });
        }
        answer = (await streamInto(messages, out, false)).text;
      }
      updateCurrentTrace({ responsePreview: answer });
      return answer;
    },
    { spanType: SpanType.AGENT },
  );
}

// ---------------------------------------------------------------- UI

/** Sets up tracing and the page (the entry calls it after loading Zone.js). */
export function start(): void {
  const log = document.getElementById("messages")!;
  const form = document.getElementById("ask") as HTMLFormElement;
  const input = document.getElementById("question") as HTMLInputElement;
  bind(log, form, input, setUp());
}

/** Tracing and the client, with the model and the ingest key the Worker is configured with. */
async function setUp(): Promise<void> {
  try {
    const started = await startTracing();
    model = started.config.model;
    tracing = started.tracing;
  } catch (error) {
    note(`Tracing is off, and the built-in model is asked: the demo's settings could not be read (${String(error)})`);
  }
  // After initBrowser, which puts the traceparent on fetch: the client keeps the fetch it finds now.
  client = tracedOpenAI(
    new OpenAI({ apiKey: "handled-by-the-worker", baseURL: `${location.origin}/llm/v1`, dangerouslyAllowBrowser: true, maxRetries: 0 }),
  );
  void showStats();
}

/** Says something about delivery on the status line, as text. */
const note = (text: string) => void (document.getElementById("delivery")!.textContent = text);

function bind(log: HTMLElement, form: HTMLFormElement, input: HTMLInputElement, ready: Promise<void>): void {
form.addEventListener("submit", (event) => {
  event.preventDefault();
  const question = input.value.trim();
  if (!question) return;
  input.value = "";
  append(log, [h("li", { class: "msg user" }, question)]);
  const answer = h("li", { class: "msg assistant", "aria-busy": "true" }, "…");
  append(log, [answer]);
  ready
    .then(() => agentFor(answer)(question))
    .then((text) => {
      if (!text) answer.textContent = "(no answer)";
    })
    .catch((error: unknown) => {
      clear(answer);
      answer.classList.add("error");
      answer.textContent = `Error: ${error instanceof Error ? error.message : String(error)}`;
    })
    .finally(() => {
      answer.removeAttribute("aria-busy");
      answer.scrollIntoView({ block: "nearest" });
      if (tracing) void tracing.flush().then(showStats);
    });
});
}

async function showStats() {
  if (!tracing) return;
  const s = await tracing.stats();
  // Refused traces are the collector's answer to a key it does not take (see the console's warning).
  const refused = s.rejected ? ` · refused by the collector: ${s.rejected} (see the console)` : "";
  document.getElementById("delivery")!.textContent = `Traces sent: ${s.sent} · queued: ${s.queued}${refused} · storage: ${s.storage}`;
}
