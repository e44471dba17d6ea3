import { Refusal } from "./refusal.js";

// Reads a JSON request body without trusting Content-Length: the stream is counted as it
// arrives and abandoned as soon as it passes the limit.

export async function readJson(request: Request, maxBytes: number): Promise<unknown> {
  const type = (request.headers.get("content-type") ?? "").split(";")[0]!.trim().toLowerCase();
  if (type !== "application/json") {
    throw new Refusal(415, `content-type must be application/json, not ${JSON.stringify(type || "(none)")}`, "", "send JSON with content-type: application/json");
  }
  const declared = Number(request.headers.get("content-length") ?? NaN);
  if (Number.isFinite(declared) && declared > maxBytes) throw tooLarge(maxBytes);
  if (!request.body) throw new Refusal(400, "the request has no body");
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel().catch(() => undefined);
      throw tooLarge(maxBytes);
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const c of chunks) {
    bytes.set(c, offset);
    offset += c.byteLength;
  }
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    throw new Refusal(400, "the body is not valid UTF-8");
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    throw new Refusal(400, `the body is not valid JSON: ${detail.slice(0, 200)}`, "", "send the JSON the client library builds");
  }
}

const tooLarge = (max: number) => new Refusal(413, `the body is larger than ${max} bytes`, "", "send smaller batches (the browser client splits them)");
