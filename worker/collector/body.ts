import { errorText } from "../../core/debug.js";
import { Refusal } from "./refusal.js";

// Reads a request body (JSON, or OTLP protobuf) without trusting Content-Length: the stream is
// counted as it arrives and abandoned as soon as it passes the limit. A gzip or deflate body
// (OpenTelemetry exporters compress by default) is counted after decompression, so a small bomb
// cannot expand past the limit.

const ENCODINGS = new Set(["gzip", "deflate"]);

/** OTLP/HTTP's protobuf media type (`application/protobuf` is accepted too). */
export const isProtobuf = (request: Request): boolean => /^application\/(x-)?protobuf\s*(;|$)/i.test(request.headers.get("content-type") ?? "");

/** A JSON body, parsed (`accepted`: the content types the route takes, for the refusal). */
export async function readJson(request: Request, maxBytes: number, accepted = "application/json"): Promise<unknown> {
  const [type = "", ...params] = (request.headers.get("content-type") ?? "").split(";").map((p) => p.trim().toLowerCase());
  if (type !== "application/json") {
    throw new Refusal(415, `content-type must be ${accepted}, not ${JSON.stringify(type || "(none)")}`, "", `send the body with content-type: ${accepted}`);
  }
  const charset = params.find((p) => p.startsWith("charset="))?.slice(8).replace(/"/g, "");
  if (charset !== undefined && charset !== "utf-8" && charset !== "utf8") {
    throw new Refusal(415, `charset ${charset} is not supported`, "", "send UTF-8 JSON");
  }
  const bytes = await readBytes(request, maxBytes, "JSON");
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    throw new Refusal(400, "the body is not valid UTF-8", "", "send UTF-8 JSON");
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    const detail = errorText(error);
    throw new Refusal(400, `the body is not valid JSON: ${detail.slice(0, 200)}`, "", "send the JSON the client library builds");
  }
}

/**
 * The body's bytes, decompressed, refused past `maxBytes`; `what` names the format in refusals.
 * An empty body is refused unless `emptyOk` (an empty protobuf message is a valid one).
 */
export async function readBytes(request: Request, maxBytes: number, what: string, emptyOk = false): Promise<Uint8Array> {
  const encoding = (request.headers.get("content-encoding") ?? "identity").trim().toLowerCase();
  if (encoding !== "identity" && !ENCODINGS.has(encoding)) {
    throw new Refusal(415, `content-encoding ${encoding} is not supported`, "", "send the body uncompressed, gzip or deflate");
  }
  const declared = Number(request.headers.get("content-length") ?? Number.NaN);
  if (Number.isFinite(declared) && declared > maxBytes) throw tooLarge(maxBytes);
  if (!request.body) {
    if (emptyOk) return new Uint8Array(0);
    throw new Refusal(400, "the request has no body", "", `send the ${what} body`);
  }
  const stream = encoding === "identity" ? request.body : request.body.pipeThrough(new DecompressionStream(encoding as "gzip" | "deflate"));
  const bytes = await readCapped(stream, maxBytes, encoding);
  if (bytes.byteLength === 0 && !emptyOk) throw new Refusal(400, "the request body is empty", "", `send the ${what} body`);
  return bytes;
}

async function readCapped(stream: ReadableStream<Uint8Array>, maxBytes: number, encoding: string): Promise<Uint8Array> {
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    let next: ReadableStreamReadResult<Uint8Array>;
    try {
      next = await reader.read();
    } catch {
      // Only a decompression stream fails on the bytes themselves; a dropped upload surfaces here too.
      throw new Refusal(400, encoding === "identity" ? "the request body could not be read" : `the body is not valid ${encoding} data`, "", "");
    }
    if (next.done) break;
    total += next.value.byteLength;
    if (total > maxBytes) {
      await reader.cancel().catch(() => undefined);
      throw tooLarge(maxBytes);
    }
    chunks.push(next.value);
  }
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const c of chunks) {
    bytes.set(c, offset);
    offset += c.byteLength;
  }
  return bytes;
}

const tooLarge = (max: number) => new Refusal(413, `the body is larger than ${max} bytes`, "", "send smaller batches (the browser client splits them)");
