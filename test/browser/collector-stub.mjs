// A stand-in for the Worker collector's ingest endpoint, until the collector issue lands.
// Records what it accepted; /stub/* lets tests inspect it and inject faults.
const state = { batches: [], failNext: 0, failStatus: 503, retryAfter: undefined };

const readBody = (req) =>
  new Promise((resolve, reject) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });

const json = (res, status, body, headers = {}) => {
  res.writeHead(status, { "content-type": "application/json", "access-control-allow-origin": "*", ...headers });
  res.end(JSON.stringify(body));
};

/** Handles collector routes; returns true when it answered. */
export async function handleCollector(req, res, url) {
  const p = url.pathname;
  if (p === "/v1/ingest" && req.method === "POST") {
    const body = await readBody(req);
    if (state.failNext > 0) {
      state.failNext--;
      return json(res, state.failStatus, { error: "injected failure" }, state.retryAfter ? { "retry-after": String(state.retryAfter) } : {}), true;
    }
    state.batches.push(JSON.parse(body));
    return json(res, 200, { accepted: true }), true;
  }
  if (p === "/stub/received") return json(res, 200, state.batches), true;
  if (p === "/stub/reset") {
    Object.assign(state, { batches: [], failNext: 0, failStatus: 503, retryAfter: undefined });
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
