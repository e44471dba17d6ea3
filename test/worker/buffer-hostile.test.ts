// The TraceBuffer when things are not as they should be: bad input from a caller that skipped the
// collector, rows in storage this code cannot read, a wrong forwarding configuration (and the
// deployment that fixes it), and more due work than one alarm run may do.
import { env } from "cloudflare:workers";
import { runInDurableObject } from "cloudflare:test";
import { beforeEach, describe, expect, it } from "vitest";
import type { Trace } from "../../core/model/types.js";
import { TraceBuffer } from "../../worker/buffer/trace-buffer.js";
import { api, fault, forwardNow, fromMlflow, proxy, resetProxy, row, sql } from "./fixture/buffer-helpers.js";
import { joinedTrace, simpleTrace } from "./traces.js";

let n = 0;
const buffer = () => env.TRACE_BUFFER.get(env.TRACE_BUFFER.idFromName(`hostile-${Date.now()}-${n++}`));

beforeEach(async () => {
  await resetProxy();
});

describe("TraceBuffer: bad input", () => {
  it("refuses a batch holding a malformed trace with the path of the fault, and stores none of it", async () => {
    const stub = buffer();
    const good = simpleTrace("good");
    const bad = simpleTrace("bad");
    (bad.data.spans[1] as { spanId: unknown }).spanId = "not-hex";
    // Called inside the object: a rejection crossing RPC is reported by the test pool as unhandled.
    const refusal = (traces: unknown) =>
      runInDurableObject(stub, (instance: TraceBuffer) => instance.put(traces as Trace[]).then(() => "stored", (e: Error) => e.message));
    expect(await refusal([good, bad])).toBe("traces[1].data.spans[1].spanId must be 16 lowercase hex");
    expect(await refusal([{ info: { traceId: "tr-1" }, data: { spans: [] } }])).toBe("traces[0].info.traceId must be tr-<32 lowercase hex>");
    expect(await refusal("nope")).toBe("put(traces): traces must be an array of core Trace objects");
    // A span the buffer could not read back is refused too, not acknowledged and then left out.
    const broken = (change: (span: Record<string, unknown>) => void) => {
      const t = simpleTrace("broken");
      change(t.data.spans[1] as unknown as Record<string, unknown>);
      return [good, t];
    };
    expect(await refusal(broken((s) => delete s.events))).toBe("traces[1].data.spans[1] needs status and attributes objects and an events array");
    expect(await refusal(broken((s) => delete s.status))).toBe("traces[1].data.spans[1] needs status and attributes objects and an events array");
    expect(await refusal(broken((s) => (s.name = 7)))).toBe("traces[1].data.spans[1].name must be a string");
    expect(await refusal(broken((s) => (s.traceId = `tr-${"b".repeat(32)}`)))).toMatch(/^traces\[1\]\.data\.spans\[1\]\.traceId must be its trace's id/);
    expect(await refusal(broken((s) => delete s.traceId))).toMatch(/^traces\[1\]\.data\.spans\[1\]\.traceId must be its trace's id/);
    expect(await refusal(broken((s) => (s.events = [null])))).toBe("traces[1].data.spans[1].events[0] must be { name, timestamp (epoch milliseconds), attributes }");
    expect(await refusal(broken((s) => (s.events = [{ name: "e", timestamp: "now", attributes: {} }])))).toMatch(/events\[0\] must be/);
    expect(await api(stub).get(good.info.traceId)).toBeNull();
    expect(await api(stub).stats()).toMatchObject({ traces: 0, spans: 0 });
  });

  it("stores a 1.5 MB span (one row a span) and refuses one that SQLite could not hold, naming it", async () => {
    const stub = buffer();
    const big = simpleTrace("big");
    big.data.spans[1]!.outputs = "é".repeat(750_000); // 1.5 MB as UTF-8
    expect(await api(stub).put([big])).toEqual({ stored: 1, merged: 0, duplicates: 0 });
    expect((await api(stub).get(big.info.traceId))?.trace.data.spans.find((s) => s.name === "retrieve")?.outputs).toHaveLength(750_000);

    const huge = simpleTrace("huge");
    huge.data.spans[0]!.inputs = { text: "x".repeat(2_100_000) };
    const other = simpleTrace("beside it");
    const message = await runInDurableObject(stub, (instance: TraceBuffer) => instance.put([other, huge]).then(() => "stored", (e: Error) => e.message));
    expect(message).toMatch(/^traces\[1\]\.data\.spans\[0\] is 2100\d{3} bytes as JSON; a span or TraceInfo must stay under 1900000/);
    expect(await api(stub).get(other.info.traceId)).toBeNull();
  });
});

describe("TraceBuffer: parts that point at each other", () => {
  it("stores, merges and forwards parts whose spans name each other as parents, then the root part, and keeps serving other traces", async () => {
    // Each part alone is a valid tree under a remote parent, so the collector passes both; merged
    // they form a parent loop beside the real root, which arrives last and makes the buffer walk
    // the whole merged trace for its token usage.
    const stub = buffer();
    const [a, b, root] = [simpleTrace("loop a"), simpleTrace("loop b"), simpleTrace("the root")];
    for (const t of [b, root]) {
      for (const s of t.data.spans) s.traceId = a.info.traceId;
      t.info = { ...t.info, traceId: a.info.traceId };
    }
    const [aRoot, aChild] = a.data.spans as [Trace["data"]["spans"][0], Trace["data"]["spans"][0]];
    const [bRoot, bChild] = b.data.spans as [Trace["data"]["spans"][0], Trace["data"]["spans"][0]];
    aRoot.parentId = bChild.spanId;
    bRoot.parentId = aChild.spanId;
    aChild.attributes["mlflow.chat.tokenUsage"] = { input_tokens: 5, output_tokens: 1, total_tokens: 6 };
    root.data.spans[1]!.attributes["mlflow.chat.tokenUsage"] = { input_tokens: 2, output_tokens: 3, total_tokens: 5 };
    expect(await api(stub).put([a])).toEqual({ stored: 1, merged: 0, duplicates: 0 });
    expect(await api(stub).put([b])).toEqual({ stored: 0, merged: 1, duplicates: 0 });
    expect(await api(stub).put([root])).toEqual({ stored: 0, merged: 1, duplicates: 0 });
    const stored = (await api(stub).get(a.info.traceId))?.trace;
    expect(stored?.data.spans).toHaveLength(6);
    // The loop hangs under no root, so only the real tree's usage counts.
    expect(JSON.parse(stored?.info.traceMetadata["mlflow.trace.tokenUsage"] ?? "null")).toEqual({ input_tokens: 2, output_tokens: 3, total_tokens: 5 });
    const after = simpleTrace("after the loop");
    expect(await api(stub).put([after])).toEqual({ stored: 1, merged: 0, duplicates: 0 });
    await forwardNow(stub);
    expect((await fromMlflow(after.info.traceId))?.tree).toEqual([["answer", null], ["retrieve", "answer"]]);
    expect((await fromMlflow(a.info.traceId))?.tree).toHaveLength(6);
  });
});

describe("TraceBuffer: rows it cannot read", () => {
  it("lists and gets around damaged rows, forwards what is readable, and dead-letters a trace with nothing readable without holding up the others", async () => {
    const stub = buffer();
    const [damagedSpan, unreadable, fine, unsendable] = [simpleTrace("one span damaged"), simpleTrace("no span readable"), simpleTrace("fine"), simpleTrace("readable, not sendable")];
    await api(stub).put([damagedSpan, unreadable, fine, unsendable]);
    // A row that reads as a span but no request can be made of (no trace id): not retried for ever.
    const { traceId: _, ...idless } = unsendable.data.spans[0]!;
    await sql(stub, "UPDATE spans SET body = ? WHERE span_id = ?", JSON.stringify(idless), idless.spanId);
    const retrieve = damagedSpan.data.spans.find((s) => s.name === "retrieve")!;
    await sql(stub, "UPDATE spans SET body = '{\"half a' WHERE span_id = ?", retrieve.spanId);
    await sql(stub, "UPDATE traces SET info = 'garbage', tags = '[1,2', forwarding = 'teleported', state = 'MAYBE' WHERE trace_id = ?", damagedSpan.info.traceId);
    await sql(stub, "UPDATE spans SET body = 'null' WHERE trace_id = ?", unreadable.info.traceId);

    const page = await api(stub).list({ limit: 10 });
    expect(page.traces.map((s) => s.traceId).sort()).toEqual([damagedSpan, unreadable, fine, unsendable].map((t) => t.info.traceId).sort());
    const summary = page.traces.find((s) => s.traceId === damagedSpan.info.traceId)!;
    expect(summary).toMatchObject({ tags: {}, forwarding: "buffered", state: "STATE_UNSPECIFIED", requestPreview: damagedSpan.info.requestPreview });
    const got = (await api(stub).get(damagedSpan.info.traceId))!;
    expect(got.trace.data.spans.map((s) => s.name)).toEqual(["answer"]);
    expect(got.trace.info).toMatchObject({ traceId: damagedSpan.info.traceId, requestTime: damagedSpan.info.requestTime });

    for (let i = 0; i < 3; i++) await forwardNow(stub);
    expect(await row(stub, fine.info.traceId)).toMatchObject({ forwarding: "forwarded", attempts: 1 });
    expect(await row(stub, damagedSpan.info.traceId)).toMatchObject({ forwarding: "forwarded" });
    expect((await fromMlflow(damagedSpan.info.traceId))?.tree).toEqual([["answer", null]]);
    const dead = (await row(stub, unreadable.info.traceId))!;
    expect(dead).toMatchObject({ forwarding: "dead-lettered", permanent_failures: 3 });
    expect(dead.last_error).toContain("no readable span");
    expect(await row(stub, unsendable.info.traceId)).toMatchObject({ forwarding: "dead-lettered", permanent_failures: 3 });
    // Kept: nothing is deleted before MLflow has it.
    expect(await sql(stub, "SELECT COUNT(*) AS n FROM spans WHERE trace_id = ?", unreadable.info.traceId)).toEqual([{ n: 2 }]);
  });
});

describe("TraceBuffer: token usage of parts", () => {
  it("sums the usage of parts whose true root never arrives (two Worker calls joined under a caller without mlflow-edge)", async () => {
    const stub = buffer();
    const [a, b] = [simpleTrace("first call"), simpleTrace("second call")];
    for (const s of b.data.spans) s.traceId = a.info.traceId;
    b.info = { ...b.info, traceId: a.info.traceId };
    for (const t of [a, b]) {
      t.data.spans[0]!.parentId = "abcdefabcdefabcd"; // the caller's span, never sent
      t.data.spans[1]!.attributes["mlflow.chat.tokenUsage"] = { input_tokens: 10, output_tokens: 5, total_tokens: 15 };
    }
    await api(stub).put([a]);
    expect(await api(stub).put([b])).toEqual({ stored: 0, merged: 1, duplicates: 0 });
    const stored = (await api(stub).get(a.info.traceId))!.trace;
    expect(JSON.parse(stored.info.traceMetadata["mlflow.trace.tokenUsage"]!)).toEqual({ input_tokens: 20, output_tokens: 10, total_tokens: 30 });
  });
});

describe("TraceBuffer: forwarding configuration", () => {
  it("a wrong configuration keeps traces, says what is wrong, keeps the settings that are fine, and the fixed deployment forwards them", async () => {
    const stub = env.MISCONFIGURED_BUFFER.get(env.MISCONFIGURED_BUFFER.idFromName(`mis-${Date.now()}`));
    const t = simpleTrace("kept until fixed");
    expect(await api(stub).put([t])).toEqual({ stored: 1, merged: 0, duplicates: 0 });
    const stats = await api(stub).stats();
    expect(stats.configError).toBe("forwarding is off: MLFLOW_TRACKING_URI is set, so MLFLOW_EXPERIMENT_ID or MLFLOW_EXPERIMENT_NAME must be too.");
    const summary = (await api(stub).get(t.info.traceId))!.summary;
    expect(summary).toMatchObject({ forwarding: "not-configured", lastError: stats.configError });
    // Kept until the configuration is fixed: retention (TRACE_RETENTION_HOURS=2 here) is for traces
    // MLflow has, or for the embedded mode that never forwards.
    expect(await sql<{ e: number | null }>(stub as never, "SELECT expires_at AS e FROM traces")).toEqual([{ e: null }]);

    // The next deployment has working settings: the same storage, a correctly configured object.
    const forwarded = await runInDurableObject(stub, async (_, state) => {
      const fixed = new TraceBuffer(state as DurableObjectState, env);
      await state.blockConcurrencyWhile(async () => {}); // the constructor's schema and adoption ran
      const adopted = state.storage.sql.exec("SELECT forwarding, expires_at, last_error, next_attempt_at FROM traces").one();
      state.storage.sql.exec("UPDATE traces SET next_attempt_at = 0");
      await fixed.alarm();
      return { adopted, after: state.storage.sql.exec("SELECT forwarding FROM traces").one() };
    });
    expect(forwarded.adopted).toMatchObject({ forwarding: "buffered", expires_at: null, last_error: null });
    expect(forwarded.after).toEqual({ forwarding: "forwarded" });
    expect((await fromMlflow(t.info.traceId))?.info.request_preview).toBe(t.info.requestPreview);
  });

  it("traces buffered for MLflow wait quietly when a later deployment turns forwarding off: no alarm for them", async () => {
    const stub = buffer();
    const outcome = await runInDurableObject(stub, async (_, state) => {
      const working = new TraceBuffer(state as DurableObjectState, env);
      await state.blockConcurrencyWhile(async () => {});
      await working.put([simpleTrace("buffered, then forwarding is turned off")]);
      state.storage.sql.exec("UPDATE traces SET next_attempt_at = 0"); // overdue
      const off = new TraceBuffer(state as DurableObjectState, { ...env, MLFLOW_EXPERIMENT_NAME: undefined, MLFLOW_EXPERIMENT_ID: undefined });
      await state.blockConcurrencyWhile(async () => {});
      await off.alarm();
      const whileOff = { alarm: await state.storage.getAlarm(), rows: state.storage.sql.exec("SELECT forwarding FROM traces").toArray() };
      new TraceBuffer(state as DurableObjectState, env); // fixed: the next deployment starts the object
      await state.blockConcurrencyWhile(async () => {});
      return { whileOff, alarmOnceFixed: await state.storage.getAlarm() };
    });
    expect(outcome.whileOff.rows).toEqual([{ forwarding: "buffered" }]);
    expect(outcome.whileOff.alarm).toBeNull(); // was: now, again and again (925 runs in 3 s)
    expect(outcome.alarmOnceFixed).not.toBeNull(); // not only at the next put
  });

  it("traces kept through a broken configuration get the retention once the deployment turns to embedded mode", async () => {
    const stub = env.MISCONFIGURED_BUFFER.get(env.MISCONFIGURED_BUFFER.idFromName(`to-embedded-${Date.now()}`));
    await api(stub).put([simpleTrace("kept through a broken configuration")]);
    const expires = await runInDurableObject(stub, async (_, state) => {
      const before = state.storage.sql.exec("SELECT expires_at AS e FROM traces").one().e;
      new TraceBuffer(state as DurableObjectState, { ...env, MLFLOW_TRACKING_URI: undefined }); // embedded mode
      await state.blockConcurrencyWhile(async () => {});
      return { before, after: state.storage.sql.exec("SELECT forwarding, expires_at AS e FROM traces").one() };
    });
    expect(expires.before).toBeNull();
    expect(expires.after.forwarding).toBe("not-configured");
    expect(Number(expires.after.e)).toBeGreaterThan(Date.now() + 23 * 3_600_000);
  });

  it("creates the experiment named by MLFLOW_EXPERIMENT_NAME when MLflow has none, and names it when MLflow will not say", async () => {
    const name = `mlflow-edge-buffer-new-${Date.now()}`;
    const t = simpleTrace("into a new experiment");
    const refused = simpleTrace("experiment lookup refused");
    const stub = buffer();
    const outcome = await runInDurableObject(stub, async (_, state) => {
      const named = new TraceBuffer(state as DurableObjectState, { ...env, MLFLOW_EXPERIMENT_NAME: name });
      await state.blockConcurrencyWhile(async () => {}); // its start-up ran (it may schedule the alarm)
      await named.put([refused]);
      state.storage.sql.exec("UPDATE traces SET next_attempt_at = 0");
      // Matched by this test's experiment name: other test files talk to the same proxy.
      await fault(`experiments/get-by-name\\?experiment_name=${name}$`, 400, 1, {}, JSON.stringify({ error_code: "INVALID_PARAMETER_VALUE", message: "no reading experiments for you" }));
      await named.alarm();
      const afterRefusal = state.storage.sql.exec("SELECT forwarding, permanent_failures, last_error FROM traces").one();
      await named.put([t]);
      state.storage.sql.exec("UPDATE traces SET next_attempt_at = 0");
      await named.alarm();
      return { afterRefusal, forwarded: state.storage.sql.exec("SELECT COUNT(*) AS n FROM traces WHERE forwarding = 'forwarded'").one().n };
    });
    expect(outcome.afterRefusal).toMatchObject({ forwarding: "buffered", permanent_failures: 1 });
    expect(outcome.afterRefusal.last_error).toContain(`MLFLOW_EXPERIMENT_NAME "${name}" could not be found or created`);
    expect(outcome.afterRefusal.last_error).toContain("no reading experiments for you");
    expect(outcome.forwarded).toBe(2);
    const experiment = (await (await fetch(`${proxy}/api/2.0/mlflow/experiments/get-by-name?experiment_name=${name}`)).json()) as { experiment: { experiment_id: string } };
    const info = (await (await fetch(`${proxy}/api/3.0/mlflow/traces/${t.info.traceId}`)).json()) as { trace: { trace_info: { trace_location: { mlflow_experiment: { experiment_id: string } } } } };
    expect(info.trace.trace_info.trace_location.mlflow_experiment.experiment_id).toBe(experiment.experiment.experiment_id);
  });

  it("an experiment MLflow refuses (an id naming none, a deleted one) pauses the shard instead of dead-lettering traces; they go once it is fixed", async () => {
    const name = `mlflow-edge-buffer-deleted-${Date.now()}`;
    const post = (path: string, body: unknown) =>
      fetch(`${proxy}/api/2.0/mlflow/experiments/${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) }).then((r) => r.json() as Promise<Record<string, string>>);
    const experimentId = (await post("create", { name })).experiment_id!;
    const [typo, deleted] = [simpleTrace("into a mistyped experiment"), simpleTrace("into a deleted experiment")];
    const outcome = await runInDurableObject(buffer(), async (_, state) => {
      const run = async (buffer: TraceBuffer, times: number) => {
        for (let i = 0; i < times; i++) {
          state.storage.sql.exec("UPDATE traces SET next_attempt_at = 0 WHERE next_attempt_at IS NOT NULL");
          state.storage.sql.exec("DELETE FROM shard_state WHERE key = 'paused_until'");
          await buffer.alarm();
        }
        return state.storage.sql.exec("SELECT trace_id, forwarding, permanent_failures, last_error FROM traces ORDER BY trace_id").toArray();
      };
      const paused = () => Number(state.storage.sql.exec("SELECT value FROM shard_state WHERE key = 'paused_until'").toArray()[0]?.value ?? 0);
      // More attempts than FORWARD_MAX_PERMANENT_FAILURES (3): refusals of the experiment do not count.
      const mistyped = new TraceBuffer(state as DurableObjectState, { ...env, MLFLOW_EXPERIMENT_NAME: undefined, MLFLOW_EXPERIMENT_ID: "987654321" });
      await state.blockConcurrencyWhile(async () => {});
      await mistyped.put([typo]);
      const afterTypo = await run(mistyped, 4);
      const pausedByTypo = paused() > Date.now();
      state.storage.sql.exec("DELETE FROM traces"), state.storage.sql.exec("DELETE FROM spans");
      // Found by name, then deleted in MLflow: the same, and it is looked up again each time.
      const named = new TraceBuffer(state as DurableObjectState, { ...env, MLFLOW_EXPERIMENT_NAME: name });
      await state.blockConcurrencyWhile(async () => {});
      await post("delete", { experiment_id: experimentId });
      await named.put([deleted]);
      const afterDelete = await run(named, 4);
      const pausedByDelete = paused() > Date.now();
      await post("restore", { experiment_id: experimentId });
      const afterRestore = await run(named, 1);
      return { afterTypo, pausedByTypo, afterDelete, pausedByDelete, afterRestore };
    });
    expect(outcome.afterTypo).toMatchObject([{ forwarding: "buffered", permanent_failures: 0 }]);
    expect(outcome.afterTypo[0]!.last_error).toMatch(/No Experiment with id=987654321 exists.*the experiment is refused, not this trace/);
    expect(outcome.pausedByTypo).toBe(true);
    expect(outcome.afterDelete).toMatchObject([{ forwarding: "buffered", permanent_failures: 0 }]);
    expect(outcome.afterDelete[0]!.last_error).toMatch(/is deleted: restore it, or trace to another experiment name.*the experiment is refused, not this trace/);
    expect(outcome.pausedByDelete).toBe(true);
    expect(outcome.afterRestore).toMatchObject([{ forwarding: "forwarded" }]);
    expect((await fromMlflow(deleted.info.traceId))?.info.request_preview).toBe(deleted.info.requestPreview);
  });

  it("half of a Basic credential is named as the problem", async () => {
    await runInDurableObject(env.MISCONFIGURED_BUFFER.get(env.MISCONFIGURED_BUFFER.idFromName(`mis2-${Date.now()}`)), (_, state) => {
      const half = new TraceBuffer(state as DurableObjectState, { ...env, MLFLOW_TRACKING_USERNAME: "alice" });
      return half.stats().then((s) => expect(s.configError).toBe("forwarding is off: MLFLOW_TRACKING_USERNAME is set without MLFLOW_TRACKING_PASSWORD; set both for Basic auth (or MLFLOW_TRACKING_TOKEN for a bearer token)."));
    });
  });

  it("a value meant as 'for ever' (TRACE_RETENTION_HOURS=99999999, FORWARD_DELAY_MS=1e16) is named as the problem; writes go on, also beside a row due after 2189", async () => {
    for (const [key, value] of [["TRACE_RETENTION_HOURS", "99999999"], ["FORWARD_DELAY_MS", "1e16"]] as const) {
      const seen = await runInDurableObject(buffer(), async (_, state) => {
        const shard = new TraceBuffer(state as DurableObjectState, { ...env, [key]: value });
        await state.blockConcurrencyWhile(async () => {});
        const put = await shard.put([simpleTrace(`${key} for ever`)]).then(() => "stored", (e: Error) => e.message);
        return { put, configError: (await shard.stats()).configError };
      });
      expect(seen.put).toBe("stored");
      expect(seen.configError).toContain(`${key} must be a number from 0 to`);
      expect(seen.configError).toContain(JSON.stringify(value));
    }
    // A row an earlier deployment stored to expire in the year 3000 (the only row left) does not
    // make scheduling the alarm throw, in the alarm run or in the next write.
    const stub = buffer();
    await api(stub).put([simpleTrace("kept for ever by an older deployment")]);
    await sql(stub, "UPDATE traces SET forwarding = 'forwarded', next_attempt_at = NULL, expires_at = ?", Date.UTC(3000, 0, 1));
    const outcome = await runInDurableObject(stub, async (instance: TraceBuffer, state) => {
      const ran = await instance.alarm().then(() => "ran", (e: Error) => e.message);
      return { ran, alarm: await state.storage.getAlarm() };
    });
    expect(outcome.ran).toBe("ran");
    expect(new Date(outcome.alarm!).getUTCFullYear()).toBe(2188);
    expect(await api(stub).put([simpleTrace("the next one")])).toMatchObject({ stored: 1 });
  });

  it("credentials in MLFLOW_TRACKING_URI never reach a message: no scheme, or a password with an unencoded #, ? or /, is a configuration error that names the URI masked", async () => {
    const cases: [string, string][] = [
      ["alice:s3cret@mlflow.example.com", "must be an http(s) URL; got \"***@mlflow.example.com\"."],
      ["https://alice:s3#cret@127.0.0.1:9/", "is not a URL that can be parsed: \"https://***@127.0.0.1:9/\"; in a user name or password, percent-encode"],
      ["https://alice:s3?cret@127.0.0.1:9", "is not a URL that can be parsed: \"https://***@127.0.0.1:9\""],
      ["https://alice:s3/cret@127.0.0.1:9", "is not a URL that can be parsed: \"https://***@127.0.0.1:9\""],
    ];
    for (const [uri, message] of cases) {
      const seen = await runInDurableObject(env.MISCONFIGURED_BUFFER.get(env.MISCONFIGURED_BUFFER.idFromName(`uri-${Date.now()}-${n++}`)), async (_, state) => {
        const shard = new TraceBuffer(state as DurableObjectState, { ...env, MLFLOW_TRACKING_URI: uri, MLFLOW_EXPERIMENT_ID: "1", MLFLOW_TRACKING_USERNAME: undefined });
        await state.blockConcurrencyWhile(async () => {});
        const t = simpleTrace("credentials");
        await shard.put([t]);
        return { stats: await shard.stats(), summary: (await shard.get(t.info.traceId))!.summary, listed: (await shard.list({})).traces[0]! };
      });
      expect(seen.stats.configError).toContain(`forwarding is off: MLFLOW_TRACKING_URI ${message}`);
      // Kept until fixed (not forwarded and retried for ever), with the masked reason.
      expect(seen.summary).toMatchObject({ forwarding: "not-configured", lastError: seen.stats.configError });
      for (const text of [JSON.stringify(seen.stats), JSON.stringify(seen.summary), JSON.stringify(seen.listed)]) {
        expect(text).not.toContain("s3");
        expect(text).not.toContain("alice");
      }
    }
  });

  it("a tracking URI that parses another way than it looks (a password holding # or @ unencoded) is masked in forwarding errors", async () => {
    // Both call a URL the password is part of, where nothing listens: `127.0.0.1:9` and then
    // "#s3cret@..." as a fragment; the user `alice` and password `p` at the host `127.0.0.1:9`, then
    // "/s3cret@..." as a path. The error names the URL the client called.
    for (const uri of ["http://127.0.0.1:9#s3cret@mlflow.example.com", "http://alice:p@127.0.0.1:9/s3cret@mlflow.example.com"]) {
      const lastError = await runInDurableObject(buffer(), async (_, state) => {
        const shard = new TraceBuffer(state as DurableObjectState, { ...env, MLFLOW_TRACKING_URI: uri, MLFLOW_EXPERIMENT_ID: "1" });
        await state.blockConcurrencyWhile(async () => {});
        await shard.put([simpleTrace("masked")]);
        state.storage.sql.exec("UPDATE traces SET next_attempt_at = 0");
        await shard.alarm();
        return state.storage.sql.exec<{ e: string }>("SELECT last_error AS e FROM traces").one().e;
      });
      expect(lastError).toMatch(/^MLflow POST http:\/\/\*\*\*@mlflow\.example\.com\/v1\/traces failed: /);
      expect(lastError).not.toContain("s3cret");
    }
  });
});

describe("TraceBuffer: bounded alarm runs", () => {
  it("forwards at most FORWARD_BATCH_SIZE traces per alarm run and re-arms the alarm at once for the rest", async () => {
    const stub = env.SMALL_BATCH_BUFFER.get(env.SMALL_BATCH_BUFFER.idFromName(`batch-${Date.now()}`));
    const traces = Array.from({ length: 5 }, (_, i) => simpleTrace(`batch ${i}`));
    await api(stub).put(traces);
    const run = await runInDurableObject(stub, async (instance: TraceBuffer, state) => {
      state.storage.sql.exec("UPDATE traces SET next_attempt_at = 0");
      await instance.alarm();
      return {
        forwarded: state.storage.sql.exec("SELECT COUNT(*) AS n FROM traces WHERE forwarding = 'forwarded'").one().n,
        alarm: await state.storage.getAlarm(),
        at: Date.now(),
      };
    });
    expect(run.forwarded).toBe(2);
    expect(run.alarm).not.toBeNull();
    expect(run.alarm!).toBeLessThanOrEqual(run.at);
    // The re-armed alarm keeps going on its own until every trace is in MLflow.
    await expect.poll(async () => (await api(stub).stats()).byForwarding, { timeout: 20_000, interval: 100 }).toEqual({ forwarded: 5 });
    for (const t of traces) expect((await fromMlflow(t.info.traceId))?.tree).toHaveLength(2);
  });
});

// Found by a review of the buffer (each test fails on the code before it).
describe("TraceBuffer: damage and settings that once took more down than their own", () => {
  it("a damaged tags column matches no tag filter, instead of failing every tag-filtered listing", async () => {
    const stub = buffer();
    const [a, b] = [simpleTrace("a", { tags: { team: "x" } }), simpleTrace("b", { tags: { team: "x" } })];
    await api(stub).put([a, b]);
    await sql(stub, "UPDATE traces SET tags = '[1,2' WHERE trace_id = ?", a.info.traceId);
    for (const tag of ["team=x", "team"]) {
      const page = await api(stub).list({ limit: 10, tag });
      expect(page.traces.map((t) => t.traceId)).toEqual([b.info.traceId]);
    }
  });

  it("a forwarded trace with a damaged span row is still expired at its retention's end: the alarm run does not fail (and stop expiry) on it", async () => {
    const stub = buffer();
    const damaged = simpleTrace("one span damaged");
    await api(stub).put([damaged]);
    const retrieve = damaged.data.spans.find((s) => s.name === "retrieve")!;
    await sql(stub, "UPDATE spans SET body = '{\"half a' WHERE span_id = ?", retrieve.spanId);
    expect(await forwardNow(stub)).toBe(true);
    await sql(stub, "UPDATE traces SET expires_at = 0 WHERE trace_id = ?", damaged.info.traceId);
    const error = await runInDurableObject(stub, (b: TraceBuffer) => b.alarm().then(() => null, (e: unknown) => String(e)));
    expect(error).toBeNull();
    expect(await row(stub, damaged.info.traceId)).toBeUndefined(); // deleted
  });

  it("one malformed setting takes its default alone: TRACE_RETENTION_HOURS=720 still holds beside FORWARD_BATCH_SIZE=ten, and both problems are named", async () => {
    const stub = buffer();
    const out = await runInDurableObject(stub, async (_, state) => {
      const b = new TraceBuffer(state as DurableObjectState, { ...env, MLFLOW_TRACKING_URI: undefined, TRACE_RETENTION_HOURS: "720", FORWARD_BATCH_SIZE: "ten", TRACE_MAX_SPANS: "many" });
      await state.blockConcurrencyWhile(async () => {});
      await b.put([simpleTrace("kept 30 days")]);
      return { expires: state.storage.sql.exec("SELECT expires_at AS e FROM traces").one().e as number, stats: await b.stats() };
    });
    expect(out.expires).toBeGreaterThan(Date.now() + 700 * 3_600_000);
    expect(out.stats.configError).toContain("FORWARD_BATCH_SIZE must be an integer");
    expect(out.stats.configError).toContain("TRACE_MAX_SPANS must be an integer");
    expect(out.stats.configError).not.toContain("forwarding is off"); // embedded mode: it never was on
  });

  it("MLFLOW_TRACKING_URI bound as something other than text (a Secrets Store binding): forwarding is off and the traces are kept until it is fixed, not expired unforwarded", async () => {
    const stub = buffer();
    const out = await runInDurableObject(stub, async (_, state) => {
      const uri = { get: async () => "http://127.0.0.1:1" };
      const b = new TraceBuffer(state as DurableObjectState, { ...env, MLFLOW_TRACKING_URI: uri as never });
      await state.blockConcurrencyWhile(async () => {});
      await b.put([simpleTrace("meant for MLflow")]);
      return { row: state.storage.sql.exec("SELECT forwarding, expires_at AS e FROM traces").one(), stats: await b.stats() };
    });
    expect(out.row.e).toBeNull();
    expect(out.stats.configError).toMatch(/^forwarding is off: /);
  });

  it("FORWARD_RETRY_MAX_MS under FORWARD_RETRY_BASE_MS is refused by name (before: taken, and every wait was over the cap)", async () => {
    const stub = buffer();
    const configError = await runInDurableObject(stub, async (_, state) => {
      const b = new TraceBuffer(state as DurableObjectState, { ...env, FORWARD_RETRY_BASE_MS: "60000", FORWARD_RETRY_MAX_MS: "5000" });
      await state.blockConcurrencyWhile(async () => {});
      return (await b.stats()).configError;
    });
    expect(configError).toContain("FORWARD_RETRY_MAX_MS (5000) must be at least FORWARD_RETRY_BASE_MS (60000)");
  });

  it("a merged TraceInfo whose name and previews shrink when lower-cased (the Kelvin sign, 3 bytes, becomes k) is refused with a 413 by the row check, not by SQLite as a 503 clients retry for ever", async () => {
    const stub = buffer();
    const K = "\u212a".repeat(65_536);
    const filler = (prefix: string, count: number) => Object.fromEntries(Array.from({ length: count }, (_, i) => [`${prefix}${i}`, "v".repeat(50_000)]));
    const { browser, worker } = joinedTrace();
    browser.info.requestPreview = K;
    browser.info.responsePreview = K;
    browser.info.tags = { ...browser.info.tags, "mlflow.traceName": K, ...filler("a", 4) };
    worker.info.tags = { ...worker.info.tags, ...filler("b", 3) };
    const put = (t: Trace) => runInDurableObject(stub, (b: TraceBuffer) => b.put([t]).then(() => "stored", (e: Error) => `${e.name}: ${e.message}`));
    const outcomes = [await put(browser), await put(worker)];
    // Whichever part goes over, it is the row check's RangeError (the collector's 413), never SQLite's error.
    expect(outcomes.some((o) => o.startsWith("RangeError: traces[0].info"))).toBe(true);
    expect(outcomes.join(" ")).not.toMatch(/SQLITE_|TOOBIG/);
  });
});
