import { PREVIEW_MAX_LENGTH } from "../model/constants.js";
import type { Json } from "../model/types.js";
import { pyJsonDumps, pyPrefix } from "./py-json.js";

// Request/response previews as MLflow 3.18 computes them (mlflow/tracing/utils/truncation.py): when
// the root's inputs/outputs are an object that looks like chat (messages, choices, Responses
// input/output, a ResponsesAgent request), the text of the last message of the wanted role;
// otherwise the raw JSON. NUL becomes U+FFFD (a PostgreSQL store refuses it). Cut to 1000.

type Role = "user" | "assistant";
type Message = { [key: string]: Json };

/**
 * Python's `text[: max - 3] + "..."` when `len(text) > max`, counting code points as Python does: a
 * cut never leaves half an emoji, which MLflow's server cannot parse.
 */
export function truncatePreview(text: string, max: number = PREVIEW_MAX_LENGTH): string {
  return pyPrefix(text, max).length === text.length ? text : `${pyPrefix(text, max - 3)}...`;
}

/**
 * The preview of a root span's inputs (`role: "user"`) or outputs (`role: "assistant"`); `json`:
 * the value's `pyJsonDumps`, when the caller has it already.
 */
export function computePreview(value: Json | undefined, role: Role, json?: string, max: number = PREVIEW_MAX_LENGTH): string {
  if (value === undefined) return "";
  const messages = extractMessages(value);
  const content = messages && messages.length > 0 ? textOf(lastWithRole(messages, role)) : "";
  return truncatePreview((content || (json ?? pyJsonDumps(value))).replaceAll("\0", "\ufffd"), max);
}

const isObject = (v: Json | undefined): v is { [key: string]: Json } =>
  typeof v === "object" && v !== null && !Array.isArray(v);

const isMessage = (item: Json | undefined): item is Message => isObject(item) && "role" in item && "content" in item;

function extractMessages(obj: Json): Message[] | undefined {
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
  }
  return "";
}
