#!/usr/bin/env node
// `npm start`: the demo Worker under `wrangler dev` on 127.0.0.1 (port 8787 unless PORT is set),
// with its Durable Object buffer persisted in .wrangler/state. With no configuration it is complete
// on its own; with MLFLOW_TRACKING_URI (and MLFLOW_EXPERIMENT_ID or MLFLOW_EXPERIMENT_NAME) in the
// environment, the buffer forwards every trace to that MLflow server. Secrets are passed to the
// Worker as variables here and never reach the browser.
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

const root = join(import.meta.dirname, "..");
const port = Number(process.env.PORT ?? 8787);
if (!Number.isInteger(port) || port <= 0 || port > 65535) {
  console.error(`PORT must be a TCP port number; got ${JSON.stringify(process.env.PORT)}.`);
  process.exit(2);
}

// Passed through to the Worker when set in the environment: every variable of the README's
// "Worker and demo configuration" table (they override wrangler.toml's [vars]), and the demo's
// MLFLOW_UI_URL.
const PASS = [
  "MLFLOW_TRACKING_URI",
  "MLFLOW_EXPERIMENT_ID",
  "MLFLOW_EXPERIMENT_NAME",
  "MLFLOW_TRACKING_TOKEN",
  "MLFLOW_TRACKING_USERNAME",
  "MLFLOW_TRACKING_PASSWORD",
  "INGEST_KEYS",
  "COLLECTOR_SECRET",
  "TRACE_BUFFER_SHARDS",
  "FORWARD_DELAY_MS",
  "FORWARD_PARTIAL_DELAY_MS",
  "FORWARD_RETRY_BASE_MS",
  "FORWARD_RETRY_MAX_MS",
  "FORWARD_MAX_PERMANENT_FAILURES",
  "FORWARD_BATCH_SIZE",
  "TRACE_RETENTION_HOURS",
  "TRACE_MAX_SPANS",
  "TRACE_MAX_BYTES",
  "OPENAI_BASE_URL",
  "OPENAI_API_KEY",
  "OPENAI_MODEL",
  "MLFLOW_UI_URL",
  "MLFLOW_EDGE_COLLECTOR_URL",
  "MLFLOW_EDGE_COLLECTOR_SECRET",
];
// Given --env-file, wrangler reads no .dev.vars or .env of its own: the project's file (wrangler's
// choice, .dev.vars before .env) is passed first, so the environment's values win over it.
const projectFile = [".dev.vars", ".env"].map((f) => join(root, f)).find((f) => existsSync(f));

/**
 * The project file's entries as dotenv reads them (wrangler's first step), enough for the settings
 * npm start looks at: `KEY=value` or `KEY: value`, an optional `export`, a value in '…', "…" (with
 * \n and \r) or `…`, which may span lines, then only a comment; otherwise the line's text up to a
 * "#", trimmed. A key given twice keeps its first place and its last value.
 */
function readDotenv(file) {
  const out = {};
  const text = readFileSync(file, "utf8").replace(/^\uFEFF/, "").replace(/\r\n?/g, "\n");
  const entry = /^\s*(?:export\s+)?([\w.-]+)(?:\s*=[ \t]*|:[ \t]+)('(?:\\'|[^'])*'|"(?:\\"|[^"])*"|`(?:\\`|[^`])*`|[^#\n]*)[ \t]*(?:#[^\n]*)?$/gm;
  for (const [, key, raw] of text.matchAll(entry)) {
    const value = raw.trim();
    const quote = /^(['"`])([\s\S]*)\1$/.exec(value);
    out[key] = !quote ? value : quote[1] === '"' ? quote[2].replace(/\\n/g, "\n").replace(/\\r/g, "\r") : quote[2];
  }
  return out;
}

/**
 * What wrangler's second step (dotenv-expand over the files, not the shell's variables) makes of
 * the entries, in their order: `$NAME`, `${NAME}`, `${NAME:-default}` and `${NAME:+alternative}`
 * (`-` and `+` alike, an empty value counting as unset), `\$` a "$". Nested defaults are not read:
 * a value holding one is not vouched for (the start-up check of OPENAI_BASE_URL skips it).
 */
function expandAll(entries) {
  const name = /(\\)?\$(?:\{([A-Za-z_]\w*)(?::?([-+])([^{}]*))?\}|([A-Za-z_]\w*))/g;
  for (const key of Object.keys(entries)) {
    entries[key] = entries[key]
      .replace(name, (match, escaped, braced, op, alt, bare) => {
        if (escaped) return match;
        const found = entries[braced ?? bare] || "";
        return !op ? found : op === "-" ? found || alt : found ? alt : "";
      })
      .replaceAll("\\$", "$");
  }
  return entries;
}

/** What the Worker will see: the project's file with the environment's values in place, expanded. */
const fromFile = projectFile ? readDotenv(projectFile) : {};
const rawBaseUrl = fromFile.OPENAI_BASE_URL ?? "";
const seen = expandAll(Object.assign(fromFile, Object.fromEntries(PASS.filter((k) => process.env[k]).map((k) => [k, process.env[k].replaceAll("$", "\\$")]))));

if (seen.MLFLOW_TRACKING_URI && !seen.MLFLOW_EXPERIMENT_ID && !seen.MLFLOW_EXPERIMENT_NAME) {
  process.env.MLFLOW_EXPERIMENT_NAME = seen.MLFLOW_EXPERIMENT_NAME = "mlflow-edge-demo";
}
// A real provider needs both its address and its key; one alone leaves the built-in model answering.
const provider = seen.OPENAI_BASE_URL && seen.OPENAI_API_KEY;
if (Boolean(seen.OPENAI_BASE_URL) !== Boolean(seen.OPENAI_API_KEY)) {
  console.warn(`${seen.OPENAI_BASE_URL ? "OPENAI_BASE_URL" : "OPENAI_API_KEY"} is set without ${seen.OPENAI_BASE_URL ? "OPENAI_API_KEY" : "OPENAI_BASE_URL"}: the built-in model answers.`);
}
const protocolOf = (url) => {
  try {
    return new URL(url).protocol;
  } catch {
    return "";
  }
};
// Refused only when npm start knows the value for sure: from the environment, or a project file's
// line with nothing to expand (its expansion is wrangler's to make).
const baseUrlKnown = Boolean(process.env.OPENAI_BASE_URL) || !rawBaseUrl.includes("$");
if (provider && baseUrlKnown && !/^https?:$/.test(protocolOf(seen.OPENAI_BASE_URL))) {
  console.error("OPENAI_BASE_URL must be an http(s) URL, such as https://api.openai.com/v1.");
  process.exit(2);
}

/** A URI for printing: what precedes its last "@" (a user name and password) becomes "***". */
const masked = (uri) => uri.replace(/^([a-z][a-z0-9+.-]*:\/\/)?.*@/is, "$1***@");

/**
 * One line of the file wrangler reads with dotenv and then dotenv-expand: "$" is escaped (it would
 * expand `$NAME`), and the value is quoted with a quote it does not hold (dotenv has no escape for
 * the quote itself; inside "…", `\n` would become a newline).
 */
function envLine(name, value) {
  const quote = ["'", "`", '"'].find((q) => !value.includes(q) && !(q === '"' && /\\[nr]/.test(value)));
  if (quote === undefined || /[\r\n]/.test(value)) {
    console.error(`${name} cannot be passed to wrangler: it holds a line break or all of the quotes ' \` ".`);
    process.exit(2);
  }
  return `${name}=${quote}${value.replaceAll("$", "\\$")}${quote}\n`;
}

// The variables go to wrangler in a file only this user can read (--env-file), not as `--var`
// arguments: a command line is visible to every user of the machine (`ps`). The file is deleted
// when npm start exits; wrangler reads it again when it reloads its configuration.
const vars = PASS.filter((k) => process.env[k]).map((k) => envLine(k, process.env[k])).join("");
const dir = mkdtempSync(join(tmpdir(), "mlflow-edge-start-")); // mode 0700
process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
const envFile = join(dir, "worker.env");
writeFileSync(envFile, vars, { mode: 0o600, flag: "wx" });

const persist = process.env.MLFLOW_EDGE_STATE_DIR ?? join(root, ".wrangler", "state");
const envFiles = [...(projectFile ? [projectFile] : []), envFile].flatMap((f) => ["--env-file", f]);
// The inspector's port, free now: wrangler's own pick (9229 and up) is made early and bound seconds
// later, so two demos starting together took the same one, and the loser's PORT was blamed.
const inspector = await new Promise((resolve, reject) => {
  const probe = createServer().once("error", reject);
  probe.listen(0, "127.0.0.1", () => {
    const { port: free } = probe.address();
    probe.close(() => resolve(free));
  });
});
const args = ["dev", "--ip", "127.0.0.1", "--port", String(port), "--inspector-port", String(inspector), "--persist-to", persist, "--show-interactive-dev-session=false", ...envFiles];
const child = spawn(join(root, "node_modules", ".bin", "wrangler"), args, {
  cwd: root,
  stdio: ["ignore", "pipe", "pipe"],
  env: { WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_HIDE_BANNER: "true", ...process.env },
});

let announced = false;
child.stdout.on("data", (data) => {
  process.stdout.write(data);
  if (!announced && /Ready on/.test(String(data))) {
    announced = true;
    const base = `http://127.0.0.1:${port}`;
    const target = seen.MLFLOW_TRACKING_URI ? `forwarding to MLflow at ${masked(seen.MLFLOW_TRACKING_URI)}` : "traces kept in the local buffer (set MLFLOW_TRACKING_URI to forward)";
    const model = provider ? `model: ${seen.OPENAI_MODEL || "gpt-4o-mini"} at ${masked(seen.OPENAI_BASE_URL)}` : "model: the built-in demo-mini (set OPENAI_BASE_URL and OPENAI_API_KEY for a real one)";
    console.log(`\nmlflow-edge demo: ${base}\n  chat:   ${base}/\n  traces: ${base}/traces\n  ${target}\n  ${model}\n`);
  }
});
// wrangler's own message for a taken port says "--port", which npm start sets itself from PORT.
// Another address taken (the inspector's, by a program that started meanwhile) is not PORT's fault.
let portInUse = false;
let otherInUse = "";
child.stderr.on("data", (data) => {
  process.stderr.write(data);
  const taken = /Address already in use \(([^)]*)\)/i.exec(String(data));
  if (taken && taken[1].endsWith(`:${port}`)) portInUse = true;
  else if (taken || /Address already in use/i.test(String(data))) otherInUse ||= taken?.[1] ?? "an address";
});
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(signal, () => child.kill(signal));
child.on("exit", (code, signal) => {
  if (portInUse) console.error(`\nPort ${port} is in use. npm start takes its port from PORT: PORT=${port === 65535 ? 8788 : port + 1} npm start`);
  else if (otherInUse) console.error(`\n${otherInUse} was taken while the demo started (not PORT): run npm start again.`);
  process.exit(code ?? (signal ? 1 : 0));
});
