import { PREVIEW_MAX_LENGTH } from "../model/constants.js";
import type { Json } from "../model/types.js";
import { pyJsonDumps } from "./py-json.js";

// Request/response previews as MLflow computes them (mlflow/tracing/utils/truncation.py): when the
// root's inputs/outputs look like chat (messages, choices, Responses input/output, GenAI semconv
// parts), the text of the last message of the wanted role; otherwise the raw JSON. Cut to 1000.

type Role = "user" | "assistant";
type Message = { [key: string]: Json };

export function truncatePreview(text: string, max: number = PREVIEW_MAX_LENGTH): string {
  return text.length <= max ? text : `${text.slice(0, max - 3)}...`;
}

/** The preview of a root span's inputs (`role: "user"`) or outputs (`role: "assistant"`). */
export function computePreview(value: Json | undefined, role: Role, max: number = PREVIEW_MAX_LENGTH): string {
  if (value === undefined) return "";
  const raw = pyJsonDumps(value);
  let obj: Json = value;
  if (typeof obj === "string") {
    try {
      obj = JSON.parse(obj) as Json; // attributes are sometimes JSON-encoded twice
    } catch {
      // a plain string: no messages to find
    }
  }
  const messages = extractMessages(obj);
  const content = messages && messages.length > 0 ? textOf(lastWithRole(messages, role)) : "";
  return truncatePreview(content || raw, max);
}

const isObject = (v: Json | undefined): v is { [key: string]: Json } =>
  typeof v === "object" && v !== null && !Array.isArray(v);

function isMessage(item: Json | undefined): item is Message {
  if (!isObject(item) || !("role" in item)) return false;
  return "content" in item || Array.isArray(item.parts);
}

function extractMessages(obj: Json): Message[] | undefined {
  if (Array.isArray(obj)) return obj.filter(isMessage);
  if (!isObject(obj)) return undefined;
  const { messages, choices, input, output } = obj;
  if (Array.isArray(messages) && messages.length > 0) return messages.filter(isMessage);
  if (Array.isArray(choices) && choices.length > 0 && isObject(choices[0]) && isMessage(choices[0].message)) {
    return [choices[0].message];
  }
  if (Array.isArray(input) && input.length > 0) return input.filter(isMessage);
  if (Array.isArray(output) && output.length > 0) return output.filter(isMessage);
  if ("request" in obj) return extractMessages(obj.request as Json);
  return undefined;
}

function lastWithRole(messages: Message[], role: Role): Message {
  for (let i = messages.length - 1; i >= 0; i--) if (messages[i]?.role === role) return messages[i] as Message;
  return messages[messages.length - 1] as Message;
}

function textOf(message: Message): string {
  const content = message.content;
  if (typeof content === "string") return content;
  if (Array.isArray(content)) {
    for (const part of content) {
      if (typeof part === "string") return part;
      if (isObject(part) && (part.type === "text" || part.type === "output_text")) {
        return typeof part.text === "string" ? part.text : "";
      }
    }
    return "";
  }
  if (Array.isArray(message.parts)) {
    for (const part of message.parts) {
      if (!isObject(part) || part.type !== "text") continue;
      const text = part.content || part.text;
      if (typeof text === "string") return text;
    }
  }
  return "";
}
