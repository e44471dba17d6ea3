// A traced call's rejection reaches Node as the untraced call's would: a rejected promise the
// caller ignores still ends the process (Node's default), traced or not, and a handled one never.
// Run in child processes, since an unhandled rejection is a process-level event.
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const dist = join(import.meta.dirname, "..", "..", "dist", "core", "index.js");

function run(body: string): { status: number | null; stderr: string } {
  const script = `import * as mlflow from ${JSON.stringify(dist)};
mlflow.init({ exporter: new mlflow.InMemoryExporter(), silent: true });
const save = (x) => Promise.reject(new Error("db write failed " + x));
${body}
setTimeout(() => {}, 50);`;
  const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8", timeout: 20_000 });
  return { status: r.status, stderr: r.stderr };
}

// Each test starts several Node processes (each importing the SDK, some OpenAI): seconds on a loaded machine.
describe("unhandled rejections, traced as untraced", { timeout: 60_000 }, () => {
  it("an ignored rejection from a function forwarding a promise ends the process, traced or not", () => {
    for (const call of ["void save(1);", "void mlflow.trace(save)(1);", 'void mlflow.withSpan(() => save(1), { name: "w" });', "void mlflow.trace(async (x) => save(x))(1);"]) {
      const r = run(call);
      expect([call, r.status]).toEqual([call, 1]);
      expect(r.stderr).toContain("db write failed 1");
    }
  });

  it("a handled one does not", () => {
    for (const call of ["await mlflow.trace(save)(1).catch(() => {});", 'await mlflow.withSpan(() => save(1), { name: "w" }).catch(() => {});']) {
      expect(run(call).status).toBe(0);
    }
  });
});

describe("tracedOpenAI: a failed call's rejection, handled or not, as untraced", { timeout: 60_000 }, () => {
  // A child process that records what the host reports, and what was traced; `call` makes the call.
  const script = (traced: boolean, call: string) => `import OpenAI from "openai";
import * as mlflow from ${JSON.stringify(dist)};
import { tracedOpenAI } from ${JSON.stringify(join(dist, "..", "..", "openai", "index.js"))};
const exporter = new mlflow.InMemoryExporter();
mlflow.init({ exporter, silent: true });
const events = [];
process.on("unhandledRejection", (e) => events.push("unhandled " + e.constructor.name + " " + e.status));
process.on("rejectionHandled", () => events.push("handled later"));
const fetch = async () => new Response(JSON.stringify({ error: { message: "bad request", type: "invalid_request_error" } }), { status: 400, headers: { "content-type": "application/json" } });
const raw = new OpenAI({ apiKey: "unused", baseURL: "http://llm.local/v1", maxRetries: 0, fetch });
const client = ${traced ? "tracedOpenAI(raw)" : "raw"};
const create = (extra = {}) => client.chat.completions.create({ model: "m", messages: [{ role: "user", content: "hi" }], ...extra });
${call}
setTimeout(async () => {
  await mlflow.flushTraces();
  console.log(JSON.stringify({ events, traces: exporter.traces.map((t) => [t.data.spans[0].name, t.info.state]) }));
}, 400);`;
  const run = (traced: boolean, call: string) => {
    const r = spawnSync(process.execPath, ["--input-type=module", "-e", script(traced, call)], { encoding: "utf8", timeout: 20_000 });
    expect(r.stderr).toBe("");
    return JSON.parse(r.stdout) as { events: string[]; traces: string[][] };
  };
  const traced = [["Completions", "ERROR"]];

  it("nobody awaits it: unhandled (Node's crash, the page's unhandledrejection), and recorded as an ERROR span", () => {
    expect(run(false, "void create();")).toEqual({ events: ["unhandled BadRequestError 400"], traces: [] });
    expect(run(true, "void create();")).toEqual({ events: ["unhandled BadRequestError 400"], traces: traced }); // before: no event
  });

  it("handled later in the same tick: nothing reported; handled in a later tick: reported, then rejectionHandled", () => {
    const sameTick = "const p = create(); for (let i = 0; i < 50; i++) await null; await p.catch(() => {});";
    expect(run(false, sameTick).events).toEqual([]);
    expect(run(true, sameTick)).toEqual({ events: [], traces: traced });
    const laterTick = "const p = create(); setTimeout(() => p.catch(() => {}), 100);";
    expect(run(false, laterTick).events).toEqual(["unhandled BadRequestError 400", "handled later"]);
    expect(run(true, laterTick).events).toEqual(["unhandled BadRequestError 400", "handled later"]);
  });

  it("asResponse() left unhandled is unhandled; reading `then` without calling it takes nothing up", () => {
    expect(run(false, "void create().asResponse();").events).toEqual(["unhandled BadRequestError 400"]);
    expect(run(true, "void create().asResponse();").events).toEqual(["unhandled BadRequestError 400"]);
    expect(run(true, "const p = create(); void typeof p.then;").events).toEqual(["unhandled BadRequestError 400"]);
  });

  it("parse() left unhandled, and a second asResponse() left unhandled on a streamed call, are reported as untraced", () => {
    const calls = ["void create().parse();", "const p = create({ stream: true }); p.asResponse().catch(() => {}); void p.asResponse();"];
    for (const call of calls) expect([call, run(true, call).events]).toEqual([call, run(false, call).events]);
    expect(run(false, calls[0]!).events).toEqual(["unhandled BadRequestError 400"]);
  });

  it("parse() kept while the call itself is handled is handled with it, as untraced (before: a crash the plain client did not have)", () => {
    const calls = [
      "const p = create(); void p.parse(); await p.catch(() => {});",
      "const p = create(); await p.catch(() => {}); void p.parse();",
      "const p = create(); await p.withResponse().catch(() => {}); void p.parse();",
    ];
    for (const call of calls) expect([call, run(true, call).events]).toEqual([call, []]);
    for (const call of calls) expect([call, run(false, call).events]).toEqual([call, []]);
  });
});
