import { chunksOf, embed, reply, textOf, tokens, type ChatMessage, type Tool } from "./answers.js";
import { checkChat, checkEmbeddings, checkResponses, error, json, type Body } from "./validate.js";

// An OpenAI-compatible endpoint the demo Worker serves itself (`/llm/v1/...`): chat completions
// (JSON or SSE streaming, tool calls, usage), responses (JSON or SSE) and embeddings. Fetch-style,
// Web APIs only, so a Worker mounts it and Node tests call it directly. Answers depend only on the
// request, so the demo and its tests need no key and no network.
//
// Switches, so the demo can show failures: a last user message containing "fail" gets a 500,
// "rate limit" a 429, "mid-stream" (when streaming) an error event after a few chunks, "slow" a
// ten times slower stream, "long answer" 1 500 words streamed without pauses. The same from
// outside the conversation: header `x-fake-llm-fail` or query `?fail=` = `500` | `429` |
// `mid-stream`, and `x-fake-llm-delay-ms` / `?delay_ms=`.

export interface FakeLlmOptions {
  /** Delay between streamed chunks (ms, default 30). */
  chunkDelayMs?: number;
}

type Failure = "500" | "429" | "mid-stream";
interface Plan {
  fail: Failure | undefined;
  delayMs: number;
}

const CREATED = 1_767_225_600; // fixed: answers are deterministic
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const sse = (data: unknown, event?: string) => `${event ? `event: ${event}\n` : ""}data: ${typeof data === "string" ? data : JSON.stringify(data)}\n\n`;

function idFor(text: string): string {
  let h = 0;
  for (let i = 0; i < text.length; i++) h = (Math.imul(h, 31) + text.charCodeAt(i)) >>> 0;
  return h.toString(36);
}

export async function fakeLlm(request: Request, options: FakeLlmOptions = {}): Promise<Response> {
  const url = new URL(request.url);
  const path = url.pathname.replace(/^.*\/v1\//, "/v1/");
  if (request.method !== "POST") return error(405, `${request.method} is not supported; POST to ${path}`, "invalid_request_error");
  let body: Body;
  try {
    body = (await request.json()) as Body;
    if (typeof body !== "object" || body === null || Array.isArray(body)) throw new Error("not an object");
  } catch {
    return error(400, "We could not parse the JSON body of your request.", "invalid_request_error");
  }
  const switchFail = request.headers.get("x-fake-llm-fail") ?? url.searchParams.get("fail");
  if (switchFail !== null && !["500", "429", "mid-stream"].includes(switchFail)) {
    return error(400, `x-fake-llm-fail must be 500, 429 or mid-stream, not ${JSON.stringify(switchFail)}`, "invalid_request_error");
  }
  const delaySwitch = request.headers.get("x-fake-llm-delay-ms") ?? url.searchParams.get("delay_ms");
  if (delaySwitch !== null && !/^\d{1,5}$/.test(delaySwitch)) {
    return error(400, "x-fake-llm-delay-ms must be a whole number of milliseconds (at most 99999)", "invalid_request_error");
  }
  const plan: Plan = { fail: (switchFail as Failure | null) ?? undefined, delayMs: delaySwitch === null ? options.chunkDelayMs ?? 30 : Number(delaySwitch) };
  if (path === "/v1/chat/completions") return checkChat(body) ?? chat(body, plan);
  if (path === "/v1/responses") return checkResponses(body) ?? responses(body, plan);
  if (path === "/v1/embeddings") return checkEmbeddings(body) ?? embeddings(body, plan);
  return error(404, `Unknown path ${path}`, "invalid_request_error", "unknown_url");
}

/** The switches the conversation's last user message sets (a tool's answer sets none). */
function fromMessage(plan: Plan, messages: ChatMessage[], streaming: boolean): Plan {
  const last = messages[messages.length - 1];
  if (last?.role !== "user") return plan;
  const text = textOf(last.content).toLowerCase();
  const fail: Failure | undefined =
    plan.fail ?? (streaming && text.includes("mid-stream") ? "mid-stream" : /\bfail/.test(text) ? "500" : /rate limit/.test(text) ? "429" : undefined);
  return { fail, delayMs: /\blong answer\b/.test(text) ? 0 : plan.delayMs * (/\bslow\b/.test(text) ? 10 : 1) };
}

/** An up-front failure, in OpenAI's error shape; "mid-stream" fails later (or at once without a stream). */
function refusal(plan: Plan, streaming: boolean): Response | undefined {
  if (plan.fail === "500" || (plan.fail === "mid-stream" && !streaming)) return error(500, "The demo model failed on purpose (the request asked it to).", "server_error");
  if (plan.fail === "429") return error(429, "Rate limit reached for the demo model (on purpose).", "rate_limit_error", "rate_limit_exceeded");
  return undefined;
}

/** SSE events sent one at a time with a pause between them; "mid-stream" ends in an error event. */
function eventStream(events: string[], plan: Plan): Response {
  const parts = plan.fail === "mid-stream" ? [...events.slice(0, 3), sse({ error: { message: "The demo model broke off mid-stream (on purpose).", type: "server_error", param: null, code: null } })] : events;
  const encoder = new TextEncoder();
  let i = 0;
  const stream = new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (i > 0 && plan.delayMs > 0) await sleep(plan.delayMs);
      if (i < parts.length) controller.enqueue(encoder.encode(parts[i++]));
      else controller.close();
    },
  });
  return new Response(stream, { headers: { "content-type": "text/event-stream", "cache-control": "no-cache" } });
}

function chat(body: Body, base: Plan): Response {
  const msgs = body.messages as ChatMessage[];
  const streaming = body.stream === true;
  const plan = fromMessage(base, msgs, streaming);
  const refused = refusal(plan, streaming);
  if (refused) return refused;
  const model = body.model as string;
  const r = reply(msgs, body.tools as Tool[] | undefined);
  const id = `chatcmpl-${idFor(JSON.stringify(msgs))}`;
  const promptTokens = tokens(JSON.stringify(msgs));
  const toolCall = r.kind === "tool" ? { id: `call_${idFor(r.name + JSON.stringify(r.args))}`, type: "function", function: { name: r.name, arguments: JSON.stringify(r.args) } } : undefined;
  const text = r.kind === "text" ? r.text : "";
  const completionTokens = tokens(text || JSON.stringify(toolCall));
  const usage = { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens };
  const finish = toolCall ? "tool_calls" : "stop";
  if (!streaming) {
    return json(200, {
      id,
      object: "chat.completion",
      created: CREATED,
      model,
      choices: [{ index: 0, message: { role: "assistant", content: toolCall ? null : text, ...(toolCall ? { tool_calls: [toolCall] } : {}), refusal: null }, finish_reason: finish, logprobs: null }],
      usage,
    });
  }
  const chunk = (delta: Record<string, unknown>, finishReason: string | null) =>
    sse({ id, object: "chat.completion.chunk", created: CREATED, model, choices: [{ index: 0, delta, finish_reason: finishReason, logprobs: null }] });
  const events: string[] = [chunk({ role: "assistant", content: "" }, null)];
  if (toolCall) {
    events.push(chunk({ tool_calls: [{ index: 0, id: toolCall.id, type: "function", function: { name: toolCall.function.name, arguments: "" } }] }, null));
    // Arguments arrive in small pieces, as a real model's do, so clients must join them.
    for (const piece of toolCall.function.arguments.match(/.{1,6}/gs) ?? []) events.push(chunk({ tool_calls: [{ index: 0, function: { arguments: piece } }] }, null));
  } else {
    for (const piece of chunksOf(text)) events.push(chunk({ content: piece }, null));
  }
  events.push(chunk({}, finish));
  if ((body.stream_options as { include_usage?: unknown } | undefined)?.include_usage === true) {
    events.push(sse({ id, object: "chat.completion.chunk", created: CREATED, model, choices: [], usage }));
  }
  events.push(sse("[DONE]"));
  return eventStream(events, plan);
}

function responses(body: Body, base: Plan): Response {
  const input = body.input;
  const messages: ChatMessage[] = typeof input === "string" ? [{ role: "user", content: input }] : (input as ChatMessage[]).filter((m) => typeof m.role === "string");
  const streaming = body.stream === true;
  const plan = fromMessage(base, messages, streaming);
  const refused = refusal(plan, streaming);
  if (refused) return refused;
  if (typeof body.instructions === "string") messages.unshift({ role: "system", content: body.instructions });
  const r = reply(messages, undefined);
  const text = r.kind === "text" ? r.text : "";
  const id = idFor(JSON.stringify(messages));
  const inputTokens = tokens(JSON.stringify(messages));
  const message = (t: string, status: string) => ({ type: "message", id: `msg_${id}`, status, role: "assistant", content: [{ type: "output_text", text: t, annotations: [] }] });
  const response = (status: string, output: unknown[], usage: unknown) => ({ id: `resp_${id}`, object: "response", created_at: CREATED, status, model: body.model, output, usage });
  const done = response("completed", [message(text, "completed")], { input_tokens: inputTokens, output_tokens: tokens(text), total_tokens: inputTokens + tokens(text) });
  if (!streaming) return json(200, done);
  let seq = 0;
  const event = (type: string, fields: Record<string, unknown>) => sse({ type, sequence_number: seq++, ...fields }, type);
  const events = [
    event("response.created", { response: response("in_progress", [], null) }),
    event("response.output_item.added", { output_index: 0, item: { ...message("", "in_progress"), content: [] } }),
    ...chunksOf(text).map((delta) => event("response.output_text.delta", { item_id: `msg_${id}`, output_index: 0, content_index: 0, delta })),
    event("response.output_text.done", { item_id: `msg_${id}`, output_index: 0, content_index: 0, text }),
    event("response.output_item.done", { output_index: 0, item: message(text, "completed") }),
    event("response.completed", { response: done }),
  ];
  return eventStream(events, plan);
}

function embeddings(body: Body, plan: Plan): Response {
  const texts = typeof body.input === "string" ? [body.input] : (body.input as string[]);
  const refused = refusal(fromMessage(plan, [{ role: "user", content: texts.join("\n") }], false), false);
  if (refused) return refused;
  const total = texts.reduce((n, t) => n + tokens(t), 0);
  return json(200, {
    object: "list",
    data: texts.map((t, index) => ({ object: "embedding", index, embedding: body.encoding_format === "base64" ? base64Floats(embed(t)) : embed(t) })),
    model: body.model,
    usage: { prompt_tokens: total, total_tokens: total },
  });
}

/** The official client asks for base64 (little-endian float32), as OpenAI's API offers. */
function base64Floats(values: number[]): string {
  const bytes = new Uint8Array(new Float32Array(values).buffer);
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary);
}
