// SQLite schema of one TraceBuffer shard. One row per trace (the merged TraceInfo plus the columns
// the Traces view filters and sorts on) and one row per span, so no row nears the 2 MB value limit;
// departed remembers, for a while, the end time of each span of a forwarded trace the retention
// deleted (span id → end, 0 for none), so a copy of it arriving later cannot replace MLflow's;
// shard_state holds the shard's own clocks (`paused_until`: MLflow's Retry-After or a pause while it
// is overloaded or away, for every trace; `server_failures`: alarm runs in a row that found it so).

export const SCHEMA = `
CREATE TABLE IF NOT EXISTS traces (
  trace_id TEXT PRIMARY KEY,
  info TEXT NOT NULL,
  from_root INTEGER NOT NULL,
  name TEXT,
  state TEXT NOT NULL,
  request_time REAL NOT NULL,
  duration REAL,
  request_preview TEXT,
  response_preview TEXT,
  span_count INTEGER NOT NULL,
  span_bytes INTEGER,
  tags TEXT NOT NULL,
  search TEXT,
  forwarding TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  permanent_failures INTEGER NOT NULL DEFAULT 0,
  next_attempt_at REAL,
  expires_at REAL,
  last_error TEXT,
  received_at REAL NOT NULL,
  updated_at REAL NOT NULL,
  version INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX IF NOT EXISTS traces_newest ON traces (request_time DESC, trace_id DESC);
CREATE INDEX IF NOT EXISTS traces_due ON traces (next_attempt_at) WHERE next_attempt_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS traces_expiry ON traces (expires_at) WHERE expires_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS shard_state (
  key TEXT PRIMARY KEY,
  value REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS departed (
  trace_id TEXT PRIMARY KEY,
  span_ends TEXT NOT NULL,
  until REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS departed_until ON departed (until);
CREATE TABLE IF NOT EXISTS spans (
  trace_id TEXT NOT NULL,
  span_id TEXT NOT NULL,
  start_time REAL NOT NULL,
  body TEXT NOT NULL,
  PRIMARY KEY (trace_id, span_id)
);
`;

/**
 * Columns added after the first release, for shards created before them: `search` holds the name,
 * previews and id lowercased by JavaScript (SQLite's lower() and LIKE fold ASCII letters only);
 * `span_bytes` the UTF-8 bytes of the trace's stored span rows, kept up to date by each put so the
 * per-trace limit is checked without reading the spans (NULL in a row from before: summed once).
 */
export const MIGRATIONS = [
  { table: "traces", column: "search", sql: "ALTER TABLE traces ADD COLUMN search TEXT" },
  { table: "traces", column: "span_bytes", sql: "ALTER TABLE traces ADD COLUMN span_bytes INTEGER" },
];

/** The `search` column's text for a trace. */
export const searchText = (name: string | null, requestPreview: string | undefined, responsePreview: string | undefined, traceId: string): string =>
  `${name ?? ""} ${requestPreview ?? ""} ${responsePreview ?? ""} ${traceId}`.toLowerCase();

/** A `traces` row as SQLite returns it. */
export type TraceRow = {
  trace_id: string;
  info: string;
  from_root: number;
  name: string | null;
  state: string;
  request_time: number;
  duration: number | null;
  request_preview: string | null;
  response_preview: string | null;
  span_count: number;
  span_bytes: number | null;
  tags: string;
  search: string | null;
  forwarding: string;
  attempts: number;
  permanent_failures: number;
  next_attempt_at: number | null;
  expires_at: number | null;
  last_error: string | null;
  received_at: number;
  updated_at: number;
  version: number;
};
