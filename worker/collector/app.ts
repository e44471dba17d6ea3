import { Hono, type Context } from "hono";
import { checkKnownKeys } from "../../core/config.js";
import { redactSecrets, type RedactHook } from "../../core/export/redact.js";
import type { Trace } from "../../core/model/types.js";
import { isPromiseLike } from "../../core/tracer.js";
import { errorText } from "../../core/debug.js";
import { ConfigError, isSecretBinding, readSecret, type SecretBinding } from "../buffer/config.js";
import type { TraceStore } from "../store.js";
import { authenticate, headerCarries, parseIngestKeys, type AuthSettings, type IngestKey } from "./auth.js";
import { isProtobuf, readBytes, readJson } from "./body.js";
import { corsForIngest } from "./cors.js";
import { resolveLimits, type CollectorLimits } from "./limits.js";
import { tracesFromOtlp } from "./otlp-in.js";
import { decodeOtlpProto, encodePartialSuccess, encodeStatus } from "./otlp-proto.js";
import { clientOf, RateLimiter, resolveRateLimit, type RateLimit } from "./rate-limit.js";
import { mountReads, type ReadAccess } from "./reads.js";
import { otlpStatus, Refusal } from "./refusal.js";
import { validateIngestBatch, withoutServerKeys } from "./validate.js";
import { markCollectorRequest } from "../untraced.js";

// The collector: a Hono app that takes traces from browsers (`POST /v1/ingest`) and from
// OpenTelemetry/MLflow senders (`POST /v1/traces`), validates them strictly, re-redacts them, and
// hands them to a TraceStore (the sharded TraceBuffer Durable Objects); and serves them back for
// viewing (`GET /api/traces`, `GET /api/traces/:id`). docs/collector.md describes it in full.

export interface CollectorOptions<Env extends object = object> {
  /** Where traces go, per request env (the Durable Object binding lives there). */
  store: TraceStore | ((env: Env) => TraceStore);
  /** Public per-origin ingest keys; default from the `INGEST_KEYS` env variable (JSON). */
  ingestKeys?: IngestKey[] | ((env: Env) => IngestKey[]);
  /**
   * The server senders' secret; default from `COLLECTOR_SECRET` in env (a Worker secret, or a
   * Secrets Store binding read at each request that needs it). A function may answer with a Promise
   * or a Secrets Store binding.
   */
  secret?: string | ((env: Env) => string | undefined | SecretBinding | Promise<string | undefined>);
  /**
   * Who may read traces through `/api/traces`: "secret" (the collector secret as a bearer token),
   * "open" (anyone who can reach the collector: a local demo). Default: "open" only for a collector
   * with neither ingest keys nor a secret (open for ingest too); else "secret", and with no secret
   * configured nobody can read.
   */
  readAccess?: ReadAccess;
  limits?: Partial<CollectorLimits>;
  rateLimit?: Partial<RateLimit>;
  /** Runs on every incoming trace before it is stored; default masks secret-looking values. */
  redact?: RedactHook;
  /** Clock for the rate limiter (tests). */
  now?: () => number;
}

type Ctx<Env extends object> = Context<{ Bindings: Env }>;

/** Every CollectorOptions key: a misspelt one (`readaccess`) would be ignored without a word. */
const COLLECTOR_KEYS = ["store", "ingestKeys", "secret", "readAccess", "limits", "rateLimit", "redact", "now"] as const satisfies readonly (keyof CollectorOptions)[];
// Every option is listed (a new one left out would be refused as unknown).
const allListed: [Exclude<keyof CollectorOptions, (typeof COLLECTOR_KEYS)[number]>] extends [never] ? true : never = true;

const STORE_METHODS = ["put", "list", "get", "retry"] as const satisfies readonly (keyof TraceStore)[];

/** Why a secret `headerCarries` refuses would never match (a line break kept from a file, say). */
const UNCARRIED = "is not printable ASCII without a space at either end (a line break kept from a file?), which no Authorization header carries as written, so the right secret would be refused";

/** The collector's routes under /v1/ and /api/ and the method each takes (preflights aside). */
const ROUTES: [string, "GET" | "POST"][] = [
  ["/v1/ingest", "POST"],
  ["/v1/traces", "POST"],
  ["/api/traces", "GET"],
  ["/api/traces/:id", "GET"],
  ["/api/traces/:id/retry", "POST"],
];

/** The operator's mistake, not the sender's: say so, and let clients retry once it is fixed. */
const misconfigured = (message: string, what: string) =>
  new Refusal(503, `the collector is misconfigured: ${message}`, "", `fix ${what} in the Worker's configuration`, { "retry-after": "60" });

/** At most this many traces of one OTLP request are left out (each a store call more); past it, the request is refused. */
const MAX_LEFT_OUT = 8;

export function createCollector<Env extends object = object>(options: CollectorOptions<Env>): Hono<{ Bindings: Env }> {
  // Every option is checked here, so a bad deployment fails at start-up, not at the first request.
  if (!options?.store) throw new TypeError("createCollector(): options.store is required (a TraceStore or (env) => TraceStore).");
  checkKnownKeys(options, COLLECTOR_KEYS, "createCollector");
  // Something else given as the store (the Durable Object namespace itself) would be a 503 on every request.
  if (typeof options.store !== "function") {
    const store = options.store as unknown as Record<string, unknown>;
    const missing = STORE_METHODS.filter((m) => typeof store?.[m] !== "function");
    if (missing.length > 0) throw new TypeError(`createCollector(): options.store must be a TraceStore (put, list, get, retry) or (env) => TraceStore; it has no ${missing.join(", ")}.`);
  }
  if (options.now !== undefined && typeof options.now !== "function") throw new TypeError("createCollector(): now must be a function returning epoch milliseconds (the rate limiter's clock).");
  if (options.secret !== undefined && !(typeof options.secret === "function" || (typeof options.secret === "string" && options.secret !== ""))) {
    throw new TypeError(`createCollector(): secret must be a non-empty string or (env) => string | undefined; got ${options.secret === null ? "null" : typeof options.secret}.`);
  }
  if (typeof options.secret === "string" && !headerCarries(options.secret)) throw new TypeError(`createCollector(): secret ${UNCARRIED}.`);
  const limits = resolveLimits(options.limits);
  const limiter = new RateLimiter(resolveRateLimit(options.rateLimit), options.now);
  if (options.readAccess !== undefined && options.readAccess !== "secret" && options.readAccess !== "open") {
    throw new TypeError(`createCollector(): readAccess must be "secret" or "open"; got ${JSON.stringify(options.readAccess)}.`);
  }
  if (options.redact !== undefined && typeof options.redact !== "function") throw new TypeError("createCollector(): redact must be a function (trace) => trace | null.");
  if (Array.isArray(options.ingestKeys)) parseIngestKeys(options.ingestKeys);
  else if (options.ingestKeys !== undefined && typeof options.ingestKeys !== "function") throw new TypeError("createCollector(): ingestKeys must be an array of {key, origins} or (env) => that.");
  const redact = options.redact ?? redactSecrets;

  const envOf = (c: Ctx<Env>) => (c.env ?? {}) as Env & Record<string, unknown>;
  const storeOf = (c: Ctx<Env>) => {
    if (typeof options.store !== "function") return options.store;
    let store: TraceStore | undefined;
    try {
      store = options.store(envOf(c));
    } catch (error) {
      // A Worker variable the store reads (TRACE_BUFFER_SHARDS) is wrong: as for INGEST_KEYS below.
      if (error instanceof ConfigError) throw misconfigured(error.message, error.variable);
      throw error;
    }
    // bufferStoreFromEnv(env) gives undefined when the binding is missing or misnamed.
    if (typeof store?.put !== "function") throw misconfigured("options.store(env) gave no trace store (is the TRACE_BUFFER Durable Object binding missing?)", "the Durable Object binding");
    return store;
  };
  // An auth function that throws or rejects (a binding it reads is missing) is the deployment's
  // mistake, not the store's. What it threw may quote a secret's text, so it goes to the log, not
  // the answer.
  const fromOption = <T>(call: () => T, name: string, what: string): T => {
    const failed = (error: unknown) => {
      console.error(`mlflow-edge collector: ${name} threw:`, error);
      return misconfigured(`${name} threw (the error is in the Worker's log)`, what);
    };
    try {
      const result = call();
      return isPromiseLike(result) ? (Promise.resolve(result).catch((error: unknown) => Promise.reject(failed(error))) as T) : result;
    } catch (error) {
      throw failed(error);
    }
  };
  // Parsed once per distinct source (the env var's text, or the array a function returned).
  let cachedKeys: { source: unknown; keys: IngestKey[] } | undefined;
  const keysOf = (c: Ctx<Env>): IngestKey[] => {
    const env = envOf(c);
    const fromFunction = typeof options.ingestKeys === "function";
    const source = fromFunction ? fromOption(() => (options.ingestKeys as (env: Env) => IngestKey[])(env), "options.ingestKeys(env)", "the ingestKeys function") : (options.ingestKeys ?? env.INGEST_KEYS);
    if (cachedKeys && cachedKeys.source === source) return cachedKeys.keys;
    const name = fromFunction ? "ingestKeys(env)" : Array.isArray(options.ingestKeys) ? "ingestKeys" : "INGEST_KEYS";
    let keys: IngestKey[];
    try {
      keys = source === undefined || source === "" ? [] : parseIngestKeys(source, name);
    } catch (error) {
      throw misconfigured((error as Error).message, name);
    }
    cachedKeys = { source, keys };
    return keys;
  };
  const secretOf = async (c: Ctx<Env>): Promise<string | undefined> => {
    const env = envOf(c);
    const secretFn = options.secret;
    const fromFn = typeof secretFn === "function";
    let secret: unknown = typeof secretFn === "function" ? await fromOption(() => secretFn(env), "options.secret(env)", "the secret function") : (secretFn ?? env.COLLECTOR_SECRET);
    const name = fromFn ? "options.secret(env)" : "COLLECTOR_SECRET";
    if (isSecretBinding(secret)) {
      try {
        secret = await readSecret(secret, name);
      } catch (error) {
        // The store's error names the secret and its store: for the log, not for whoever asked.
        console.error("mlflow-edge collector:", errorText(error));
        throw misconfigured(`${name} is a binding whose secret could not be read (the error is in the Worker's log)`, fromFn ? "the secret function" : "COLLECTOR_SECRET");
      }
    } else if (!fromFn && secret !== undefined && typeof secret !== "string") {
      // A COLLECTOR_SECRET that is neither text nor a Secrets Store binding is named, rather than
      // taken as no secret: every server sender would get 401 with no reason.
      throw misconfigured(`COLLECTOR_SECRET is a binding holding ${secret === null ? "null" : typeof secret}, not text or a Secrets Store secret`, "COLLECTOR_SECRET");
    }
    if (secret !== undefined && typeof secret !== "string") throw misconfigured(`options.secret(env) returned ${secret === null ? "null" : typeof secret}, not a string`, "the secret function");
    if (secret && !headerCarries(secret)) {
      throw misconfigured(`${fromFn ? "options.secret(env) returned a secret that" : "COLLECTOR_SECRET"} ${UNCARRIED}`, fromFn ? "the secret function" : "COLLECTOR_SECRET");
    }
    return secret || undefined;
  };
  // Auth given (a variable set, even empty; a function, even one that finds nothing): the collector
  // is not the open one of a local demo, whatever the values hold. `ingestKeys: []` written in code
  // is the choice of none.
  const keysInCode = Array.isArray(options.ingestKeys) && options.ingestKeys.length === 0 ? undefined : options.ingestKeys;
  /** A secret is configured (set, even empty or broken; read or not). */
  const secretConfigured = (c: Ctx<Env>): boolean => options.secret !== undefined || envOf(c).COLLECTOR_SECRET !== undefined;
  const authConfigured = (c: Ctx<Env>): boolean => keysInCode !== undefined || envOf(c).INGEST_KEYS !== undefined || secretConfigured(c);
  // A page's request (its ingest key, no Authorization) is checked against the keys alone: the
  // secret is not read, so a broken setting of it is the 503 of those who send the secret (and of
  // /health), not of every visitor's page, as it does not close reads kept open. With no keys there
  // is nothing else to check.
  const authOf = async (c: Ctx<Env>, sendsSecret = true): Promise<AuthSettings> => {
    const keys = keysOf(c);
    const auth = { keys, secret: sendsSecret || keys.length === 0 ? await secretOf(c) : undefined, secretSet: secretConfigured(c) };
    if (!auth.keys.length && !auth.secret && authConfigured(c)) {
      // Set, but to nothing (COLLECTOR_SECRET="", INGEST_KEYS="[]", a secret binding missing): refused, never open.
      if (options.ingestKeys !== undefined && keysInCode === undefined && envOf(c).INGEST_KEYS !== undefined) {
        throw misconfigured("ingestKeys: [] in the code overrides INGEST_KEYS, and no secret is set", "the collector's ingestKeys option");
      }
      throw misconfigured("ingest keys or a secret are configured but hold none (an empty INGEST_KEYS or COLLECTOR_SECRET, a secret(env) that found nothing), and an empty setting does not open the collector to anyone", "INGEST_KEYS or COLLECTOR_SECRET (remove both to run open, as the local demo)");
    }
    return auth;
  };

  const app = new Hono<{ Bindings: Env }>();

  app.onError((error, c) => {
    let refusal: Refusal;
    if (error instanceof Refusal) refusal = error;
    else {
      // A store failure (a Durable Object overloaded or restarting): nothing was acknowledged, so
      // the client keeps its traces and retries. The cause stays in the log, not in the answer.
      console.error("mlflow-edge collector:", error);
      const writing = c.req.method === "POST";
      refusal = new Refusal(503, writing ? "the collector could not store the traces right now" : "the trace store is not available right now", "", "retry later", { "retry-after": "5" });
    }
    const otlp = new URL(c.req.url).pathname.endsWith("/v1/traces"); // also when mounted under a prefix
    // OTLP senders read a google.rpc.Status: as protobuf for a protobuf request, else its fields beside ours.
    if (otlp && isProtobuf(c.req.raw)) {
      const { code, message } = otlpStatus(refusal);
      return c.body(encodeStatus(code, message), refusal.status, { ...refusal.headers, "content-type": "application/x-protobuf" });
    }
    return c.json(otlp ? { ...refusal.body, ...otlpStatus(refusal) } : refusal.body, refusal.status, refusal.headers);
  });
  const noRoute = (c: Ctx<Env>) => new Refusal(404, `no route ${c.req.method} ${new URL(c.req.url).pathname}`, "", "see docs/collector.md");
  app.notFound((c) => c.json(noRoute(c).body, 404));

  // Only on the collector's own paths: a host app's /v1/chat/completions gets no collector CORS.
  const cors = corsForIngest((c) => keysOf(c as Ctx<Env>));
  // Its own requests are not traces of the app that mounts it (instrument(), mlflowTracing()),
  // refused ones included: marked first. Only those it answers: every method on its routes (a wrong
  // one is its 405), GET (and HEAD) alone on /health, whose other methods stay the host app's.
  const mark = async (c: Ctx<Env>, next: () => Promise<void>) => {
    markCollectorRequest(c.req.raw);
    await next();
  };
  for (const [path] of ROUTES) app.use(path, mark);
  app.get("/health", mark);
  for (const [path] of ROUTES) if (path.startsWith("/v1/")) app.use(path, cors);

  const ingest = async (c: Ctx<Env>, read: (request: Request) => Promise<Trace[]>): Promise<Trace[]> => {
    const caller = authenticate(c.req.raw.headers, new URL(c.req.url).origin, await authOf(c, c.req.header("authorization") !== undefined));
    // Server senders hold the secret and are trusted: the limit is for what pages can send. A page
    // key is public and shared by every visitor of the site: one bucket per key and client address,
    // so that a runaway page (or anyone holding the key) slows down itself, not the site's visitors.
    const address = `ip:${clientOf(c.req.header("cf-connecting-ip") ?? "local")}`;
    const wait = caller.kind === "secret" ? 0 : limiter.take(caller.kind === "key" ? `key:${caller.key} ${address}` : address);
    if (wait > 0) throw new Refusal(429, `too many requests from this client address${caller.kind === "key" ? " with this ingest key" : ""}`, "", "slow down; the browser client backs off by itself", { "retry-after": String(Math.ceil(wait / 1000)) });
    const traces = await read(c.req.raw);
    // A page's claim to a run, a model or a storage place is not kept, as its experiment is not.
    if (caller.kind !== "secret") for (const t of traces) withoutServerKeys(t);
    return traces.map((t, i) => {
      let clean: Trace | null;
      try {
        clean = redact(t);
      } catch {
        clean = null;
      }
      // Neither a trace nor null (an async hook's Promise, undefined from a hook that forgot to
      // return): the deployment's mistake, made for every trace alike, so the clients keep theirs
      // until it is fixed, as for a malformed INGEST_KEYS.
      const thenable = isPromiseLike(clean);
      if (clean !== null && (typeof clean !== "object" || thenable)) {
        if (thenable) Promise.resolve(clean).catch(() => undefined); // its outcome is not used
        const what = thenable ? "a Promise" : clean === undefined ? "undefined" : typeof clean;
        throw misconfigured(`the redact hook returned ${what}, not the trace or null`, "the collector's redact option (it returns the trace, or null to refuse it, synchronously)");
      }
      // A redaction failure drops nothing silently: the batch is refused, the client keeps it.
      if (clean === null) throw new Refusal(422, `trace ${t.info.traceId} was refused by the collector's redaction`, `traces[${i}]`, "see the collector's redact option");
      return clean;
    });
  };

  const put = async (c: Ctx<Env>, traces: Trace[]) => {
    try {
      return await storeOf(c).put(traces);
    } catch (error) {
      // The buffer refuses a trace that would not fit its row, merged with the parts it already
      // holds (`traces[i]...`): a retry cannot succeed, so not a 503 the client would retry for ever.
      const at = error instanceof Error && error.message.startsWith("traces[") ? (error.message.split(" ")[0] as string) : undefined;
      if (at && error instanceof RangeError) throw new Refusal(413, (error as Error).message, at, "send fewer or smaller tags, values or spans for this trace");
      // A shape the buffer refuses after validation passed: the redact hook's output.
      if (at && error instanceof TypeError) throw new Refusal(422, `the collector's redaction left a trace the buffer refuses: ${error.message}`, at, "the redact hook must keep each span's name, status, attributes and events");
      throw error;
    }
  };

  /**
   * OTLP senders do not send a refused request again: a trace the buffer refuses (over what one
   * stored trace holds, its parts merged) is left out and the others of the request are stored, as
   * OTLP's partial success allows, instead of a 413 that loses them all. Nothing stored: the 413.
   * (Page batches stay all or nothing: the browser queue sends each trace alone after a 413.)
   */
  const putLeavingOut = async (c: Ctx<Env>, traces: Trace[]): Promise<{ spans: number; message: string } | undefined> => {
    let rest = traces;
    let spans = 0;
    const reasons: string[] = [];
    for (;;) {
      try {
        await put(c, rest);
        break;
      } catch (error) {
        const at = error instanceof Refusal && error.status === 413 ? /^traces\[(\d+)\]/.exec(error.path) : null;
        // Nothing left to store, or a request whose traces keep being refused: the 413 as it is.
        if (!at || rest.length === 1 || reasons.length >= MAX_LEFT_OUT) throw error;
        const i = Number(at[1]);
        spans += rest[i]!.data.spans.length;
        // Named by trace id: the index in the message is of the traces left, not of the request.
        const id = rest[i]!.info.traceId;
        const message = (error as Refusal).message;
        reasons.push(message.includes(id) ? message.replace(/^traces\[\d+\]/, "a part") : `trace ${id}: ${message.replace(/^traces\[\d+\]\.?/, "")}`);
        rest = rest.filter((_, j) => j !== i);
      }
    }
    return reasons.length ? { spans, message: `refused ${reasons.length} of ${traces.length} traces; ${reasons.join("; ").slice(0, 1000)}` } : undefined;
  };

  app.post("/v1/ingest", async (c) => {
    const traces = await ingest(c, async (request) => validateIngestBatch(await readJson(request, limits.maxBodyBytes), limits));
    const result = await put(c, traces);
    return c.json({ accepted: traces.length, ...result });
  });

  // OTLP/HTTP in either encoding; the answer comes in the request's (an empty ExportTraceServiceResponse).
  app.post("/v1/traces", async (c) => {
    const proto = isProtobuf(c.req.raw);
    const traces = await ingest(c, async (request) =>
      tracesFromOtlp(
        proto
          ? decodeOtlpProto(await readBytes(request, limits.maxBodyBytes, "protobuf", true), limits)
          : await readJson(request, limits.maxBodyBytes, "application/json or application/x-protobuf"),
        limits,
      ),
    );
    const rejected = traces.length > 0 ? await putLeavingOut(c, traces) : undefined;
    if (proto) {
      const body = rejected ? encodePartialSuccess(rejected.spans, rejected.message) : new Uint8Array(0);
      return c.body(body, 200, { "content-type": "application/x-protobuf" });
    }
    // int64 as a decimal string, as the OTLP JSON mapping writes it.
    return c.json({ partialSuccess: rejected ? { rejectedSpans: String(rejected.spans), errorMessage: rejected.message } : {} });
  });

  // Healthy only if ingest could work: a malformed INGEST_KEYS or TRACE_BUFFER_SHARDS is the same
  // 503 with its reason as every ingest gets, not an "ok" beside a collector refusing everything.
  app.get("/health", async (c) => {
    await authOf(c);
    storeOf(c);
    return c.json({ ok: true });
  });

  // Reads are open by default only where ingest is: no auth given at all (a local collector). Auth
  // given, even malformed or empty, means a deployment: reads stay closed.
  mountReads(
    app,
    storeOf,
    async (c) => {
      // Reads kept open need no secret: a malformed one does not close them (nor does INGEST_KEYS).
      if (options.readAccess === "open") return { mode: "open", secret: undefined };
      return { mode: options.readAccess ?? (authConfigured(c) ? "secret" : "open"), secret: await secretOf(c) };
    },
    ROUTES.filter(([path]) => path.startsWith("/api/")).map(([path]) => path),
  );

  // A sub-app's notFound is not used once it is mounted (`app.route("/", createCollector(...))`):
  // these are routes, so a wrong method on a collector route gets its JSON 405 (with Allow) however
  // the collector is served. Only its own paths: every other path, under /v1/ and /api/ too (an
  // OpenAI-compatible /v1/chat/completions), stays the host app's, wherever it registers it.
  for (const [path, allow] of ROUTES) {
    app.all(path, (c) => {
      throw new Refusal(405, `${c.req.method} is not allowed on ${new URL(c.req.url).pathname}`, "", `send ${allow}`, { allow: allow === "GET" ? "GET, HEAD" : allow });
    });
  }

  return app;
}
