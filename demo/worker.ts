// The demo Worker (`npm start`): the chat page and the Traces view (static assets), the collector
// over the TraceBuffer Durable Objects, and an OpenAI-compatible endpoint at /llm/v1 that is
// either the built-in deterministic model or, with OPENAI_BASE_URL and OPENAI_API_KEY set, a real
// provider (the key stays here). The LLM route is traced and joins the page's trace.
import { Hono } from "hono";
import { MlflowClient } from "../core/mlflow/client.js";
import { bufferStoreFromEnv, createCollector, mlflowTracing, TraceBuffer } from "../worker/index.js";
import { fakeLlm } from "./llm/fake-llm.js";

export { TraceBuffer };

export interface DemoEnv {
  TRACE_BUFFER: DurableObjectNamespace<TraceBuffer>;
  ASSETS: Fetcher;
  INGEST_KEYS?: string;
  COLLECTOR_SECRET?: string;
  MLFLOW_TRACKING_URI?: string;
  MLFLOW_EXPERIMENT_ID?: string;
  MLFLOW_EXPERIMENT_NAME?: string;
  /** Where MLflow's UI is, if not at MLFLOW_TRACKING_URI (for the "Open in MLflow" link). */
  MLFLOW_UI_URL?: string;
  OPENAI_BASE_URL?: string;
  OPENAI_API_KEY?: string;
}

const app = new Hono<{ Bindings: DemoEnv }>();

let experimentId: Promise<string | null> | undefined;
app.get("/demo/config", async (c) => {
  const uri = c.env.MLFLOW_TRACKING_URI;
  if (!uri) return c.json({ mlflowUrl: null, experimentId: null });
  experimentId ??= c.env.MLFLOW_EXPERIMENT_ID
    ? Promise.resolve(c.env.MLFLOW_EXPERIMENT_ID)
    : new MlflowClient({ trackingUri: uri, retry: { maxAttempts: 1 } })
        .getExperimentIdByName(c.env.MLFLOW_EXPERIMENT_NAME ?? "")
        .then((id) => id ?? null)
        .catch(() => ((experimentId = undefined), null));
  // The tracking server's address only: no credential ever leaves the Worker.
  return c.json({ mlflowUrl: (c.env.MLFLOW_UI_URL ?? uri).replace(/\/+$/, ""), experimentId: await experimentId });
});

app.use("/llm/*", mlflowTracing());
app.post("/llm/v1/*", async (c) => {
  const { OPENAI_BASE_URL: base, OPENAI_API_KEY: key } = c.env;
  if (!base || !key) return fakeLlm(c.req.raw);
  const rest = new URL(c.req.url).pathname.replace(/^\/llm\/v1\//, "");
  return fetch(`${base.replace(/\/+$/, "")}/${rest}`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
    body: c.req.raw.body,
  });
});

// The Traces view reads /api/traces from the page: open for this local demo. A deployment that
// is reachable by others should use readAccess: "secret" and read through a server.
app.route("/", createCollector<DemoEnv>({ store: (env) => bufferStoreFromEnv(env)!, readAccess: "open" }));

export default app;
