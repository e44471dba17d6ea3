import { shownValue, warnOnce } from "../debug.js";
import type { Exporter } from "../export/exporter.js";
import { redactSecrets, type RedactHook } from "../export/redact.js";
import type { Trace } from "../model/types.js";
import { MlflowClient, type MlflowClientOptions, type SendTraceResult } from "./client.js";
import type { HttpSettings } from "./http.js";

// Sends each finished trace straight to an MLflow tracking server, like MLflow's TS SDK does from
// Node, but from any runtime with fetch. Traces go out concurrently up to a small limit (the
// server's sqlite store serialises writes anyway), each retried on its own.
//
// In Workers one exporter is kept by the isolate across invocations, and a send cut off with its
// invocation (waitUntil's end) never settles: state one invocation's send holds would be held for
// every later one. So there each trace's send is its own: its own outage budget, its own
// experiment lookup until one has found the experiment (only the found id is shared), and an end
// by `sendDeadlineMs`, within the invocation, with its last failure, which is then reported rather
// than lost with the invocation. The isolate's send slots (16, so a burst does not swamp MLflow)
// are taken back past that deadline and a second. Elsewhere every send settles (its timeout), and one client's outage budget and
// slots serve all of its traces.

export interface MlflowExporterOptions extends MlflowClientOptions {
  /** The experiment to log to, by id. */
  experimentId?: string;
  /** The experiment to log to, by name; created on first use if missing. */
  experimentName?: string;
  /**
   * Traces sent at once (default 4; in Workers 16 per isolate, a slot freed by a send's deadline
   * even when its invocation ended first).
   */
  maxConcurrency?: number;
  /**
   * How long one trace's send may take, its retries and experiment lookup included, before it
   * fails with its last error (default: in Workers 20 s, which fits inside the 25 s an
   * instrumented Worker waits for its export; elsewhere none: `retry` bounds it).
   */
  sendDeadlineMs?: number;
  /** Called with each trace that could not be delivered, after retries. */
  onError?: (error: unknown, trace: Trace) => void;
  /** Called with each trace delivered. */
  onDelivered?: (result: SendTraceResult, trace: Trace) => void;
  /** Runs on each trace before it is sent; `null` drops it. Default `redactSecrets`; `false` sends traces as they are. */
  redact?: RedactHook | false;
}

/** In Workers, how often a send waiting for a slot looks again (nothing else resumes it: see acquire). */
const SLOT_POLL_MS = 50;

/** A send's deadline in Workers: instrument() waits 25 s after the response for the export. */
export const WORKER_SEND_DEADLINE_MS = 20_000;

/**
 * Sends at once from one Worker isolate. Unbounded, a burst of 500 requests had 1 000 calls open on
 * an MLflow that serializes its writes, and 1 of 500 traces arrived within the deadline (4 slots
 * outside Workers: all 500). A slot cannot be held past a send's deadline and a second (the abandon
 * age), so one cut off with its invocation frees it.
 */
const WORKER_MAX_CONCURRENCY = 16;

export class MlflowExporter implements Exporter {
  readonly client: MlflowClient;
  private readonly experimentId: string | undefined;
  private readonly experimentName: string | undefined;
  private experiment: Promise<string> | undefined;
  /** Past this age a send slot is taken back (in Workers: its invocation ended). */
  private readonly abandonMs: number;
  private readonly maxConcurrency: number;
  /** In Workers: each trace is sent with its own outage budget and deadline (see above). */
  private readonly perSend: boolean;
  private readonly sendDeadlineMs: number | undefined;
  /** The experiment id once a lookup found it (Workers: lookups in flight are not shared). */
  private foundExperimentId: string | undefined;
  private readonly onError: MlflowExporterOptions["onError"];
  private readonly onDelivered: MlflowExporterOptions["onDelivered"];
  private readonly redact: RedactHook | false;
  /** Send slots in use, with when each was taken. */
  private readonly slots = new Map<object, number>();
  /** Outside Workers: sends waiting for a slot, each resumed when one is freed. */
  private readonly waiting = new Set<() => void>();
  /** Exports not settled yet, with when each began (in Workers, one past `abandonMs` is dropped: its invocation ended). */
  private readonly inFlight = new Map<Promise<unknown>, number>();

  constructor(options: MlflowExporterOptions) {
    this.client = new MlflowClient(options);
    const { experimentId, experimentName } = options;
    if (experimentId !== undefined && (typeof experimentId !== "string" || experimentId === "")) {
      throw new TypeError(`experimentId must be a non-empty string; got ${shownValue(experimentId)}.`);
    }
    if (experimentName !== undefined && (typeof experimentName !== "string" || experimentName === "")) {
      throw new TypeError(`experimentName must be a non-empty string; got ${shownValue(experimentName)}.`);
    }
    if (experimentId === undefined && experimentName === undefined) throw new TypeError("give experimentId or experimentName.");
    this.experimentId = experimentId;
    this.experimentName = experimentId === undefined ? experimentName : undefined;
    const g = globalThis as { navigator?: { userAgent?: unknown }; WebSocketPair?: unknown };
    const workers = g.navigator?.userAgent === "Cloudflare-Workers" || typeof g.WebSocketPair === "function"; // (older Workers have no navigator)
    const max = options.maxConcurrency ?? (workers ? WORKER_MAX_CONCURRENCY : 4);
    if (!((Number.isInteger(max) && max >= 1) || max === Infinity)) throw new TypeError(`maxConcurrency must be an integer >= 1; got ${String(max)}.`);
    this.maxConcurrency = max;
    const deadline = options.sendDeadlineMs ?? (workers ? WORKER_SEND_DEADLINE_MS : undefined);
    if (deadline !== undefined && !(typeof deadline === "number" && deadline > 0)) throw new TypeError(`sendDeadlineMs must be a number > 0; got ${shownValue(deadline)}.`);
    this.sendDeadlineMs = deadline;
    this.perSend = workers;
    this.onError = options.onError;
    this.onDelivered = options.onDelivered;
    this.redact = options.redact ?? redactSecrets;
    // Past this age a send (and with maxConcurrency its slot) has ended with its invocation.
    this.abandonMs = workers ? Math.min((options.timeoutMs ?? 30_000) + (options.retry?.maxElapsedMs ?? 60_000), (deadline ?? Infinity) + 1_000) : Infinity;
    if (this.redact !== false && typeof this.redact !== "function") throw new TypeError(`redact must be a function or false; got ${String(this.redact)}.`);
  }

  /** The experiment id traces go to (resolving the name, once, if given by name). */
  resolveExperimentId(): Promise<string> {
    return this.experimentFor(this.sendClient());
  }

  /**
   * The client one trace is sent with: in Workers, the exporter's own with an outage budget of its
   * own (an outage an ended invocation saw must not refuse a later trace untried, nor may a probe
   * it left pending hold others); with a deadline, one that ends its tries by then.
   */
  private sendClient(): MlflowClient {
    if (!this.perSend && this.sendDeadlineMs === undefined) return this.client;
    // (A view of the one client: methods replaced on `exporter.client` still serve.)
    const base = (this.client as unknown as { http: HttpSettings }).http;
    const http: HttpSettings = {
      ...base,
      outage: this.perSend ? {} : base.outage,
      deadline: this.sendDeadlineMs === undefined ? undefined : Date.now() + this.sendDeadlineMs,
    };
    return Object.create(this.client, { http: { value: http } }) as MlflowClient;
  }

  private experimentFor(client: MlflowClient): Promise<string> {
    if (this.experimentId !== undefined) return Promise.resolve(this.experimentId);
    if (this.perSend) {
      // Each send looks the experiment up itself until one has found it: a lookup in flight may
      // belong to an invocation that ends before it settles, and would then hold every send waiting.
      if (this.foundExperimentId !== undefined) return Promise.resolve(this.foundExperimentId);
      return client.getOrCreateExperiment(this.experimentName as string).then((id) => (this.foundExperimentId ??= id));
    }
    // Elsewhere every lookup settles (its timeout): one is shared by all sends, and kept once found.
    if (!this.experiment) {
      const lookup = this.client.getOrCreateExperiment(this.experimentName as string);
      lookup.catch(() => void (this.experiment === lookup && (this.experiment = undefined))); // a failed lookup is retried on the next trace
      this.experiment = lookup;
    }
    return this.experiment;
  }

  /** Redacts and sends one trace; resolves when MLflow has it (or `redact` dropped it), rejects with a typed error otherwise. */
  export(trace: Trace): Promise<void> {
    // Redacted in a later microtask, not on the stack of the code whose span ended the trace; a
    // throwing hook rejects the export and never lets the raw trace out.
    const redact = this.redact;
    const delivery = Promise.resolve().then(() => {
      const kept = redact ? redact(trace) : trace;
      if (typeof (kept as { then?: unknown } | null)?.then === "function") {
        // Nothing unredacted may go out, and nothing may wait on the hook: the trace is dropped.
        warnOnce("redact-promise", "the redact hook returned a Promise: it must return the trace synchronously, so the trace was dropped.");
        return undefined;
      }
      return kept ? this.deliver(kept) : undefined;
    });
    this.pruneInFlight();
    this.inFlight.set(delivery, Date.now());
    const settled = (): void => void this.inFlight.delete(delivery);
    delivery.then(settled, settled);
    return delivery.then(() => undefined);
  }

  /** Sends `trace` as it is (no redaction) and resolves with what the server did with it (the exporter's queue aside). */
  async deliver(trace: Trace): Promise<SendTraceResult> {
    const client = this.sendClient(); // (its deadline counts the wait for a slot too)
    const slot = await this.acquire();
    try {
      const experimentId = await this.experimentFor(client);
      const result = await client.sendTrace(trace, experimentId);
      this.onDelivered?.(result, trace);
      return result;
    } catch (error) {
      this.onError?.(error, trace);
      throw error;
    } finally {
      this.release(slot);
    }
  }

  /**
   * Waits for every send started so far (failures are reported by `export`'s own promise). In
   * Workers, not for one older than the abandon age: its invocation has ended, it never settles.
   */
  async flush(): Promise<void> {
    for (this.pruneInFlight(); this.inFlight.size > 0; this.pruneInFlight()) {
      const all = Promise.allSettled([...this.inFlight.keys()]);
      if (this.abandonMs === Infinity) {
        await all;
        continue;
      }
      const oldest = Math.min(...this.inFlight.values());
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([all, new Promise<void>((r) => (timer = setTimeout(r, Math.max(0, oldest + this.abandonMs - Date.now()) + 1)))]);
      if (timer !== undefined) clearTimeout(timer);
    }
  }

  /** In Workers, forgets exports older than the abandon age: their invocation ended with them. */
  private pruneInFlight(): void {
    const now = Date.now();
    for (const [p, since] of this.inFlight) if (now - since > this.abandonMs) this.inFlight.delete(p);
  }

  /**
   * A send slot. In Workers a waiting send looks again on its own timer, and nothing else resumes
   * it: a promise another invocation resolves is run on by workerd only in its own invocation, and
   * dropped when workerd takes that one for finished. Resumed by the send that freed a slot, waiting
   * sends stopped so under load: 8 to 24 traces of a burst were never sent while slots stood free,
   * and only instrument()'s deadline warning spoke of them. Elsewhere a freed slot resumes the
   * waiters at once.
   */
  private async acquire(): Promise<object> {
    if (this.maxConcurrency === Infinity) return {};
    for (;;) {
      const now = Date.now();
      for (const [slot, since] of this.slots) if (now - since > this.abandonMs) this.slots.delete(slot);
      if (this.slots.size < this.maxConcurrency) {
        const slot = {};
        this.slots.set(slot, now);
        return slot;
      }
      await new Promise<void>((resume) => (this.perSend ? setTimeout(resume, SLOT_POLL_MS) : this.waiting.add(resume)));
    }
  }

  /** Frees `slot` (unless it was taken back as abandoned meanwhile); outside Workers, resumes the waiters, which take it in turn. */
  private release(slot: object): void {
    if (this.maxConcurrency === Infinity || !this.slots.delete(slot)) return;
    const waiting = [...this.waiting];
    this.waiting.clear();
    for (const resume of waiting) resume();
  }
}
