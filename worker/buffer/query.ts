import type { ForwardingState, TraceQuery, TraceSummary } from "../store.js";

// The Traces view's list query as SQL over one shard: newest first by (request_time, trace_id),
// keyset paging (a cursor is the last row's key, so pages stay stable while traces arrive), and the
// filters. Every value is a bound parameter.

export const MAX_PAGE = 200;

/**
 * What one listed summary carries at most (characters): a page must stay far below what one RPC
 * carries (32 MiB) whatever the traces hold, while a stored trace may hold 64 KiB previews and
 * hundreds of long tags. Name and previews are cut (previews where MLflow cuts them); tags are
 * never cut mid-value: all of them when their JSON fits `tagsJson`, else, in stored order (the
 * user's tags before MLflow's own `mlflow.*`, which the Traces view does not show), those
 * whose own `"key":"value"` fits `tagJson`, as long as the total fits `tagsJson`. A summary says
 * what was shortened in `cut`; `GET /api/traces/:id` has everything.
 */
export const SUMMARY_LIMITS = { name: 1000, preview: 1000, lastError: 2000, tagsJson: 4096, tagJson: 1024 } as const;

const L = SUMMARY_LIMITS;
// A column that is not a JSON object (a damaged row) lists as no tags rather than failing the page.
const TAGS = `CASE WHEN length(tags) <= ${L.tagsJson} THEN tags ELSE coalesce((
    SELECT json_group_object(key, value) FROM (
      SELECT key, value, SUM(size) OVER (ORDER BY substr(key, 1, 7) = 'mlflow.', id) AS upto FROM (
        SELECT id, key, value, length(json_quote(key)) + length(json_quote(value)) + 2 AS size
        FROM json_each(CASE WHEN json_valid(traces.tags) THEN CASE WHEN json_type(traces.tags) = 'object' THEN traces.tags ELSE '{}' END ELSE '{}' END)
      ) WHERE size <= ${L.tagJson}
    ) WHERE upto <= ${L.tagsJson}), '{}') END`;

/** The columns a listed summary needs, each bounded (never `info`, `search` or whole tags). */
export const SUMMARY_COLUMNS = [
  "trace_id, state, request_time, duration, span_count, forwarding, attempts, received_at, updated_at",
  `substr(name, 1, ${L.name}) AS name, length(name) > ${L.name} AS name_cut`,
  `substr(request_preview, 1, ${L.preview}) AS request_preview, length(request_preview) > ${L.preview} AS request_preview_cut`,
  `substr(response_preview, 1, ${L.preview}) AS response_preview, length(response_preview) > ${L.preview} AS response_preview_cut`,
  `substr(last_error, 1, ${L.lastError}) AS last_error, length(last_error) > ${L.lastError} AS last_error_cut`,
  `${TAGS} AS tags, length(tags) > ${L.tagsJson} AS tags_cut`,
].join(", ");
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
  // The time as String(number) writes it: exponent notation too (below 1e-6, above 1e21).
  const m = /^(-?\d+(?:\.\d+)?(?:e[+-]?\d+)?)~(tr-[0-9a-f]{32})$/.exec(text);
  const requestTime = Number(m?.[1]);
  if (!m || !Number.isFinite(requestTime)) throw new RangeError(`cursor ${JSON.stringify(text.slice(0, 80))} is not one this API returned`);
  return { requestTime, traceId: m[2]! };
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
    // A damaged row's tags (not JSON) match no tag, rather than failing the page.
    const tags = "json_each(CASE WHEN json_valid(traces.tags) THEN traces.tags ELSE '{}' END)";
    if (eq < 0) {
      where.push(`EXISTS (SELECT 1 FROM ${tags} WHERE json_each.key = ?)`);
      params.push(q.tag);
    } else {
      where.push(`EXISTS (SELECT 1 FROM ${tags} WHERE json_each.key = ? AND json_each.value = ?)`);
      params.push(q.tag.slice(0, eq), q.tag.slice(eq + 1));
    }
  }
  if (q.text) {
    // `search` is lowercased by JavaScript (any script); rows stored before it existed fall back to SQLite's lower().
    where.push("coalesce(search, lower(coalesce(name, '') || ' ' || coalesce(request_preview, '') || ' ' || coalesce(response_preview, '') || ' ' || trace_id)) LIKE ? ESCAPE '\\'");
    params.push(`%${q.text.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`);
  }
  const sql =
    `SELECT ${SUMMARY_COLUMNS} FROM traces${where.length ? ` WHERE ${where.join(" AND ")}` : ""} ` +
    "ORDER BY request_time DESC, trace_id DESC LIMIT ?";
  params.push(q.limit + 1);
  return { sql, params };
}

/** Newest-first order of summaries from several shards (same key as the SQL ORDER BY). */
export function newestFirst(a: TraceSummary, b: TraceSummary): number {
  if (a.requestTime !== b.requestTime) return b.requestTime - a.requestTime;
  return a.traceId < b.traceId ? 1 : a.traceId > b.traceId ? -1 : 0;
}
