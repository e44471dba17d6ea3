// `npm start` (scripts/start.mjs) as a user runs it, with the real wrangler dev: secrets stay off
// every command line (`ps` shows them to all users) and out of what it prints, every variable of
// the README's configuration table reaches the Worker exactly as set, the temporary file that
// carries them is gone when it exits, and a taken port gets a hint naming PORT.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { createServer as createTcpServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { freePort } from "../e2e/wrangler-dev.js";

const root = join(import.meta.dirname, "..", "..");

interface Started {
  child: ChildProcess;
  stateDir: string;
  out: () => string;
  err: () => string;
  exited: Promise<number | null>;
}
const running: Started[] = [];
let provider: Server | undefined;

afterEach(async () => {
  for (const s of running.splice(0)) {
    if (s.child.exitCode === null && s.child.signalCode === null) s.child.kill("SIGINT");
    await s.exited;
    rmSync(s.stateDir, { recursive: true, force: true });
  }
  await new Promise<void>((r) => (provider ? provider.close(() => r()) : r()));
  provider = undefined;
});

function start(env: Record<string, string>): Started {
  // Only what a shell would have, plus the test's variables: none of the runner's own.
  const stateDir = mkdtempSync(join(tmpdir(), "mlflow-edge-start-test-"));
  const base = { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", MLFLOW_EDGE_STATE_DIR: stateDir };
  const child = spawn(process.execPath, [join(root, "scripts", "start.mjs")], { cwd: root, env: { ...base, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stdout!.on("data", (d) => (out += String(d)));
  child.stderr!.on("data", (d) => (err += String(d)));
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  const started = { child, stateDir, out: () => out, err: () => err, exited };
  running.push(started);
  return started;
}

async function ready(s: Started): Promise<void> {
  const deadline = Date.now() + 90_000;
  while (!s.out().includes("mlflow-edge demo:")) {
    if (s.child.exitCode !== null) throw new Error(`npm start exited (${s.child.exitCode}):\n${s.out()}\n${s.err()}`);
    if (Date.now() > deadline) throw new Error(`npm start not ready:\n${s.out()}\n${s.err()}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** The command lines of a process and all its descendants (Linux /proc). */
function commandLines(pid: number): string[] {
  const parents = new Map<number, number>();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      parents.set(Number(name), Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]));
    } catch {
      // gone meanwhile
    }
  }
  const tree = [pid];
  for (let i = 0; i < tree.length; i++) for (const [p, parent] of parents) if (parent === tree[i]) tree.push(p);
  return tree.flatMap((p) => {
    try {
      return [readFileSync(`/proc/${p}/cmdline`, "utf8").split("\0").join(" ")];
    } catch {
      return [];
    }
  });
}

/** The variable names of the README's "Worker and demo configuration" table (`PORT` aside). */
function readmeVariables(): string[] {
  const readme = readFileSync(join(root, "README.md"), "utf8");
  const section = readme.slice(readme.indexOf("### Worker and demo configuration")).split(/\n#{2,3} /)[0]!;
  const names: string[] = [];
  for (const row of section.split("\n").filter((l) => l.startsWith("| `"))) {
    let previous: string | undefined;
    for (const [, token] of row.split("|")[1]!.matchAll(/`([A-Z0-9_]+)`/g)) {
      // `MLFLOW_TRACKING_USERNAME`/`PASSWORD`: a bare word replaces the last word of the name before it.
      previous = previous && !token!.includes("_") ? previous.replace(/[A-Z0-9]+$/, token!) : token!;
      names.push(previous);
    }
  }
  return names.filter((n) => n !== "PORT");
}

/** An OpenAI-compatible provider that records the key each request is sent with. */
async function recordingProvider(): Promise<{ auths: (string | undefined)[]; providerUrl: string }> {
  const auths: (string | undefined)[] = [];
  provider = createServer((req, res) => {
    auths.push(req.headers.authorization);
    res.writeHead(200, { "content-type": "application/json" }).end('{"choices":[]}');
  });
  await new Promise<void>((r) => provider!.listen(0, "127.0.0.1", () => r()));
  return { auths, providerUrl: `http://127.0.0.1:${(provider.address() as AddressInfo).port}/v1` };
}

describe("npm start", () => {
  it("passes every configured variable without a command line, prints no credential, cleans up", { timeout: 150_000 }, async () => {
    const { auths, providerUrl } = await recordingProvider();
    const mlflowHost = "127.0.0.1:9"; // never called: nothing is ingested
    const key = `sk-p$HOME'x"y#z\\$w$`; // dotenv's quotes, a comment sign and dotenv-expand's "$"
    const secrets = ["uri-secret", "mlflow-password", "sk-p$", "collector-secret-1", "edge-collector-secret-1"];
    const port = await freePort();
    const values: Record<string, string> = {
      MLFLOW_TRACKING_URI: `http://alice:uri-secret@${mlflowHost}`,
      MLFLOW_EXPERIMENT_ID: "5",
      MLFLOW_EXPERIMENT_NAME: "start-test",
      MLFLOW_TRACKING_TOKEN: "token-1",
      MLFLOW_TRACKING_USERNAME: "bob",
      MLFLOW_TRACKING_PASSWORD: "mlflow-password",
      INGEST_KEYS: '[{"key":"demo-page-key","origins":["self"]}]',
      COLLECTOR_SECRET: "collector-secret-1",
      TRACE_BUFFER_SHARDS: "2",
      FORWARD_DELAY_MS: "100",
      FORWARD_PARTIAL_DELAY_MS: "1000",
      FORWARD_RETRY_BASE_MS: "10",
      FORWARD_RETRY_MAX_MS: "100",
      FORWARD_MAX_PERMANENT_FAILURES: "2",
      FORWARD_BATCH_SIZE: "5",
      TRACE_RETENTION_HOURS: "1",
      TRACE_MAX_SPANS: "50",
      TRACE_MAX_BYTES: "100000",
      OPENAI_BASE_URL: providerUrl,
      OPENAI_API_KEY: key,
      OPENAI_MODEL: "model-1",
      MLFLOW_UI_URL: "http://127.0.0.1:9/ui",
      MLFLOW_EDGE_COLLECTOR_URL: "http://127.0.0.1:9/collector",
      MLFLOW_EDGE_COLLECTOR_SECRET: "edge-collector-secret-1",
    };
    const s = start({ ...values, PORT: String(port) });
    await ready(s);

    // Nothing secret on any command line of npm start, wrangler or workerd.
    const lines = commandLines(s.child.pid!);
    expect(lines.some((l) => l.includes("wrangler") && l.includes(" dev "))).toBe(true);
    // The inspector's port is chosen free, not left to wrangler's race with other programs starting.
    expect(lines.some((l) => l.includes("wrangler") && / --inspector-port \d+ /.test(l))).toBe(true);
    for (const line of lines) for (const secret of secrets) expect(line).not.toContain(secret);
    // The variables are in a file only this user reads, each of the README's table among them.
    const envFile = [...lines.find((l) => l.includes("--env-file"))!.matchAll(/--env-file (\S+)/g)].at(-1)![1]!; // ours comes last
    expect(statSync(envFile).mode & 0o777).toBe(0o600);
    const names = readFileSync(envFile, "utf8").split("\n").filter(Boolean).map((l) => l.split("=")[0]);
    const table = readmeVariables();
    expect(table).toContain("TRACE_MAX_SPANS");
    expect(names.sort()).toEqual(expect.arrayContaining(table.sort()));

    // What it printed names the server without the credential.
    expect(s.out()).toContain(`forwarding to MLflow at http://***@${mlflowHost}`);
    for (const secret of secrets) expect(s.out() + s.err()).not.toContain(secret);

    // The Worker has the values exactly as set: the provider gets this key.
    expect(await (await fetch(`http://127.0.0.1:${port}/health`)).json()).toEqual({ ok: true });
    expect(await (await fetch(`http://127.0.0.1:${port}/demo/config`)).json()).toEqual({ mlflowUrl: `http://${mlflowHost}/ui`, experimentId: "5" }); // MLFLOW_UI_URL, when set
    expect(await (await fetch(`http://127.0.0.1:${port}/demo/chat-config`)).json()).toEqual({ model: "model-1", ingestKey: "demo-page-key" });
    const chat = { model: "m", messages: [{ role: "user", content: "hi" }] };
    expect((await fetch(`http://127.0.0.1:${port}/llm/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(chat) })).status).toBe(200);
    expect(auths).toEqual([`Bearer ${key}`]);

    s.child.kill("SIGINT");
    await s.exited;
    expect(existsSync(envFile)).toBe(false);
  });

  it("reads the project's .dev.vars as wrangler would, the environment's values over it", { timeout: 150_000 }, async () => {
    const devVars = join(root, ".dev.vars");
    if (existsSync(devVars)) return expect.fail("a .dev.vars is already in the checkout: this test would overwrite it");
    const { auths, providerUrl } = await recordingProvider();
    // dotenv's forms: a quoted value with a comment after it, "KEY: value".
    writeFileSync(devVars, `OPENAI_BASE_URL="${providerUrl}" # my provider\nOPENAI_API_KEY: sk-from-dev-vars\n`);
    try {
      const chat = JSON.stringify({ model: "m", messages: [{ role: "user", content: "hi" }] });
      for (const env of [{}, { OPENAI_API_KEY: "sk-from-env" }] as Record<string, string>[]) {
        const port = await freePort();
        const s = start({ PORT: String(port), ...env });
        await ready(s);
        expect((await fetch(`http://127.0.0.1:${port}/llm/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: chat })).status).toBe(200);
        s.child.kill("SIGINT");
        await s.exited;
      }
      expect(auths).toEqual(["Bearer sk-from-dev-vars", "Bearer sk-from-env"]);
    } finally {
      rmSync(devVars, { force: true });
    }
  });

  it("a tracking URI in .dev.vars is announced and gets the default experiment, as one in the environment does (before: 'kept in the local buffer', and every trace refused for want of an experiment)", { timeout: 150_000 }, async () => {
    const devVars = join(root, ".dev.vars");
    if (existsSync(devVars)) return expect.fail("a .dev.vars is already in the checkout: this test would overwrite it");
    // Saved with a byte order mark (PowerShell's UTF-8), a variable expanded as wrangler's
    // dotenv-expand does: from the file's entries above it, not from the shell's variables.
    // A key given twice is expanded with its last value; an empty one counts as unset, as in dotenv-expand.
    writeFileSync(devVars, `\uFEFFMLFLOW_HOST=nowhere:1\nEMPTY=\nexport MLFLOW_TRACKING_URI="http://carol:dev-vars-secret@\${MLFLOW_HOST:-nowhere}\${EMPTY-}" # local\nMLFLOW_HOST=127.0.0.1:9\n`);
    try {
      const port = await freePort();
      const s = start({ PORT: String(port), MLFLOW_HOST: "shell-host:1" });
      await ready(s);
      expect(s.out()).toContain("forwarding to MLflow at http://***@127.0.0.1:9");
      // What it announced is what the Worker got from wrangler.
      expect(((await (await fetch(`http://127.0.0.1:${port}/demo/config`)).json()) as { mlflowUrl: string }).mlflowUrl).toBe("http://127.0.0.1:9");
      expect(s.out() + s.err()).not.toContain("dev-vars-secret");
      const envFile = [...commandLines(s.child.pid!).find((l) => l.includes("--env-file"))!.matchAll(/--env-file (\S+)/g)].at(-1)![1]!;
      expect(readFileSync(envFile, "utf8")).toContain("MLFLOW_EXPERIMENT_NAME='mlflow-edge-demo'");
    } finally {
      rmSync(devVars, { force: true });
    }
  });

  it("a provider's base URL that is no http(s) URL is refused before starting; one of its two variables alone is warned about", { timeout: 120_000 }, async () => {
    const bad = start({ PORT: String(await freePort()), OPENAI_BASE_URL: "127.0.0.1:8815/v1", OPENAI_API_KEY: "sk-1" });
    expect(await bad.exited).toBe(2);
    expect(bad.err()).toContain("OPENAI_BASE_URL must be an http(s) URL");
    const half = start({ PORT: String(await freePort()), OPENAI_BASE_URL: "https://api.example/v1" });
    await ready(half);
    expect(half.err()).toContain("OPENAI_BASE_URL is set without OPENAI_API_KEY: the built-in model answers");
    expect(half.out()).toContain("model: the built-in demo-mini");
  });

  it("without MLFLOW_TRACKING_URI: the demo on its own", { timeout: 120_000 }, async () => {
    const port = await freePort();
    const s = start({ PORT: String(port) });
    await ready(s);
    expect(s.out()).toContain("traces kept in the local buffer");
    expect(s.out()).toContain("model: the built-in demo-mini");
    expect(await (await fetch(`http://127.0.0.1:${port}/health`)).json()).toEqual({ ok: true });
    expect(await (await fetch(`http://127.0.0.1:${port}/demo/config`)).json()).toEqual({ mlflowUrl: null, experimentId: null });
    expect(await (await fetch(`http://127.0.0.1:${port}/demo/chat-config`)).json()).toEqual({ model: "demo-mini", ingestKey: "demo-page-key" });
  });

  it("a taken port: says to set PORT", { timeout: 120_000 }, async () => {
    const taken = createTcpServer();
    await new Promise<void>((r) => taken.listen(0, "127.0.0.1", () => r()));
    const port = (taken.address() as AddressInfo).port;
    try {
      const s = start({ PORT: String(port) });
      expect(await s.exited).not.toBe(0);
      expect(s.err()).toContain(`Port ${port} is in use`);
      expect(s.err()).toMatch(/PORT=\d+ npm start/);
    } finally {
      taken.close();
    }
  });

  it("refuses a value it cannot write for wrangler, before starting it", async () => {
    const s = start({ PORT: String(await freePort()), OPENAI_API_KEY: `a'b"c\`d` });
    expect(await s.exited).toBe(2);
    expect(s.err()).toContain("OPENAI_API_KEY cannot be passed to wrangler");
    expect(s.err()).not.toContain("a'b");
  });
});
