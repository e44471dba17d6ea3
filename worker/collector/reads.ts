import type { Context, Hono, MiddlewareHandler } from "hono";
import type { ForwardingState, TraceQuery, TraceStore } from "../store.js";
import { BEARER_CHALLENGE, sameSecret } from "./auth.js";
import { Refusal } from "./refusal.js";

// The read side (`/api/*`): what the Traces view lists and opens, and the retry of a
// dead-lettered trace. Protected by the collector secret unless the app says reads are open;
// no CORS here, so a page on another origin cannot read traces even when reads are open.

export type ReadAccess = "secret" | "open";

const STATUSES: readonly NonNullable<TraceQuery["status"]>[] = ["OK", "ERROR", "IN_PROGRESS"];
const FORWARDING: readonly ForwardingState[] = ["buffered", "forwarded", "dead-lettered", "not-configured"];
const TRACE_ID = /^tr-[0-9a-f]{32}$/;

export function parseTraceQuery(q: Record<string, string>): TraceQuery {
  const query: TraceQuery = {};
  if (q.limit !== undefined) {
    const limit = /^\d{1,4}$/.test(q.limit) ? Number(q.limit) : Number.NaN;
    if (!(limit >= 1 && limit <= 200)) throw new Refusal(400, `limit must be an integer from 1 to 200, not ${JSON.stringify(q.limit.slice(0, 40))}`, "limit");
    query.limit = limit;
  }
  if (q.cursor) {
    if (q.cursor.length > 200) throw new Refusal(400, "cursor is longer than any this API returns", "cursor", "pass nextCursor from the previous page unchanged");
    query.cursor = q.cursor;
  }
  if (q.status) {
    if (!(STATUSES as readonly string[]).includes(q.status)) throw new Refusal(400, `status must be one of ${STATUSES.join(", ")}`, "status");
    query.status = q.status as TraceQuery["status"];
  }
  if (q.forwarding) {
    if (!(FORWARDING as readonly string[]).includes(q.forwarding)) throw new Refusal(400, `forwarding must be one of ${FORWARDING.join(", ")}`, "forwarding");
    query.forwarding = q.forwarding as ForwardingState;
  }
  for (const name of ["tag", "text"] as const) {
    const v = q[name];
    if (!v) continue;
    if (v.length > 500) throw new Refusal(400, `${name} is longer than 500 characters`, name);
    query[name] = v;
  }
  return query;
}

function traceIdParam(c: Context): string {
  const id = c.req.param("id") ?? "";
  if (!TRACE_ID.test(id)) throw new Refusal(400, "a trace id is tr- and 32 lowercase hex characters", "id");
  return id;
}

export function mountReads<E extends { Bindings: object }>(
  app: Hono<E>,
  storeOf: (c: Context<E>) => TraceStore,
  accessOf: (c: Context<E>) => Promise<{ mode: ReadAccess; secret: string | undefined }>,
  paths: readonly string[],
): void {
  // On the read routes only: the host app's own /api/* routes are not the collector's to guard.
  const guard: MiddlewareHandler<E> = async (c, next) => {
    const { mode, secret } = await accessOf(c);
    if (mode === "secret") {
      // No secret configured with readAccess "secret": nobody can read, which is the safe failure.
      if (!secret) {
        throw new Refusal(401, "reading traces needs the collector secret, and none is configured", "", 'set COLLECTOR_SECRET and send it as a bearer token (readAccess: "open" only for a collector nobody else can reach)', { ...BEARER_CHALLENGE });
      }
      const bearer = /^Bearer\s+(.+)$/i.exec(c.req.header("authorization") ?? "")?.[1]?.trim();
      if (bearer === undefined || !sameSecret(bearer, secret)) {
        throw new Refusal(401, "reading traces needs the collector secret", "", "send Authorization: Bearer <COLLECTOR_SECRET>", { ...BEARER_CHALLENGE });
      }
    }
    await next();
    c.res.headers.set("cache-control", "no-store");
  };
  for (const path of paths) app.use(path, guard);

  app.get("/api/traces", async (c) => {
    const query = parseTraceQuery(c.req.query());
    try {
      return c.json(await storeOf(c).list(query));
    } catch (error) {
      // The store's way of saying a cursor is not one it issued (TraceStore.list throws RangeError).
      if (error instanceof RangeError) throw new Refusal(400, error.message, "cursor", "pass nextCursor from the previous page unchanged");
      throw error;
    }
  });

  app.get("/api/traces/:id", async (c) => {
    const found = await storeOf(c).get(traceIdParam(c));
    if (!found) throw new Refusal(404, "no such trace in the buffer", "id", "forwarded traces are kept for TRACE_RETENTION_HOURS");
    return c.json(found);
  });

  app.post("/api/traces/:id/retry", async (c) => {
    // A page elsewhere can POST here without a preflight (a form, a no-cors fetch): with reads
    // open, any site a reader visits could have dead-lettered traces forwarded again. Browsers
    // always send Origin on a POST; servers and the collector's own pages are unaffected.
    const origin = c.req.header("origin");
    if (origin !== undefined && origin !== new URL(c.req.url).origin) {
      throw new Refusal(403, `origin ${origin} may not retry traces here`, "", "retry from the collector's own origin, or from a server");
    }
    const ok = await storeOf(c).retry(traceIdParam(c));
    if (!ok) throw new Refusal(404, "no dead-lettered trace with this id in the buffer", "id", "only a dead-lettered trace is retried; GET /api/traces/:id shows a trace's state");
    return c.json({ retried: true });
  });
}
