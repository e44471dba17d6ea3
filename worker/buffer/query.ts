import type { ForwardingState, TraceQuery, TraceSummary } from "../store.js";

// The Traces view's list query as SQL over one shard: newest first by (request_time, trace_id),
// keyset paging (a cursor is the last row's key, so pages stay stable while traces arrive), and the
// filters. Every value is a bound parameter.

export const MAX_PAGE = 200;
const FORWARDING: readonly ForwardingState[] = ["buffered", "forwarded", "dead-lettered", "not-configured"];
const STATES = ["OK", "ERROR", "IN_PROGRESS"];

export interface Cursor {
  requestTime: number;
  traceId: string;
}

export function encodeCursor(c: Cursor): string {
  return `${c.requestTime}~${c.traceId}`;
}

export function decodeCursor(text: string): Cursor {
  const m = /^(-?\d+(?:\.\d+)?)~(tr-[0-9a-f]{32})$/.exec(text);
  if (!m) throw new RangeError(`cursor ${JSON.stringify(text.slice(0, 80))} is not one this API returned`);
  return { requestTime: Number(m[1]), traceId: m[2]! };
}

/** Checks a query (the collector validates first; a shard must not trust its caller either). */
export function normalizeQuery(q: TraceQuery): Required<Pick<TraceQuery, "limit">> & TraceQuery {
  const limit = q.limit ?? 50;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE) throw new RangeError(`limit must be an integer from 1 to ${MAX_PAGE}`);
  if (q.status !== undefined && !STATES.includes(q.status)) throw new RangeError(`status must be one of ${STATES.join(", ")}`);
  if (q.forwarding !== undefined && !FORWARDING.includes(q.forwarding)) throw new RangeError(`forwarding must be one of ${FORWARDING.join(", ")}`);
  if (q.cursor !== undefined) decodeCursor(q.cursor);
  return { ...q, limit };
}

export function listSql(q: TraceQuery & { limit: number }): { sql: string; params: (string | number)[] } {
  const where: string[] = [];
  const params: (string | number)[] = [];
  if (q.cursor) {
    const c = decodeCursor(q.cursor);
    where.push("(request_time < ? OR (request_time = ? AND trace_id < ?))");
    params.push(c.requestTime, c.requestTime, c.traceId);
  }
  if (q.status) {
    where.push("state = ?");
    params.push(q.status);
  }
  if (q.forwarding) {
    where.push("forwarding = ?");
    params.push(q.forwarding);
  }
  if (q.tag) {
    const eq = q.tag.indexOf("=");
    if (eq < 0) {
      where.push("EXISTS (SELECT 1 FROM json_each(traces.tags) WHERE json_each.key = ?)");
      params.push(q.tag);
    } else {
      where.push("EXISTS (SELECT 1 FROM json_each(traces.tags) WHERE json_each.key = ? AND json_each.value = ?)");
      params.push(q.tag.slice(0, eq), q.tag.slice(eq + 1));
    }
  }
  if (q.text) {
    // `search` is lowercased by JavaScript (any script); rows stored before it existed fall back to SQLite's lower().
    where.push("coalesce(search, lower(coalesce(name, '') || ' ' || coalesce(request_preview, '') || ' ' || coalesce(response_preview, '') || ' ' || trace_id)) LIKE ? ESCAPE '\\'");
    params.push(`%${q.text.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`);
  }
  const sql =
    `SELECT * FROM traces${where.length ? ` WHERE ${where.join(" AND ")}` : ""} ` +
    "ORDER BY request_time DESC, trace_id DESC LIMIT ?";
  params.push(q.limit + 1);
  return { sql, params };
}

/** Newest-first order of summaries from several shards (same key as the SQL ORDER BY). */
export function newestFirst(a: TraceSummary, b: TraceSummary): number {
  if (a.requestTime !== b.requestTime) return b.requestTime - a.requestTime;
  return a.traceId < b.traceId ? 1 : a.traceId > b.traceId ? -1 : 0;
}
