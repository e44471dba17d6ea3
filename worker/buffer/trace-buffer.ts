import { errorText } from "../../core/debug.js";
import { DurableObject } from "cloudflare:workers";
import type { SpanData, Trace } from "../../core/model/types.js";
import type { PutResult, StoredTrace, TracePage, TraceQuery, TraceStore } from "../store.js";
import { checkTraces } from "./check.js";
import { ConfigError, readBufferConfig, type BufferConfig, type TraceBufferEnv } from "./config.js";
import { Forwarder, type ForwardOutcome } from "./forward.js";
import { inStartOrder, mergeInfo, traceName, withMergedUsage, type StoredInfo } from "./merge.js";
import { encodeCursor, listSql, normalizeQuery } from "./query.js";
import { readInfo, readSpan, toListedSummary, toSummary, type ListRow } from "./rows.js";
import { MIGRATIONS, SCHEMA, searchText, type TraceRow } from "./schema.js";
import { utf8Length } from "../../core/serialize/safe-json.js";

// One shard of the trace buffer: a Durable Object with SQLite storage. `put` answers only after
// its transaction committed, so an acknowledged trace survives restarts. An alarm forwards due
// traces to MLflow, retries failures with backoff (honouring Retry-After), dead-letters traces
// MLflow keeps refusing, and deletes forwarded traces once their viewing retention ends. Nothing
// is deleted before MLflow acknowledged it.

const RETRY_AFTER_CAP_MS = 3_600_000;
/**
 * How long the end times of a forwarded trace's spans are remembered after the retention deleted
 * it (a page's queue may send an old copy on a visit days later). A copy arriving after that is
 * taken as a new trace, and sent to MLflow, replacing the spans it has of it.
 */
export const DEPARTED_KEPT_MS = 30 * 86_400_000;
/**
 * At most this many spans remembered per trace id (about 40 bytes each: a row's 2 MB is far, and
 * the record, read on every put of that id, stays a few hundred KB).
 */
const DEPARTED_MAX_SPANS = 5_000;
/** The latest time `setAlarm` takes (workerd refuses dates after 2189). */
const LATEST_ALARM = Date.UTC(2188, 11, 31);

/**
 * Durable Object SQLite refuses a string or row over 2 MB. Spans are stored one a row so only a
 * single huge span (or TraceInfo) can reach it; refuse that with its path, before SQLite does
 * with a message that names nothing. The collector's own limits are far below this.
 */
const MAX_ROW_BYTES = 1_900_000;

/**
 * Whether a part of a trace MLflow has (`departed`: when each span MLflow has ended, 0 if not at
 * all) is worth sending: it has a span MLflow lacks or one that ended later, and no older copy of
 * one (an older view of the trace, a hidden page's snapshot: sent, it would replace MLflow's).
 * It then goes whole, as a part does, so its token usage and span count are its own.
 */
function bringsNews(spans: SpanData[], departed: Map<string, number>): boolean {
  let news = false;
  for (const span of spans) {
    const ended = departed.get(span.spanId);
    const end = span.endTime ?? 0; // as recorded: an open span's copy is as old as MLflow's open one
    if (ended === undefined) news = true;
    else if (end < ended) return false;
    else if (end > ended) news = true;
  }
  return news;
}
/** MLFLOW_TRACKING_URI is given (even as something that is not text, such as a secret binding): the deployment means to forward. */
const forwards = (env: TraceBufferEnv): boolean => {
  const uri = (env as Record<string, unknown>).MLFLOW_TRACKING_URI;
  return uri !== undefined && uri !== null && uri !== "";
};

/** The texts one row stores (a span's body; a trace's info, tags, search, name and previews) fit in a row. */
function checkRowSize(texts: string | readonly string[], path: string): void {
  const parts = typeof texts === "string" ? [texts] : texts;
  // UTF-8 is at most 3 bytes per UTF-16 unit: only count bytes when it could matter.
  if (parts.reduce((n, t) => n + t.length, 0) * 3 <= MAX_ROW_BYTES) return;
  const bytes = parts.reduce((n, t) => n + utf8Length(t), 0);
  if (bytes > MAX_ROW_BYTES) throw new RangeError(`${path} is ${bytes} bytes as JSON; a span or TraceInfo must stay under ${MAX_ROW_BYTES} (Durable Object SQLite rows are limited to 2 MB)`);
}

export interface TraceBufferStats {
  traces: number;
  spans: number;
  byForwarding: Record<string, number>;
  nextAlarm: number | null;
  /** Epoch ms until which MLflow asked (Retry-After) not to be sent anything; null when it did not. */
  pausedUntil: number | null;
  configError: string | null;
}

// `DurableObject` keeps the app's own `Cloudflare.Env` as its type parameter (what
// cloudflare:test's helpers and DurableObjectNamespace<TraceBuffer> expect); the constructor says
// which of its keys the buffer reads.
export class TraceBuffer extends DurableObject implements TraceStore {
  private readonly sql: SqlStorage;
  private config: BufferConfig | undefined;
  private configError: string | null = null;
  /** MLflow is meant to get these traces but the configuration is broken: keep them until it is fixed. */
  private readonly keepUntilFixed: boolean;
  private forwarder: Forwarder | undefined;
  /** The alarm run under way: how many runs before it found MLflow failing every trace (overloaded, away, refusing the credentials or experiment), and whether it did. */
  private run = { serverFailures: 0, serverFailed: false };
  /** For tests: the random source of the backoff jitter. */
  random: () => number = Math.random;

  constructor(ctx: DurableObjectState, env: TraceBufferEnv) {
    super(ctx, env as never);
    this.sql = ctx.storage.sql;
    try {
      this.config = readBufferConfig(env);
      if (this.config.mlflow) this.forwarder = new Forwarder(this.config.mlflow);
    } catch (error) {
      // Keep accepting traces (nothing is lost), show why nothing is forwarded, and keep every
      // setting that is fine (retention, delays): only those named wrong take their defaults.
      const problems = new Set([errorText(error)]);
      const fine: Record<string, unknown> = { ...env, MLFLOW_TRACKING_URI: undefined };
      for (;;) {
        try {
          this.config = readBufferConfig(fine as TraceBufferEnv);
          break;
        } catch (next) {
          problems.add(errorText(next));
          if (!(next instanceof ConfigError) || fine[next.variable] === undefined) {
            this.config = readBufferConfig({});
            break;
          }
          fine[next.variable] = undefined;
        }
      }
      const text = [...problems].join(" ");
      this.configError = forwards(env) ? `forwarding is off: ${text}` : `${text} (the default is used)`;
    }
    this.keepUntilFixed = this.configError !== null && forwards(env);
    void ctx.blockConcurrencyWhile(async () => {
      this.sql.exec(SCHEMA);
      for (const m of MIGRATIONS) {
        const has = this.sql.exec<{ n: number }>(`SELECT COUNT(*) AS n FROM pragma_table_info('${m.table}') WHERE name = ?`, m.column).one().n;
        if (!has) this.sql.exec(m.sql);
      }
      if (this.forwarder) this.adoptUnforwarded();
      else if (!this.keepUntilFixed) this.keepForViewing();
      // Traces queued before this deployment (forwarding off meanwhile) are due again, expiry too.
      await this.scheduleAlarm();
    });
  }

  /**
   * Embedded mode (no MLFLOW_TRACKING_URI): traces queued for MLflow by an earlier deployment, or
   * kept through a broken configuration, are kept for viewing for the retention period as any
   * trace received now; a deployment that forwards again before then still sends them.
   */
  private keepForViewing(): void {
    this.sql.exec(
      "UPDATE traces SET forwarding = 'not-configured', next_attempt_at = NULL, expires_at = ? WHERE forwarding = 'buffered' OR (forwarding = 'not-configured' AND expires_at IS NULL)",
      Date.now() + this.cfg.retentionMs,
    );
  }

  /**
   * Traces stored while forwarding was off (no MLFLOW_TRACKING_URI, or a configuration error) are
   * queued once a deployment with working settings starts this object: "kept until it is fixed"
   * means they do reach MLflow then, instead of quietly expiring.
   */
  private adoptUnforwarded(): void {
    this.sql.exec(
      "UPDATE traces SET forwarding = 'buffered', next_attempt_at = ?, expires_at = NULL, last_error = NULL, permanent_failures = 0 WHERE forwarding = 'not-configured'",
      Date.now() + this.cfg.forwardDelayMs,
    );
  }

  private get cfg(): BufferConfig {
    return this.config!;
  }

  // ------------------------------------------------------------------ writes

  async put(traces: Trace[]): Promise<PutResult> {
    checkTraces(traces);
    const now = Date.now();
    const result: PutResult = { stored: 0, merged: 0, duplicates: 0 };
    this.ctx.storage.transactionSync(() => {
      traces.forEach((trace, i) => this.putOne(trace, now, result, i));
    });
    await this.scheduleAlarm();
    return result;
  }

  private putOne(trace: Trace, now: number, result: PutResult, index: number): void {
    const id = trace.info.traceId;
    const row = this.sql.exec<TraceRow>("SELECT * FROM traces WHERE trace_id = ?", id).toArray()[0];
    // What the trace holds before this part: the row's running totals (summed once for a row
    // written before `span_bytes` existed), so a put never reads the stored spans to check them.
    const before = !row
      ? { spans: 0, bytes: 0 }
      : typeof row.span_bytes === "number"
        ? { spans: row.span_count, bytes: row.span_bytes }
        : this.sql
            .exec<{ spans: number; bytes: number }>("SELECT COUNT(*) AS spans, coalesce(SUM(length(CAST(body AS BLOB))), 0) AS bytes FROM spans WHERE trace_id = ?", id)
            .one();
    let spanCount = before.spans;
    let spanBytes = before.bytes;
    let spanChanges = 0;
    // Of a trace forwarded and since deleted here (also when a later part has stored it again):
    // a part holding an older copy of a span MLflow has, or nothing MLflow lacks, changes nothing.
    const departed = this.departedEnds(id, now);
    if (departed && !bringsNews(trace.data.spans, departed)) {
      result.duplicates++;
      return;
    }
    for (const [j, span] of trace.data.spans.entries()) {
      const body = JSON.stringify(span);
      checkRowSize(body, `traces[${index}].data.spans[${j}]`);
      const current = this.sql
        .exec<{ body: string; bytes: number }>("SELECT body, length(CAST(body AS BLOB)) AS bytes FROM spans WHERE trace_id = ? AND span_id = ?", id, span.spanId)
        .toArray()[0];
      if (current?.body === body) continue;
      // A resend never replaces a span with a copy that ended earlier, or not at all: that is an
      // older view of it (a hidden page's snapshot stored before the span really ended).
      const ended = current && readSpan(current.body)?.endTime;
      if (typeof ended === "number" && (span.endTime === null || span.endTime < ended)) continue;
      spanCount += current ? 0 : 1;
      spanBytes += utf8Length(body) - (current?.bytes ?? 0);
      this.sql.exec(
        "INSERT INTO spans (trace_id, span_id, start_time, body) VALUES (?, ?, ?, ?) " +
          "ON CONFLICT (trace_id, span_id) DO UPDATE SET start_time = excluded.start_time, body = excluded.body",
        id,
        span.spanId,
        span.startTime,
        body,
      );
      spanChanges++;
    }
    // The limits hold for the trace merged from all its parts, not per part: parts of one trace id
    // could otherwise grow it without bound (every put, read and forward of it slower, until a
    // read exceeds what one RPC carries). A part that would take it over is refused whole; the
    // transaction rolls back the spans it wrote, and what was stored before stays.
    const where = `traces[${index}] (trace ${id}, merged with the parts already stored)`;
    if (spanCount > this.cfg.maxTraceSpans && spanCount > before.spans) {
      throw new RangeError(`${where} would hold ${spanCount} spans; a stored trace holds at most ${this.cfg.maxTraceSpans} (TRACE_MAX_SPANS)`);
    }
    if (spanBytes > this.cfg.maxTraceBytes && spanBytes > before.bytes) {
      throw new RangeError(`${where} would hold ${spanBytes} bytes of span JSON; a stored trace holds at most ${this.cfg.maxTraceBytes} (TRACE_MAX_BYTES)`);
    }
    const existing: StoredInfo | undefined = row ? { info: readInfo(row), fromRoot: row.from_root === 1 } : undefined;
    const merged = mergeInfo(existing, trace);
    const spans = this.loadSpans(id);
    // Each part summed only its own spans: whichever part describes the trace, the sum is over all
    // (from the first put on, so a resend of a trace another SDK summed in other JSON changes nothing).
    merged.info = withMergedUsage(merged.info, spans);
    const infoText = JSON.stringify(merged.info);
    if (row && spanChanges === 0 && infoText === row.info) {
      result.duplicates++;
      return;
    }
    const tagsText = JSON.stringify(merged.info.tags);
    const name = traceName(merged.info, spans);
    const search = searchText(name, merged.info.requestPreview, merged.info.responsePreview, id);
    // The row holds the tags a second time, and name and previews twice more (their columns, and
    // `search`): count them all, or SQLite refuses the row itself (SQLITE_TOOBIG) once the parts'
    // unioned tags grow large. Each as it is stored: `search` is lower-cased, which changes its
    // length in UTF-8 (K, the Kelvin sign, is 3 bytes; k is 1).
    checkRowSize(
      [infoText, tagsText, search, name ?? "", merged.info.requestPreview ?? "", merged.info.responsePreview ?? ""],
      `traces[${index}].info${row ? " (merged with the parts already stored)" : ""}`,
    );
    if (row) result.merged++;
    else result.stored++;
    const configured = this.forwarder !== undefined;
    // Due after the settle window (longer while the true root is missing), but a new part never
    // brings forward a retry that is backing off (MLflow's Retry-After included).
    const due = now + (merged.fromRoot ? this.cfg.forwardDelayMs : this.cfg.partialDelayMs);
    const info = merged.info;
    this.sql.exec(
      `INSERT INTO traces (trace_id, info, from_root, name, state, request_time, duration, request_preview, response_preview,
         span_count, span_bytes, tags, search, forwarding, attempts, permanent_failures, next_attempt_at, expires_at, last_error, received_at, updated_at, version)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 0, ?, ?, ?, ?, ?, 1)
       ON CONFLICT (trace_id) DO UPDATE SET info = excluded.info, from_root = excluded.from_root, name = excluded.name,
         state = excluded.state, request_time = excluded.request_time, duration = excluded.duration,
         request_preview = excluded.request_preview, response_preview = excluded.response_preview,
         span_count = excluded.span_count, span_bytes = excluded.span_bytes, tags = excluded.tags, search = excluded.search, forwarding = excluded.forwarding,
         permanent_failures = 0, expires_at = excluded.expires_at,
         next_attempt_at = CASE WHEN traces.forwarding = 'buffered' AND traces.attempts > 0 AND traces.next_attempt_at > excluded.next_attempt_at
           THEN traces.next_attempt_at ELSE excluded.next_attempt_at END,
         last_error = CASE WHEN traces.forwarding = 'buffered' AND excluded.forwarding = 'buffered' THEN traces.last_error ELSE excluded.last_error END,
         updated_at = excluded.updated_at, version = traces.version + 1`,
      id,
      infoText,
      merged.fromRoot ? 1 : 0,
      name,
      info.state,
      info.requestTime,
      info.executionDuration ?? null,
      info.requestPreview ?? null,
      info.responsePreview ?? null,
      spanCount,
      spanBytes,
      tagsText,
      search,
      configured ? "buffered" : "not-configured",
      configured ? due : null,
      // Embedded mode keeps traces for viewing; a broken configuration keeps them until it is fixed.
      configured || this.keepUntilFixed ? null : now + this.cfg.retentionMs,
      this.configError,
      now,
      now,
    );
  }

  /**
   * For a trace forwarded and deleted by the retention, remembered until after `now` (by default,
   * still remembered at all): when each of its spans ended (0: not at all).
   */
  private departedEnds(traceId: string, now = -Infinity): Map<string, number> | undefined {
    const r = this.sql.exec<{ span_ends: string }>("SELECT span_ends FROM departed WHERE trace_id = ? AND until > ?", traceId, now).toArray()[0];
    if (!r) return undefined;
    try {
      return new Map(Object.entries(JSON.parse(r.span_ends) as Record<string, number>));
    } catch {
      return undefined;
    }
  }

  /** The spans stored for a trace; a row that is not a readable span is left out, not fatal. */
  private loadSpans(traceId: string): SpanData[] {
    const spans: SpanData[] = [];
    for (const r of this.sql.exec<{ body: string }>("SELECT body FROM spans WHERE trace_id = ? ORDER BY start_time, rowid", traceId)) {
      const span = readSpan(r.body);
      if (span) spans.push(span);
    }
    return spans;
  }

  private loadTrace(row: TraceRow): Trace {
    return { info: readInfo(row), data: { spans: inStartOrder(this.loadSpans(row.trace_id)) } };
  }

  /**
   * Puts a dead-lettered trace back in the queue: due after the settle window, its permanent
   * failures forgotten. False when this shard holds no dead-lettered trace of that id (a buffered
   * one is already queued, a forwarded one is in MLflow: nothing to retry).
   */
  async retry(traceId: string): Promise<boolean> {
    const row = this.sql.exec<TraceRow>("SELECT * FROM traces WHERE trace_id = ?", traceId).toArray()[0];
    if (!this.forwarder || row?.forwarding !== "dead-lettered") return false;
    const now = Date.now();
    this.sql.exec(
      "UPDATE traces SET forwarding = 'buffered', permanent_failures = 0, next_attempt_at = ?, updated_at = ? WHERE trace_id = ?",
      now + this.cfg.forwardDelayMs,
      now,
      traceId,
    );
    await this.scheduleAlarm();
    return true;
  }

  // ------------------------------------------------------------------ reads

  async list(query: TraceQuery): Promise<TracePage> {
    const q = normalizeQuery(query);
    const { sql, params } = listSql(q);
    // Only what a summary shows, each column bounded (query.ts SUMMARY_LIMITS): a page of traces
    // with large tags or previews stays far below what one RPC carries.
    const rows = this.sql.exec<ListRow>(sql, ...params).toArray();
    const page = rows.slice(0, q.limit).map(toListedSummary);
    const last = page[page.length - 1];
    return { traces: page, nextCursor: rows.length > q.limit && last ? encodeCursor({ requestTime: last.requestTime, traceId: last.traceId }) : null };
  }

  async get(traceId: string): Promise<StoredTrace | null> {
    const row = this.sql.exec<TraceRow>("SELECT * FROM traces WHERE trace_id = ?", traceId).toArray()[0];
    return row ? { summary: toSummary(row), trace: this.loadTrace(row) } : null;
  }

  async stats(): Promise<TraceBufferStats> {
    const byForwarding: Record<string, number> = {};
    for (const r of this.sql.exec<{ forwarding: string; n: number }>("SELECT forwarding, COUNT(*) AS n FROM traces GROUP BY forwarding")) {
      byForwarding[r.forwarding] = r.n;
    }
    const paused = this.pausedUntil();
    return {
      traces: Object.values(byForwarding).reduce((a, b) => a + b, 0),
      spans: this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM spans").one().n,
      byForwarding,
      nextAlarm: await this.ctx.storage.getAlarm(),
      pausedUntil: paused > Date.now() ? paused : null,
      configError: this.configError,
    };
  }

  // ------------------------------------------------------------------ alarm: forward, retry, expire

  override async alarm(): Promise<void> {
    const now = Date.now();
    this.run = { serverFailures: this.state("server_failures"), serverFailed: false };
    if (this.forwarder && this.pausedUntil() <= now) {
      const due = this.sql
        .exec<TraceRow>("SELECT * FROM traces WHERE next_attempt_at IS NOT NULL AND next_attempt_at <= ? ORDER BY next_attempt_at LIMIT ?", now, this.cfg.batchSize)
        .toArray();
      // A few at a time: the tracking server serialises writes anyway. A Retry-After stops the run.
      for (let i = 0; i < due.length && this.pausedUntil() <= Date.now(); i += 4) {
        await Promise.all(due.slice(i, i + 4).map((row) => this.forward(row)));
      }
    }
    // One more run that found the server overloaded or away: the next pause is longer.
    if (this.run.serverFailed) this.setState("server_failures", this.run.serverFailures + 1);
    this.expire(Date.now());
    await this.scheduleAlarm();
  }

  /**
   * Retry-After is MLflow's answer to this client, not to one trace: until it has passed, the
   * shard sends nothing (every trace's next attempt waits for it), so a rate-limited server is
   * not hit again by the next trace in line.
   */
  private pausedUntil(): number {
    return this.state("paused_until");
  }

  private state(key: string): number {
    return this.sql.exec<{ value: number }>("SELECT value FROM shard_state WHERE key = ?", key).toArray()[0]?.value ?? 0;
  }

  private setState(key: string, value: number): void {
    this.sql.exec("INSERT INTO shard_state (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value", key, value);
  }

  private pauseUntil(until: number): void {
    this.sql.exec(
      "INSERT INTO shard_state (key, value) VALUES ('paused_until', ?) ON CONFLICT (key) DO UPDATE SET value = max(value, excluded.value)",
      until,
    );
  }

  private async forward(row: TraceRow): Promise<void> {
    let outcome: ForwardOutcome;
    try {
      const trace = this.loadTrace(row);
      outcome = trace.data.spans.length > 0 ? await this.forwarder!.send(trace) : { ok: false, permanent: true, message: "no readable span is stored for this trace" };
    } catch (error) {
      // A row this code cannot turn into a request must not stop the alarm for every other trace.
      outcome = { ok: false, permanent: true, message: `cannot forward the stored trace: ${errorText(error)}` };
    }
    const now = Date.now();
    const attempts = row.attempts + 1;
    if (outcome.ok) {
      if (this.run.serverFailures > 0) this.setState("server_failures", (this.run.serverFailures = 0));
      // If a new part arrived while sending, the row's version moved on and it stays due.
      this.sql.exec(
        "UPDATE traces SET forwarding = 'forwarded', attempts = ?, last_error = NULL, next_attempt_at = NULL, expires_at = ?, updated_at = ? WHERE trace_id = ? AND version = ?",
        attempts,
        now + this.cfg.retentionMs,
        now,
        row.trace_id,
        row.version,
      );
      return;
    }
    const permanentFailures = row.permanent_failures + (outcome.permanent ? 1 : 0);
    const dead = outcome.permanent && permanentFailures >= this.cfg.maxPermanentFailures;
    // Retry-After is honoured up to an hour: a server (or proxy) asking for days is not obeyed blindly.
    const retryAfter = Math.min(outcome.retryAfterMs ?? 0, RETRY_AFTER_CAP_MS);
    const backoff = Math.max(retryAfter, this.backoff(attempts));
    if (retryAfter > 0) this.pauseUntil(now + retryAfter);
    // Refused credentials or experiment (every trace would be refused the same way), or overloaded
    // or out of reach (the traces behind this one would only add to the load, a 429 storm): the
    // whole shard waits, longer after each run that found it so. Not by this trace's own backoff:
    // with a backlog, each run would try traces not tried before, each at its first, short backoff.
    else if (outcome.deployment || outcome.server) {
      this.run.serverFailed = true;
      this.pauseUntil(now + this.backoff(this.run.serverFailures + 1));
    }
    this.sql.exec(
      "UPDATE traces SET forwarding = ?, attempts = ?, permanent_failures = ?, last_error = ?, next_attempt_at = ?, updated_at = ? WHERE trace_id = ? AND version = ?",
      dead ? "dead-lettered" : "buffered",
      attempts,
      permanentFailures,
      outcome.message.slice(0, 2000),
      dead ? null : now + backoff,
      now,
      row.trace_id,
      row.version,
    );
  }

  /** Full jitter under an exponential ceiling, never below a floor (no hot loop against MLflow). */
  private backoff(attempts: number): number {
    const ceiling = Math.min(this.cfg.retryMaxMs, this.cfg.retryBaseMs * 2 ** Math.min(attempts - 1, 30));
    return Math.max(this.cfg.retryBaseMs / 2, Math.floor(this.random() * ceiling));
  }

  private expire(now: number): void {
    const rows = this.sql
      .exec<{ trace_id: string; forwarding: string }>("SELECT trace_id, forwarding FROM traces WHERE expires_at IS NOT NULL AND expires_at <= ? LIMIT 500", now)
      .toArray();
    this.ctx.storage.transactionSync(() => {
      this.sql.exec("DELETE FROM departed WHERE until <= ?", now);
      for (const { trace_id: id, forwarding } of rows) {
        if (forwarding === "forwarded") this.rememberDeparted(id, now);
        this.sql.exec("DELETE FROM spans WHERE trace_id = ?", id);
        this.sql.exec("DELETE FROM traces WHERE trace_id = ?", id);
      }
    });
  }

  /**
   * MLflow has this trace, about to be deleted here: remembers when its spans ended, merged with
   * what was remembered of an earlier part, so a late copy of them is not sent to replace MLflow's.
   */
  private rememberDeparted(id: string, now: number): void {
    const ends = this.departedEnds(id) ?? new Map<string, number>();
    // The number's own text (`->`), read by JavaScript: SQLite writes a double back into JSON with
    // 15 digits, and a browser's end time (timeOrigin + performance.now()) has more.
    for (const r of this.sql.exec<{ span_id: string; ended: string | null }>("SELECT span_id, CASE WHEN json_valid(body) THEN body -> '$.endTime' END AS ended FROM spans WHERE trace_id = ?", id)) {
      const ended = Number(r.ended);
      ends.set(r.span_id, Number.isFinite(ended) ? ended : 0);
    }
    // A trace id sent again and again (a fixed traceparent) would grow its record past what a row
    // holds: past the cap it is forgotten, and later parts go as new ones.
    if (ends.size > DEPARTED_MAX_SPANS) {
      this.sql.exec("DELETE FROM departed WHERE trace_id = ?", id);
      return;
    }
    this.sql.exec(
      "INSERT INTO departed (trace_id, span_ends, until) VALUES (?, ?, ?) ON CONFLICT (trace_id) DO UPDATE SET span_ends = excluded.span_ends, until = excluded.until",
      id,
      JSON.stringify(Object.fromEntries(ends)),
      now + DEPARTED_KEPT_MS,
    );
  }

  private async scheduleAlarm(): Promise<void> {
    const { forward, expire } = this.sql
      .exec<{ forward: number | null; expire: number | null }>(
        "SELECT (SELECT MIN(next_attempt_at) FROM traces WHERE next_attempt_at IS NOT NULL) AS forward, (SELECT MIN(expires_at) FROM traces WHERE expires_at IS NOT NULL) AS expire",
      )
      .one();
    // Forwarding waits out a pause; expiry does not (it never talks to MLflow). Without a
    // forwarder (forwarding turned off or misconfigured) due rows wait for a deployment that has
    // one: an alarm for them would fire at once, for ever.
    const nextForward = forward === null || !this.forwarder ? null : Math.max(forward, this.pausedUntil());
    const next = nextForward === null ? expire : expire === null ? nextForward : Math.min(nextForward, expire);
    const current = await this.ctx.storage.getAlarm();
    if (next === null) {
      if (current !== null) await this.ctx.storage.deleteAlarm();
      return;
    }
    // Exactly the next due time, later as well as earlier: a settle window pushed back by a new
    // part should not wake the object for nothing.
    // A time a Durable Object alarm cannot take (after 2189: a row written under a retention
    // value from before the bounds in config.ts) waits at the latest one it can, not throw on every write.
    const target = Math.min(Math.max(next, Date.now()), LATEST_ALARM);
    if (current !== target) await this.ctx.storage.setAlarm(target);
  }
}
