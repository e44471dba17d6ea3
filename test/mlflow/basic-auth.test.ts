// Auth against MLflow's own basic-auth app (`mlflow server --app-name basic-auth`), a second real
// server started for this file: right credentials deliver, wrong ones fail at once with an error
// that names the server's answer.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as mlflow from "../../core/index.js";
import type { Trace } from "../../core/index.js";
import { startServer, stopServer } from "./global-setup.js";

let server: Awaited<ReturnType<typeof startServer>>;

beforeAll(async () => {
  server = await startServer(["--basic-auth"]);
}, 300_000);
afterAll(async () => {
  if (server) await stopServer(server.dir);
  mlflow.init({ silent: true });
});

async function makeTrace(): Promise<Trace> {
  const memory = new mlflow.InMemoryExporter();
  mlflow.init({ exporter: memory, silent: true });
  mlflow.trace(function secured(x: number) { return x; })(1);
  await mlflow.flushTraces();
  return memory.traces[0]!;
}

const admin = () => ({ username: server.env.MLFLOW_TRACKING_USERNAME!, password: server.env.MLFLOW_TRACKING_PASSWORD! });

describe("basic auth (MLflow's basic-auth app)", () => {
  it("delivers with the right username and password, to an experiment created by name", async () => {
    const trace = await makeTrace();
    const exporter = new mlflow.MlflowExporter({ trackingUri: server.uri, experimentName: "secured", ...admin() });
    await expect(exporter.deliver(trace)).resolves.toMatchObject({ traceId: trace.info.traceId, spansLocation: "TRACKING_STORE" });
    const auth = `Basic ${Buffer.from(`${admin().username}:${admin().password}`).toString("base64")}`;
    const res = await fetch(`${server.uri}/api/3.0/mlflow/traces/get?trace_id=${trace.info.traceId}`, { headers: { Authorization: auth } });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { trace: { spans: unknown[] } }).trace.spans).toHaveLength(1);
  });

  it("credentials written into the tracking URI deliver as Basic auth and never appear in an error message", async () => {
    const { username, password } = admin();
    const withCredentials = server.uri.replace("//", `//${encodeURIComponent(username)}:${encodeURIComponent(password)}@`);
    const trace = await makeTrace();
    const exporter = new mlflow.MlflowExporter({ trackingUri: withCredentials, experimentName: "secured" });
    await expect(exporter.deliver(trace)).resolves.toMatchObject({ traceId: trace.info.traceId });
    // A failure (nothing listens on port 1) names the URL without them.
    const down = new mlflow.MlflowExporter({ trackingUri: `http://${encodeURIComponent(username)}:${encodeURIComponent(password)}@127.0.0.1:1`, experimentId: "0", retry: { maxAttempts: 1 } });
    const error = (await down.deliver(await makeTrace()).catch((e: unknown) => e)) as Error;
    expect(error.message).toContain("http://127.0.0.1:1/");
    expect(error.message).not.toContain(password);
    expect(error.message).not.toContain(encodeURIComponent(password));
  });

  it("a wrong password fails at once with a 401 that names the server's answer", async () => {
    const trace = await makeTrace();
    const exporter = new mlflow.MlflowExporter({ trackingUri: server.uri, experimentId: "0", username: "admin", password: "wrong", retry: { initialDelayMs: 10 } });
    const error = await exporter.deliver(trace).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(mlflow.MlflowHttpError);
    const http = error as mlflow.MlflowHttpError;
    expect(http).toMatchObject({ status: 401, retryable: false, attempts: 1 });
    expect(http.message).toMatch(new RegExp(`^MLflow POST ${server.uri}/v1/traces answered 401 Unauthorized.*: .+`));
    expect(http.serverMessage.length).toBeGreaterThan(0);
  });

  it("no credentials at all is refused the same way", async () => {
    const trace = await makeTrace();
    const exporter = new mlflow.MlflowExporter({ trackingUri: server.uri, experimentId: "0" });
    await expect(exporter.deliver(trace)).rejects.toMatchObject({ name: "MlflowHttpError", status: 401 });
  });
});
