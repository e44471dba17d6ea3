// Request checks and error answers of the demo model: a bad request gets a 400 in OpenAI's error shape naming the
// parameter, as the real API answers, so a client bug shows up in the demo as it would in production.

export type Body = Record<string, unknown>;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

export const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json", ...headers } });

/** An error in OpenAI's shape. */
export const error = (status: number, message: string, type: string, code: string | null = null, param: string | null = null) =>
  // x-should-retry: the official client would otherwise retry a failure that is on purpose.
  json(status, { error: { message, type, param, code } }, status >= 429 ? { "x-should-retry": "false" } : {});

const invalid = (message: string, param: string | null) => error(400, message, "invalid_request_error", param === "model" ? "missing_model" : null, param);

function common(body: Body): Response | undefined {
  if (typeof body.model !== "string" || body.model === "") return invalid("you must provide a model parameter", "model");
  if (body.stream !== undefined && body.stream !== null && typeof body.stream !== "boolean") return invalid("stream must be a boolean", "stream");
  return undefined;
}

const isContent = (c: unknown) => c === null || c === undefined || typeof c === "string" || (Array.isArray(c) && c.every(isObject));

export function checkChat(body: Body): Response | undefined {
  const bad = common(body);
  if (bad) return bad;
  const messages = body.messages;
  if (!Array.isArray(messages) || messages.length === 0) return invalid("messages must be a non-empty array", "messages");
  for (const [i, m] of messages.entries()) {
    if (!isObject(m) || typeof m.role !== "string") return invalid(`messages[${i}] must be an object with a role`, `messages[${i}].role`);
    if (!["system", "developer", "user", "assistant", "tool"].includes(m.role)) return invalid(`messages[${i}].role ${JSON.stringify(m.role)} is not a known role`, `messages[${i}].role`);
    if (!isContent(m.content)) return invalid(`messages[${i}].content must be a string or an array of content parts`, `messages[${i}].content`);
  }
  if (body.tools !== undefined) {
    if (!Array.isArray(body.tools)) return invalid("tools must be an array", "tools");
    for (const [i, t] of body.tools.entries()) {
      const fn = isObject(t) ? t.function : undefined;
      if (!isObject(t) || t.type !== "function" || !isObject(fn) || typeof fn.name !== "string") return invalid(`tools[${i}] must be {type: "function", function: {name, ...}}`, `tools[${i}]`);
    }
  }
  if (body.stream_options !== undefined && body.stream_options !== null && body.stream !== true) {
    return invalid("stream_options is only allowed when stream is true", "stream_options");
  }
  return undefined;
}

export function checkResponses(body: Body): Response | undefined {
  const bad = common(body);
  if (bad) return bad;
  const input = body.input;
  if (typeof input === "string" && input !== "") return undefined;
  if (!Array.isArray(input) || input.length === 0) return invalid("input must be a non-empty string or array of input items", "input");
  for (const [i, item] of input.entries()) {
    if (isObject(item) && typeof item.type === "string" && item.type !== "message") continue; // tool results etc.: read as context only
    if (!isObject(item) || typeof item.role !== "string" || !isContent(item.content)) return invalid(`input[${i}] must be a message {role, content}`, `input[${i}]`);
  }
  return undefined;
}

export function checkEmbeddings(body: Body): Response | undefined {
  const bad = common(body);
  if (bad) return bad;
  const input = typeof body.input === "string" ? [body.input] : body.input;
  // OpenAI also takes token arrays; this model reads text only.
  if (!Array.isArray(input) || input.length === 0 || input.some((x) => typeof x !== "string" || x === "")) {
    return invalid("input must be a non-empty string or a non-empty array of non-empty strings", "input");
  }
  if (body.encoding_format !== undefined && body.encoding_format !== "float" && body.encoding_format !== "base64") {
    return invalid("encoding_format must be float or base64", "encoding_format");
  }
  return undefined;
}
