import { Hono, type Context } from "hono";
import { INGEST_KEY_HEADER } from "../../core/export/ingest-format.js";
import { redactSecrets, type RedactHook } from "../../core/export/redact.js";
import type { Trace } from "../../core/model/types.js";
import type { TraceQuery, TraceStore } from "../store.js";
import { authenticate, parseIngestKeys, sameSecret, type AuthSettings, type IngestKey } from "./auth.js";
import { readJson } from "./body.js";
import { resolveLimits, type CollectorLimits } from "./limits.js";
import { tracesFromOtlp } from "./otlp-in.js";
import { RateLimiter, type RateLimit } from "./rate-limit.js";
import { Refusal } from "./refusal.js";
import { validateIngestBatch } from "./validate.js";

// The collector: a Hono app that takes traces from browsers (`POST /v1/ingest`) and from
// OpenTelemetry/MLflow senders (`POST /v1/traces`), validates them strictly, re-redacts them, and
// hands them to a TraceStore (the sharded TraceBuffer Durable Objects); and serves them back for
// viewing (`GET /api/traces`, `GET /api/traces/:id`). docs/collector.md describes it in full.

export interface CollectorOptions<Env extends object = object> {
  /** Where traces go, per request env (the Durable Object binding lives there). */
  store: TraceStore | ((env: Env) => TraceStore);
  /** Public per-origin ingest keys; default from the `INGEST_KEYS` env variable (JSON). */
  ingestKeys?: IngestKey[] | ((env: Env) => IngestKey[]);
  /** The server senders' secret; default from the `COLLECTOR_SECRET` env secret. */
  secret?: string | ((env: Env) => string | undefined);
  /**
   * Who may read traces through `/api/*`: "secret" (the collector secret as a bearer token),
   * "open" (anyone who can reach the collector: a local demo). Default: "secret" when a secret is
   * configured, else "open".
   */
  readAccess?: "secret" | "open";
  limits?: Partial<CollectorLimits>;
  rateLimit?: Partial<RateLimit>;
  /** Runs on every incoming trace before it is stored; default masks secret-looking values. */
  redact?: RedactHook;
  /** Clock for the rate limiter (tests). */
  now?: () => number;
}

const ALLOWED_HEADERS = `content-type, ${INGEST_KEY_HEADER}, authorization`;

export function createCollector<Env extends object = object>(options: CollectorOptions<Env>): Hono<{ Bindings: Env }> {
  if (!options?.store) throw new TypeError("createCollector(): options.store is required (a TraceStore or (env) => TraceStore).");
  const limits = resolveLimits(options.limits);
  const rate = { perSecond: options.rateLimit?.perSecond ?? 50, burst: options.rateLimit?.burst ?? 100 };
  if (!(rate.perSecond > 0) || !(rate.burst >= 1)) throw new TypeError("createCollector(): rateLimit.perSecond must be > 0 and burst >= 1.");
  const limiter = new RateLimiter(rate, options.now);
  const redact = options.redact ?? redactSecrets;
  const envOf = (c: Context<{ Bindings: Env }>) => (c.env ?? {}) as Env & Record<string, unknown>;
  const storeOf = (c: Context<{ Bindings: Env }>) => (typeof options.store === "function" ? options.store(envOf(c)) : options.store);
  let cachedKeys: { source: unknown; keys: IngestKey[] } | undefined;
  const authOf = (c: Context<{ Bindings: Env }>): AuthSettings => {
    const env = envOf(c);
    const secret = typeof options.secret === "function" ? options.secret(env) : (options.secret ?? (typeof env.COLLECTOR_SECRET === "string" ? env.COLLECTOR_SECRET : undefined));
    let keys: IngestKey[];
    if (typeof options.ingestKeys === "function") keys = options.ingestKeys(env);
    else if (options.ingestKeys) keys = options.ingestKeys;
    else {
      const source = env.INGEST_KEYS;
      if (!cachedKeys || cachedKeys.source !== source) {
        try {
          cachedKeys = { source, keys: source === undefined || source === "" ? [] : parseIngestKeys(source, "INGEST_KEYS") };
        } catch (error) {
          // The operator's mistake, not the sender's: say so, and let clients retry once it is fixed.
          throw new Refusal(503, `the collector is misconfigured: ${(error as Error).message}`, "", "fix the INGEST_KEYS variable of the Worker", { "retry-after": "60" });
        }
      }
      keys = cachedKeys.keys;
    }
    return { keys, secret: secret || undefined };
  };
  if (Array.isArray(options.ingestKeys)) parseIngestKeys(options.ingestKeys); // fail at construction, not at the first request

  const app = new Hono<{ Bindings: Env }>();
  const selfOrigin = (c: Context) => new URL(c.req.url).origin;

  // CORS, only for origins some ingest key allows (or the collector's own origin).
  app.use("/v1/*", async (c, next) => {
    const origin = c.req.header("origin");
    const allowed = origin !== undefined && (origin === selfOrigin(c) || authOf(c).keys.some((k) => k.origins.some((o) => o === "*" || o === origin || (o === "self" && origin === selfOrigin(c)))));
    if (c.req.method === "OPTIONS") {
      if (!allowed) return c.body(null, 403);
      return c.body(null, 204, {
        "access-control-allow-origin": origin!,
        "access-control-allow-methods": "POST",
        "access-control-allow-headers": ALLOWED_HEADERS,
        "access-control-max-age": "86400",
        vary: "Origin",
      });
    }
    await next();
    if (allowed) {
      c.res.headers.set("access-control-allow-origin", origin!);
      c.res.headers.set("access-control-expose-headers", "retry-after");
      c.res.headers.append("vary", "Origin");
    }
    return undefined;
  });

  app.onError((error, c) => {
    if (error instanceof Refusal) return c.json(error.body, error.status, error.headers);
    // A store failure (a Durable Object overloaded or restarting): nothing was acknowledged, so
    // the client keeps the traces and retries.
    console.error("mlflow-edge collector:", error);
    return c.json({ error: "the collector could not store the traces right now", path: "", hint: "retry later" }, 503, { "retry-after": "5" });
  });
  app.notFound((c) => c.json({ error: `no route ${c.req.method} ${new URL(c.req.url).pathname}`, path: "", hint: "see docs/collector.md" }, 404));

  const ingest = async (c: Context<{ Bindings: Env }>, parse: (body: unknown) => Trace[]) => {
    const caller = authenticate(c.req.raw.headers, selfOrigin(c), authOf(c));
    // Server senders hold the secret and are trusted: the limit is for what pages can send.
    const who = caller.kind === "key" ? `key:${caller.key}` : `ip:${c.req.header("cf-connecting-ip") ?? "local"}`;
    const wait = caller.kind === "secret" ? 0 : limiter.take(who);
    if (wait > 0) throw new Refusal(429, "too many requests for this ingest key", "", "slow down; the browser client backs off by itself", { "retry-after": String(Math.ceil(wait / 1000)) });
    const traces = parse(await readJson(c.req.raw, limits.maxBodyBytes));
    const clean: Trace[] = [];
    for (const t of traces) {
      let r: Trace | null;
      try {
        r = redact(t);
      } catch {
        r = null;
      }
      // A redaction failure drops nothing silently: the batch is refused, the client keeps it.
      if (r === null) throw new Refusal(422, `trace ${t.info.traceId} was refused by the collector's redaction`, "", "");
      clean.push(r);
    }
    return clean;
  };

  app.post("/v1/ingest", async (c) => {
    const traces = await ingest(c, (body) => validateIngestBatch(body, limits));
    const result = await storeOf(c).put(traces);
    return c.json({ accepted: traces.length, ...result });
  });

  app.post("/v1/traces", async (c) => {
    const traces = await ingest(c, (body) => tracesFromOtlp(body, limits));
    await storeOf(c).put(traces);
    return c.json({ partialSuccess: {} });
  });

  app.get("/health", (c) => c.json({ ok: true }));

  // ---------------------------------------------------------------- reads
  app.use("/api/*", async (c, next) => {
    const { secret } = authOf(c);
    const mode = options.readAccess ?? (secret ? "secret" : "open");
    if (mode === "secret") {
      const bearer = /^Bearer\s+(.+)$/i.exec(c.req.header("authorization") ?? "")?.[1]?.trim();
      if (!secret || bearer === undefined || !sameSecret(bearer, secret)) {
        throw new Refusal(401, "reading traces needs the collector secret", "", "send Authorization: Bearer <COLLECTOR_SECRET>");
      }
    }
    await next();
    c.res.headers.set("cache-control", "no-store");
  });

  app.get("/api/traces", async (c) => {
    const q = c.req.query();
    const query: TraceQuery = {};
    if (q.limit !== undefined) {
      const limit = Number(q.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 200) throw new Refusal(400, "limit must be an integer from 1 to 200", "limit");
      query.limit = limit;
    }
    if (q.cursor) query.cursor = q.cursor.slice(0, 200);
    if (q.status) {
      if (!["OK", "ERROR", "IN_PROGRESS"].includes(q.status)) throw new Refusal(400, "status must be OK, ERROR or IN_PROGRESS", "status");
      query.status = q.status as TraceQuery["status"];
    }
    if (q.forwarding) {
      if (!["buffered", "forwarded", "dead-lettered", "not-configured"].includes(q.forwarding)) throw new Refusal(400, "forwarding must be buffered, forwarded, dead-lettered or not-configured", "forwarding");
      query.forwarding = q.forwarding as TraceQuery["forwarding"];
    }
    if (q.tag) query.tag = q.tag.slice(0, 500);
    if (q.text) query.text = q.text.slice(0, 500);
    try {
      return c.json(await storeOf(c).list(query));
    } catch (error) {
      if (error instanceof RangeError || (error instanceof Error && /cursor|limit|status|forwarding/.test(error.message))) throw new Refusal(400, error.message, "cursor");
      throw error;
    }
  });

  const traceId = (c: Context) => {
    const id = c.req.param("id") ?? "";
    if (!/^tr-[0-9a-f]{32}$/.test(id)) throw new Refusal(400, "a trace id is tr- and 32 lowercase hex characters", "id");
    return id;
  };

  app.get("/api/traces/:id", async (c) => {
    const found = await storeOf(c).get(traceId(c));
    if (!found) throw new Refusal(404, "no such trace in the buffer", "id", "forwarded traces are kept for TRACE_RETENTION_HOURS");
    return c.json(found);
  });

  app.post("/api/traces/:id/retry", async (c) => {
    const ok = await storeOf(c).retry(traceId(c));
    if (!ok) throw new Refusal(404, "no such trace in the buffer", "id");
    return c.json({ retried: true });
  });

  return app;
}
