// A stand-in for the Worker collector's ingest endpoint (docs/ingest-protocol.md), until the
// collector issue lands. Like the real one it is idempotent by trace id: `traces` holds each trace
// once, while `deliveries` counts how often each id arrived, so tests can tell both apart.
// /stub/* lets tests inspect it and inject faults (down, fail, delay).
const fresh = () => ({ batches: [], traces: new Map(), deliveries: new Map(), requests: [], failNext: 0, failStatus: 503, retryAfter: undefined, down: false, refused: 0, delayMs: 0, dropAborted: false });
let state = fresh();

const readBody = (req) =>
  new Promise((resolve, reject) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });

const CORS = {
  "access-control-allow-origin": "*",
  "access-control-allow-methods": "POST",
  "access-control-allow-headers": "content-type, x-mlflow-edge-key",
  "access-control-expose-headers": "retry-after",
};

const json = (res, status, body, headers = {}) => {
  res.writeHead(status, { "content-type": "application/json", ...CORS, ...headers });
  res.end(JSON.stringify(body));
};

function ingest(body, res, record) {
  let batch;
  try {
    batch = JSON.parse(body);
  } catch {
    record.status = 400;
    return json(res, 400, { error: "body is not JSON", path: "", hint: "send {\"version\":1,\"traces\":[...]}" });
  }
  if (batch?.version !== 1 || !Array.isArray(batch.traces)) {
    record.status = 400;
    return json(res, 400, { error: "unsupported batch", path: "version", hint: "version must be 1 and traces an array" });
  }
  const bad = batch.traces.findIndex((t) => typeof t?.info?.traceId !== "string" || !Array.isArray(t?.data?.spans));
  if (bad >= 0) {
    record.status = 400;
    return json(res, 400, { error: "not a trace", path: `traces[${bad}]`, hint: "each trace is { info, data: { spans } }" });
  }
  state.batches.push(batch);
  for (const t of batch.traces) {
    const id = t.info.traceId;
    if (!state.traces.has(id)) state.traces.set(id, t);
    state.deliveries.set(id, (state.deliveries.get(id) ?? 0) + 1);
  }
  record.status = 200;
  record.ids = batch.traces.map((t) => t.info.traceId);
  return json(res, 200, { accepted: batch.traces.length });
}

/** Handles collector routes; returns true when it answered. */
export async function handleCollector(req, res, url) {
  const p = url.pathname;
  if (p === "/v1/ingest" && req.method === "OPTIONS") {
    res.writeHead(204, { ...CORS, "access-control-max-age": "600" });
    return res.end(), true;
  }
  if (p === "/v1/ingest" && req.method === "POST") {
    if (state.down) {
      // "Network down" on the server side: the connection is dropped without an answer. Blocking in
      // the browser (page.route) misses keepalive requests sent while a page unloads.
      state.refused++;
      req.socket.destroy();
      return true;
    }
    const body = await readBody(req);
    const record = { at: Date.now(), bytes: Buffer.byteLength(body), key: req.headers["x-mlflow-edge-key"], traceparent: req.headers.traceparent, status: 0, ids: [] };
    state.requests.push(record); // (status 0 until answered)
    let gone = false;
    res.on("close", () => (gone = !res.writableEnded));
    if (state.delayMs) await new Promise((r) => setTimeout(r, state.delayMs)); // a collector slow to answer
    // A request its page gave up on (a plain fetch of a page that went away): with dropAborted, the
    // collector drops it unprocessed, as a Worker whose client disconnected may be cancelled.
    if (gone && state.dropAborted) {
      record.status = 499;
      return true;
    }
    if (state.failNext > 0) {
      state.failNext--;
      record.status = state.failStatus;
      // A 3xx sends the page to a path that answers 200 with no collector behind it (a login page).
      const redirect = state.failStatus >= 300 && state.failStatus < 400 ? { location: "/health" } : {};
      return json(res, state.failStatus, { error: "injected failure" }, { ...redirect, ...(state.retryAfter ? { "retry-after": String(state.retryAfter) } : {}) }), true;
    }
    return ingest(body, res, record), true;
  }
  if (p === "/stub/received") return json(res, 200, state.batches), true;
  if (p === "/stub/traces") {
    return json(res, 200, { traces: [...state.traces.values()], deliveries: Object.fromEntries(state.deliveries), requests: state.requests, refused: state.refused }), true;
  }
  if (p === "/stub/reset") {
    state = fresh();
    return json(res, 200, {}), true;
  }
  if (p === "/stub/delay") {
    state.delayMs = Number(url.searchParams.get("ms") ?? 0);
    state.dropAborted = url.searchParams.get("dropAborted") === "1";
    return json(res, 200, {}), true;
  }
  if (p === "/stub/down") {
    state.down = url.searchParams.get("on") !== "0";
    return json(res, 200, {}), true;
  }
  if (p === "/stub/fail") {
    state.failNext = Number(url.searchParams.get("times") ?? 1);
    state.failStatus = Number(url.searchParams.get("status") ?? 503);
    state.retryAfter = url.searchParams.get("retryAfter") ?? undefined;
    return json(res, 200, {}), true;
  }
  return false;
}
