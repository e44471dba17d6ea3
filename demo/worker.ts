// The demo Worker (`npm start`): the chat page and the Traces view (static assets), the collector
// over the TraceBuffer Durable Objects, and an OpenAI-compatible endpoint at /llm/v1 that is
// either the built-in deterministic model or, with OPENAI_BASE_URL and OPENAI_API_KEY set, a real
// provider (the key stays here). The LLM route is traced and joins the page's trace.
import { Hono, type Context, type Next } from "hono";
import { MlflowClient } from "../core/mlflow/client.js";
import { readBufferConfig, readCredentials, type SecretBinding, type TraceBufferEnv } from "../worker/buffer/config.js";
import { originAllowed, parseIngestKeys } from "../worker/collector/auth.js";
import { bufferStoreFromEnv, createCollector, mlflowTracing, TraceBuffer } from "../worker/index.js";
import { fakeLlm } from "./llm/fake-llm.js";
import { error as llmError } from "./llm/validate.js";

export { TraceBuffer };

/** The buffer's settings (the MLflow server and its credentials, limits) plus the demo's own. */
export interface DemoEnv extends TraceBufferEnv {
  TRACE_BUFFER: DurableObjectNamespace<TraceBuffer>;
  ASSETS: Fetcher;
  INGEST_KEYS?: string;
  COLLECTOR_SECRET?: string | SecretBinding;
  /** Where MLflow's UI is, if not at MLFLOW_TRACKING_URI (for the "Open in MLflow" link). */
  MLFLOW_UI_URL?: string;
  OPENAI_BASE_URL?: string;
  OPENAI_API_KEY?: string;
  /** The model the chat page asks a real provider for (default gpt-4o-mini). */
  OPENAI_MODEL?: string;
}

/** The real provider, when both its address and key are set; otherwise the built-in model answers. */
const providerOf = (env: DemoEnv) => (env.OPENAI_BASE_URL && env.OPENAI_API_KEY ? { base: env.OPENAI_BASE_URL, key: env.OPENAI_API_KEY } : undefined);

const app = new Hono<{ Bindings: DemoEnv }>();

// DNS rebinding: `npm start` listens on 127.0.0.1 only, but a web page on another site can point
// its own host name at 127.0.0.1 and then read this Worker's answers (the traces, the LLM proxy
// with the server's key) as same-origin. Its requests carry that host name, so anything but a
// loopback name is refused. This makes the demo Worker a local program: it is not for deploying.
const LOOPBACK_HOST = /^(?:127\.0\.0\.1|localhost|\[::1\])(?::\d{1,5})?$/i;
app.use("*", async (c, next) => {
  const host = c.req.header("host") ?? new URL(c.req.url).host;
  if (!LOOPBACK_HOST.test(host)) {
    return c.json({ error: `Host ${JSON.stringify(host)} refused: the demo answers only to 127.0.0.1, localhost or [::1].` }, 403);
  }
  return next();
});

// Cross-site request forgery: a page on any site can POST to 127.0.0.1 (a form, or fetch with a
// text/plain body needs no preflight), and the Host is then loopback. The LLM proxy would spend the
// server's key on the attacker's prompt. So the demo's own actions (the LLM endpoints, the retry)
// take only requests from its own pages: no other Origin, no cross-site Fetch Metadata, and JSON
// for the LLM endpoints (which a cross-site page cannot send without a preflight nobody answers).
app.use("/llm/*", sameOriginOnly);
app.use("/api/*", sameOriginOnly);
async function sameOriginOnly(c: Context<{ Bindings: DemoEnv }>, next: Next) {
  if (c.req.method === "GET" || c.req.method === "HEAD" || c.req.method === "OPTIONS") return next();
  const origin = c.req.header("origin");
  const site = c.req.header("sec-fetch-site");
  if ((origin !== undefined && origin !== new URL(c.req.url).origin) || (site !== undefined && site !== "same-origin" && site !== "none")) {
    return c.json({ error: `${c.req.method} ${new URL(c.req.url).pathname} refused: it takes requests from the demo's own pages only (Origin ${JSON.stringify(origin ?? null)}).` }, 403);
  }
  if (c.req.path.startsWith("/llm/") && !/^application\/json\s*(;|$)/i.test(c.req.header("content-type") ?? "")) {
    return llmError(415, "send the request as Content-Type: application/json", "invalid_request_error", "unsupported_media_type");
  }
  return next();
}

/**
 * The address to show the page: scheme, host and path only. Credentials are removed, and a URL
 * whose "@" the parser did not take as the user info (a password with an unencoded "#", "/" or
 * "?" ends the host early, and the rest of it would be in the path or fragment) gives no address.
 */
function publicUrl(raw: string): string | null {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return null;
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return null;
  const shown = `${url.origin}${url.pathname}`.replace(/\/+$/, "");
  if (shown.includes("@") || (raw.includes("@") && !url.username && !url.password)) return null;
  return shown;
}

// The experiment's id for the "Open in MLflow" link, kept once found. A miss is not kept: on a
// fresh server the experiment only exists once the buffer forwarded the first trace.
let experimentId: Promise<string | undefined> | undefined;
function findExperimentId(env: DemoEnv): Promise<string | undefined> {
  if (env.MLFLOW_EXPERIMENT_ID) return Promise.resolve(env.MLFLOW_EXPERIMENT_ID);
  let mlflow;
  try {
    mlflow = readBufferConfig(env).mlflow; // the buffer's own reading, so the same server and credentials
  } catch {
    return Promise.resolve(undefined); // the buffer reports a bad setting itself (lastError)
  }
  if (!mlflow) return Promise.resolve(undefined);
  const { trackingUri, experimentName } = mlflow;
  experimentId ??= readCredentials(mlflow) // (Secrets Store bindings read)
    .then((auth) => new MlflowClient({ trackingUri, ...auth, retry: { maxAttempts: 1 }, timeoutMs: 5_000 }).getExperimentIdByName(experimentName ?? ""))
    .catch(() => undefined)
    .then((id) => {
      if (id === undefined) experimentId = undefined; // ask again on the next page load
      return id;
    });
  return experimentId;
}

/**
 * The ingest key for the demo's own pages: the first of INGEST_KEYS bound to this origin ("self",
 * "*" or the origin itself, as the collector matches them), so that a key set for another app (INGEST_KEYS replaces wrangler.toml's)
 * does not leave the page sending with a key the collector refuses. Null when none is (the page
 * then says so) or when INGEST_KEYS is unset or malformed (the collector answers for that itself).
 * Ingest keys are public: a page's key is in its code anyway.
 */
function pageIngestKey(raw: string | undefined, origin: string): string | null {
  try {
    return parseIngestKeys(raw ?? "[]", "INGEST_KEYS").find((k) => originAllowed(origin, k.origins, origin))?.key ?? null;
  } catch {
    return null; // malformed: the collector's 503 names it
  }
}

app.get("/demo/config", async (c) => {
  const uri = c.env.MLFLOW_TRACKING_URI;
  if (!uri) return c.json({ mlflowUrl: null, experimentId: null });
  // Only the address the page links to: no credential ever leaves the Worker.
  return c.json({ mlflowUrl: publicUrl(c.env.MLFLOW_UI_URL ?? uri), experimentId: (await findExperimentId(c.env)) ?? null });
});

// What the chat page needs before its first question: answered at once (no MLflow lookup).
app.get("/demo/chat-config", (c) =>
  c.json({
    model: providerOf(c.env) ? c.env.OPENAI_MODEL || "gpt-4o-mini" : "demo-mini",
    ingestKey: pageIngestKey(c.env.INGEST_KEYS, new URL(c.req.url).origin),
  }),
);

// What the demo's clients call: the OpenAI client on the chat page (chat/completions), and the
// other endpoints the built-in model serves. Matched against the path exactly as sent, so an
// encoded "/" or a dot segment (`..%2Ffiles`) is no endpoint: the server's key reaches nothing else.
const LLM_ENDPOINTS = new Set(["chat/completions", "responses", "embeddings"]);
// The provider's answer headers that a client needs; the rest (Set-Cookie, account and
// organisation headers) is the provider's business with this Worker, not the page's.
const LLM_HEADERS = ["content-type", "cache-control", "retry-after"];

app.use("/llm/*", mlflowTracing());
app.post("/llm/v1/*", async (c) => {
  const endpoint = new URL(c.req.url).pathname.slice("/llm/v1/".length);
  if (!LLM_ENDPOINTS.has(endpoint)) return llmError(404, `/llm/v1/${endpoint} is not an endpoint of this demo`, "invalid_request_error", "unknown_url");
  const provider = providerOf(c.env);
  if (!provider) return fakeLlm(c.req.raw);
  const { base, key } = provider;
  let answer: Response;
  try {
    answer = await fetch(`${base.replace(/\/+$/, "")}/${endpoint}`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
      body: await c.req.raw.arrayBuffer(),
    });
  } catch (error) {
    // Unreachable (DNS, TLS, refused, a malformed OPENAI_BASE_URL): the OpenAI client reads this as
    // a server error it may retry. The reason goes to the Worker's log, not to the page.
    console.warn(`mlflow-edge demo: the model provider at OPENAI_BASE_URL could not be reached: ${String(error).replaceAll(key, "***")}`);
    return llmError(502, "the model provider could not be reached", "api_error", "provider_unreachable");
  }
  if (!answer.ok) return providerRefusal(answer, key);
  const headers = new Headers();
  for (const name of LLM_HEADERS) {
    const value = answer.headers.get(name);
    if (value !== null) headers.set(name, value);
  }
  return new Response(answer.body, { status: answer.status, headers });
});

/**
 * A provider's error answer, for the page: its JSON error with the key masked wherever it is quoted
 * (some providers quote the credential they refused; as text, JSON-escaped or URL-encoded), else, for
 * an HTML error page of a gateway or a wrong OPENAI_BASE_URL, a short error in OpenAI's shape that
 * names the status and kind of body.
 */
async function providerRefusal(answer: Response, key: string): Promise<Response> {
  const forms = [key, encodeURIComponent(key)];
  const mask = (text: string) => forms.reduce((t, form) => t.replaceAll(form, "***"), text);
  const type = answer.headers.get("content-type") ?? "";
  const text = await answer.text().catch(() => "");
  const retry = answer.headers.get("retry-after");
  if (/^application\/(?:[\w.+-]*\+)?json\s*(?:;|$)/i.test(type) && text.length <= 65_536) {
    try {
      // Parsed, so that escapes (\u002d, \/) cannot hide the key, and written again masked.
      const body = JSON.stringify(JSON.parse(text), (_, value: unknown) => (typeof value === "string" ? mask(value) : value));
      return new Response(body, { status: answer.status, headers: { "content-type": "application/json", ...(retry ? { "retry-after": retry } : {}) } });
    } catch {
      // not JSON after all: described below
    }
  }
  console.warn(`mlflow-edge demo: the model provider answered ${answer.status} (${type || "no content type"}): ${mask(text).slice(0, 500)}`);
  return llmError(answer.status, `the model provider answered ${answer.status} with ${type.split(";")[0] || "a body"} that is not an API error (see the Worker's log)`, "api_error", "provider_error");
}

// The Traces view reads /api/traces from the page: open for this local demo. A deployment that
// is reachable by others should use readAccess: "secret" and read through a server.
app.route("/", createCollector<DemoEnv>({ store: (env) => bufferStoreFromEnv(env)!, readAccess: "open" }));

export default app;
