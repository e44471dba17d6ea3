// What the demo's built-in model says: deterministic text from the conversation, so the demo and
// its tests need no key and no network, and the same question always gets the same answer.

export interface ChatMessage {
  role: string;
  content?: string | null | { type?: string; text?: string }[];
  tool_calls?: unknown[];
  tool_call_id?: string;
}

export interface Tool {
  type: string;
  function?: { name?: string };
}

export type Reply = { kind: "text"; text: string } | { kind: "tool"; name: string; args: Record<string, string> };

const CITIES = ["paris", "tokyo", "london"];

export function textOf(content: ChatMessage["content"]): string {
  if (typeof content === "string") return content;
  if (Array.isArray(content)) return content.map((p) => (typeof p?.text === "string" ? p.text : "")).join("");
  return "";
}

export function reply(messages: ChatMessage[], tools: Tool[] | undefined): Reply {
  const last = messages[messages.length - 1];
  if (last?.role === "tool") {
    let fact: { city?: string; forecast?: string; celsius?: number } = {};
    try {
      const parsed: unknown = JSON.parse(textOf(last.content));
      // A tool may answer any JSON: `null`, a number, a list are no facts.
      if (typeof parsed === "object" && parsed !== null && !Array.isArray(parsed)) fact = parsed as typeof fact;
    } catch {
      // a tool that answered plain text
    }
    return { kind: "text", text: `The weather in ${fact.city ?? "that city"} is ${fact.forecast ?? "unknown"}${fact.celsius === undefined ? "" : `, ${fact.celsius}°C`}.` };
  }
  const question = textOf([...messages].reverse().find((m) => m.role === "user")?.content ?? "");
  const lower = question.toLowerCase();
  const city = CITIES.find((c) => lower.includes(c));
  if (city && /weather|forecast|rain|sunny/.test(lower) && tools?.some((t) => t.function?.name === "get_weather")) {
    return { kind: "tool", name: "get_weather", args: { city: city[0]!.toUpperCase() + city.slice(1) } };
  }
  // "long answer": 1 500 words, to show a long stream (more chunks than a span keeps as events).
  if (/\blong answer\b/.test(lower)) return { kind: "text", text: Array.from({ length: 1500 }, (_, i) => `word${i + 1}`).join(" ") };
  const system = textOf(messages.find((m) => m.role === "system")?.content ?? "");
  const cited = [...system.matchAll(/\[([\w-]+)\] ([^\n]+)/g)];
  if (cited.length > 0) {
    const [, id, text] = cited[0]!;
    return { kind: "text", text: `From [${id}]: ${text}` };
  }
  return { kind: "text", text: `You asked: "${question.slice(0, 200)}". I am the demo's built-in model, so I can only echo it back.` };
}

/** Words as stream chunks (each keeps its leading space, so the chunks join to the text). */
export const chunksOf = (text: string): string[] => text.match(/\s*\S+/g) ?? [text];

/** A rough token count (4 characters a token), deterministic. */
export const tokens = (text: string): number => Math.max(1, Math.ceil(text.length / 4));

/** An embedding from a hash of the text: deterministic, unit length, 8 dimensions. */
export function embed(text: string): number[] {
  const v = Array.from({ length: 8 }, (_, i) => {
    let h = 2166136261 ^ i;
    for (let j = 0; j < text.length; j++) h = Math.imul(h ^ text.charCodeAt(j), 16777619);
    return ((h >>> 0) / 2 ** 32) * 2 - 1;
  });
  const norm = Math.hypot(...v) || 1;
  return v.map((x) => Number((x / norm).toFixed(6)));
}
