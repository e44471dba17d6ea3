// The demo as a newcomer uses it, in Debian's Chromium: the chat page makes traced LLM calls
// (one of them failing, one carrying HTML), the Traces view shows them with previews, status and
// forwarding state, a trace's detail shows the span tree with types, inputs/outputs, the exception
// event and stream chunks; with the real MLflow configured the same traces are in MLflow. Trace
// content is rendered as text, never HTML. Screenshots for the README are taken here.
import { execFile } from "node:child_process";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { promisify } from "node:util";
import { expect, test, type Page } from "@playwright/test";
import { fakeLlm } from "../../demo/llm/fake-llm.js";
import { slowLeases } from "../browser/delivery/helpers.js";
import { startWranglerDev, type WranglerDev } from "./wrangler-dev.js";

const run = promisify(execFile);
const root = join(import.meta.dirname, "..", "..");
const shots = join(root, "docs", "screenshots");
const XSS = `<img src=x onerror="window.__xss=1">`;

test.describe.configure({ mode: "serial" });

async function ask(page: Page, question: string): Promise<void> {
  const before = await page.locator(".msg.assistant").count();
  await page.fill("#question", question);
  await page.press("#question", "Enter");
  const answer = page.locator(".msg.assistant").nth(before);
  await expect(answer).not.toHaveAttribute("aria-busy", "true", { timeout: 20_000 });
}

test.describe("demo with no configuration (the embedded buffer)", () => {
  let demo: WranglerDev;
  test.beforeAll(async () => {
    demo = await startWranglerDev();
  });
  test.afterAll(async () => demo?.stop());

  test("a chat message becomes a trace in the Traces view, kept in the buffer", async ({ page }) => {
    await page.goto(`${demo.url}/`);
    await ask(page, "What is mlflow-edge?");
    await expect(page.locator(".msg.assistant").last()).toHaveText(/^From \[\w+\]: /);
    await page.goto(`${demo.url}/traces`);
    const row = page.locator("table.traces tbody tr").first();
    await expect(row.locator("td.preview.request")).toHaveText("What is mlflow-edge?", { timeout: 20_000 });
    await expect(row.locator(".fwd")).toHaveText("not-configured");
  });

  test("the page's settings failing to load once (the Worker reloading): it asks again, and the question is traced", async ({ page }) => {
    let failures = 0;
    await page.route("**/demo/chat-config", (route) => (failures++ === 0 ? route.abort() : route.continue()));
    await page.goto(`${demo.url}/`);
    await ask(page, "What is mlflow-edge? (settings retried)");
    await expect(page.locator(".msg.assistant").last()).toHaveText(/^From \[\w+\]: /);
    expect(failures).toBe(2);
    await page.goto(`${demo.url}/traces`);
    await expect(page.locator("table.traces tbody tr td.preview.request", { hasText: "(settings retried)" })).toHaveCount(1, { timeout: 20_000 });
  });

  test("tokens appear as they stream, before the answer is complete", async ({ page }) => {
    await page.goto(`${demo.url}/`);
    await page.fill("#question", "slow: what is mlflow-edge?"); // "slow" makes the built-in model pause between chunks
    await page.press("#question", "Enter");
    const answer = page.locator(".msg.assistant").last();
    await expect(answer).toHaveText(/^From \[\w+\]:/); // the first words are on screen…
    expect(await answer.getAttribute("aria-busy")).toBe("true"); // …while the stream is still running
    await expect(answer).not.toHaveAttribute("aria-busy", "true", { timeout: 20_000 });
    expect((await answer.textContent())!.length).toBeGreaterThan("From [mlflow]:".length + 20);
  });

  test("a long streamed answer (1 500 chunks) still becomes a trace: cut to 1 000 chunk events, its whole answer kept", async ({ page }) => {
    await page.goto(`${demo.url}/`);
    await ask(page, "Give me a long answer (stream test)");
    await expect(page.locator(".msg.assistant").last()).toHaveText(/word1500$/);
    type Span = { spanType: string; outputs?: unknown; events: { name: string }[] };
    const findLlm = async (): Promise<Span | undefined> => {
      const list = (await (await fetch(`${demo.url}/api/traces?text=${encodeURIComponent("stream test")}`)).json()) as { traces: { traceId: string }[] };
      if (list.traces.length !== 1) return undefined;
      const detail = (await (await fetch(`${demo.url}/api/traces/${list.traces[0]!.traceId}`)).json()) as { trace: { data: { spans: Span[] } } };
      return detail.trace.data.spans.find((span) => span.spanType === "CHAT_MODEL" && span.events.length > 0);
    };
    let found: Span | undefined;
    await expect.poll(async () => (found = await findLlm()) !== undefined, { timeout: 20_000 }).toBe(true);
    const llm = found!;
    expect(llm.events).toHaveLength(1000);
    expect(llm.events[0]!.name).toBe("mlflow.chunk.item.0");
    expect(JSON.stringify(llm.outputs)).toContain("word1 word2");
    expect(JSON.stringify(llm.outputs)).toContain("word1500");
  });

  test("the chat navigated from (not into the back/forward cache) before its trace went out (leased, the request not made yet): the Traces view, a page of the site, sends it", async ({ page }) => {
    await page.goto(`${demo.url}/`);
    await expect(page.locator("#delivery")).toHaveText(/Traces sent: 0/); // tracing has started
    await slowLeases(page);
    await ask(page, "What is mlflow-edge? (left at once)");
    await page.goto(`${demo.url}/traces`);
    await expect(page.locator("table.traces tbody tr td.preview.request", { hasText: "(left at once)" })).toHaveCount(1, { timeout: 20_000 });
  });

  test("a tab closed right after its answer: the trace still reaches the collector, once", async ({ context }) => {
    const page = await context.newPage();
    await page.goto(`${demo.url}/`);
    await ask(page, "What is mlflow-edge? (closing tab)");
    await page.close({ runBeforeUnload: true });
    const reopened = await context.newPage();
    await reopened.goto(`${demo.url}/traces`);
    const rows = reopened.locator("table.traces tbody tr", { hasText: "(closing tab)" });
    await expect(rows).toHaveCount(1, { timeout: 45_000 });
  });
});

test.describe("demo calling a real provider through the Worker (OPENAI_BASE_URL)", () => {
  let demo: WranglerDev;
  let provider: Server;
  const KEY = "sk-provider-secret-0123456789";
  const MODEL = "provider-model-1";
  const seen: { auth: string | undefined; path: string; model?: string }[] = [];

  test.beforeAll(async () => {
    // An OpenAI-compatible provider on loopback that requires the key and knows only its own
    // model, as a real one does.
    provider = createServer(async (req, res) => {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      const { model } = JSON.parse(Buffer.concat(chunks).toString() || "{}") as { model?: string };
      seen.push({ auth: req.headers.authorization, path: req.url ?? "", model });
      if (req.headers.authorization !== `Bearer ${KEY}`) {
        res.writeHead(401, { "content-type": "application/json" });
        res.end('{"error":{"message":"bad key","type":"invalid_request_error"}}');
        return;
      }
      if (model !== MODEL) {
        res.writeHead(404, { "content-type": "application/json" });
        res.end(JSON.stringify({ error: { message: `The model \`${model}\` does not exist`, type: "invalid_request_error", code: "model_not_found" } }));
        return;
      }
      const answer = await fakeLlm(new Request(`http://provider${req.url}`, { method: "POST", body: Buffer.concat(chunks) }), { chunkDelayMs: 1 });
      res.writeHead(answer.status, Object.fromEntries(answer.headers));
      res.end(Buffer.from(await answer.arrayBuffer()));
    });
    await new Promise<void>((r) => provider.listen(0, "127.0.0.1", () => r()));
    const port = (provider.address() as AddressInfo).port;
    demo = await startWranglerDev({ vars: {
        OPENAI_BASE_URL: `http://127.0.0.1:${port}/v1`,
        OPENAI_API_KEY: KEY,
        OPENAI_MODEL: MODEL,
        // Keys of the user's own: the page sends with the one bound to its origin (it had its own, refused).
        INGEST_KEYS: JSON.stringify([{ key: "pk-their-app", origins: ["https://app.example.com"] }, { key: "pk-demo-own", origins: ["self"] }]),
      },
    });
  });
  test.afterAll(async () => {
    await demo?.stop();
    provider?.close();
  });

  test("the Worker adds the key; the page never has it; the page asks for OPENAI_MODEL", async ({ page }) => {
    const bodies: string[] = [];
    page.on("response", async (r) => bodies.push(await r.text().catch(() => "")));
    await page.goto(`${demo.url}/`);
    await ask(page, "What is mlflow-edge?");
    await expect(page.locator(".msg.assistant").last()).toHaveText(/^From \[\w+\]: /);
    expect(seen.map((s) => [s.path, s.auth, s.model])).toContainEqual(["/v1/chat/completions", `Bearer ${KEY}`, MODEL]);
    const html = await page.content();
    expect(html).not.toContain(KEY);
    for (const b of bodies) expect(b).not.toContain(KEY);
    // The page's own trace reached the collector, with the key INGEST_KEYS binds to its origin.
    await page.goto(`${demo.url}/traces`);
    await expect(page.locator("table.traces tbody tr", { hasText: "What is mlflow-edge?" }).first()).toBeVisible({ timeout: 20_000 });
  });
});

test.describe("demo forwarding to the real MLflow server", () => {
  let demo: WranglerDev;
  let mlflowUri = "";
  let serverDir = "";
  const experiment = `demo-e2e-${Date.now()}`;

  test.beforeAll(async () => {
    test.setTimeout(600_000); // the first run installs MLflow into .venv
    const { stdout } = await run("bash", [join(root, "scripts", "mlflow-server.sh"), "start"], { cwd: root });
    mlflowUri = /MLFLOW_TRACKING_URI=(\S+)/.exec(stdout)![1]!;
    serverDir = /MLFLOW_SERVER_DIR=(\S+)/.exec(stdout)![1]!;
    demo = await startWranglerDev({ vars: { MLFLOW_TRACKING_URI: mlflowUri, MLFLOW_EXPERIMENT_NAME: experiment, FORWARD_DELAY_MS: "300" } });
  });
  test.afterAll(async () => {
    await demo?.stop();
    if (serverDir) await run("bash", [join(root, "scripts", "mlflow-server.sh"), "stop", serverDir], { cwd: root });
  });

  test("chat, Traces view, trace detail, and the same traces in MLflow", async ({ page }) => {
    test.setTimeout(120_000);
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.goto(`${demo.url}/`);
    await ask(page, "What is mlflow-edge?");
    await ask(page, "What's the weather in Paris?");
    await expect(page.locator(".msg.assistant").nth(1)).toHaveText("The weather in Paris is light rain, 14°C.");
    await ask(page, "please fail this time");
    await expect(page.locator(".msg.assistant.error")).toContainText("Error: 500");
    await ask(page, XSS);
    // The message is shown as the text it is: no element was made from it, no handler ran.
    await expect(page.locator(".msg.user").last()).toHaveText(XSS);
    expect(await page.locator("#messages img").count()).toBe(0);
    await page.screenshot({ path: join(shots, "chat.png") });

    await page.goto(`${demo.url}/traces`);
    const rows = page.locator("table.traces tbody tr");
    await expect(rows).toHaveCount(4, { timeout: 20_000 });
    // Newest first; request previews are the user's last message, response previews the answer.
    await expect(rows.locator("td.preview.request")).toHaveText([XSS, "please fail this time", "What's the weather in Paris?", "What is mlflow-edge?"]);
    await expect(rows.nth(2).locator("td.preview.response")).toHaveText("The weather in Paris is light rain, 14°C.");
    await expect(rows.nth(1).locator(".badge")).toHaveText("Error");
    // Live updates: the forwarding column turns to "forwarded" without a reload.
    await expect(rows.locator(".fwd")).toHaveText(["forwarded", "forwarded", "forwarded", "forwarded"], { timeout: 30_000 });
    expect(await page.locator("table.traces img").count()).toBe(0);
    await page.fill('input[type="search"]', "weather");
    await expect(rows).toHaveCount(1);
    await page.fill('input[type="search"]', "");
    await expect(rows).toHaveCount(4);
    await page.screenshot({ path: join(shots, "traces.png") });
    const ids = await rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute("data-trace-id")!));

    // The weather trace: the page's spans and the Worker's, in one tree.
    await rows.nth(2).locator("a.trace-link").click();
    const tree = page.locator(".span-tree .span-row");
    await expect(tree.first()).toHaveAttribute("data-span-name", "agent");
    const names = await tree.evaluateAll((lis) => lis.map((li) => `${li.getAttribute("aria-level")}:${li.getAttribute("data-span-name")}`));
    expect(names).toEqual([
      "1:agent",
      "2:retrieve",
      "2:buildPrompt",
      "2:Completions_1",
      "3:POST /llm/v1/*",
      "2:tool_call",
      "3:get_weather",
      "2:Completions_2",
      "3:POST /llm/v1/*",
    ]);
    // Forwarding is configured, so the trace links to itself in MLflow's UI.
    const link = page.locator("a.mlflow-link");
    await expect(link).toHaveAttribute("href", new RegExp(`^${mlflowUri}/#/experiments/\\d+/traces\\?selectedEvaluationId=${ids[2]}$`));
    await tree.filter({ hasText: "Completions_1" }).click();
    const detail = page.locator(".span-detail");
    await expect(detail.locator(".type")).toHaveText("CHAT_MODEL");
    await expect(detail.locator("section", { hasText: "Outputs" }).locator("pre")).toContainText('"name": "get_weather"');
    await expect(detail.locator("section", { hasText: "Events" })).toContainText("mlflow.chunk.item.0");
    // Keyboard: arrow down moves to the next span.
    await page.keyboard.press("ArrowDown");
    await expect(detail.locator("h2")).toHaveText("POST /llm/v1/*");
    await page.screenshot({ path: join(shots, "trace-detail.png"), fullPage: true });

    // The failing trace carries the exception event with its stack.
    await page.goto(`${demo.url}/traces#/${ids[1]}`);
    await page.locator(".span-tree .span-row").filter({ hasText: "Completions" }).first().click();
    await expect(page.locator(".span-detail .event.exception")).toContainText("exception.stacktrace");

    // The HTML message, in the detail view too, is text.
    await page.goto(`${demo.url}/traces#/${ids[0]}`);
    await expect(page.locator(".span-detail section", { hasText: "Inputs" }).locator("pre")).toContainText("onerror");
    expect(await page.locator("main img").count()).toBe(0);
    expect(await page.evaluate(() => (window as { __xss?: number }).__xss)).toBeUndefined();

    // A phone's width: the page does not overflow sideways (the table scrolls inside its box).
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(`${demo.url}/traces`);
    await expect(page.locator("table.traces tbody tr")).toHaveCount(4);
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await page.goto(`${demo.url}/traces#/${ids[2]}`);
    await expect(page.locator(".span-tree .span-row")).toHaveCount(9);
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);

    // The same traces in MLflow, each once, with the Worker's spans nested in the page's.
    const exp = (await (await fetch(`${mlflowUri}/api/2.0/mlflow/experiments/get-by-name?experiment_name=${experiment}`)).json()) as { experiment: { experiment_id: string } };
    const search = (await (
      await fetch(`${mlflowUri}/api/3.0/mlflow/traces/search`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ locations: [{ type: "MLFLOW_EXPERIMENT", mlflow_experiment: { experiment_id: exp.experiment.experiment_id } }], max_results: 50 }),
      })
    ).json()) as { traces: { trace_id: string }[] };
    expect(search.traces.map((t) => t.trace_id).sort()).toEqual([...ids].sort());
    const weather = (await (await fetch(`${mlflowUri}/api/3.0/mlflow/traces/get?trace_id=${ids[2]}`)).json()) as { trace: { spans: { name: string }[] } };
    expect(weather.trace.spans.map((s) => s.name).sort()).toEqual(names.map((n) => n.split(":").slice(1).join(":")).sort());
  });
});
