#!/usr/bin/env node
// `npm test`: what CI runs and what a newcomer runs. Builds dist/, type-checks (core alone, without Node or DOM
// types, the browser runtime with DOM types only, Worker code with Workers types, then everything),
// runs every vitest project
// (core unit tests, tests inside workerd, and the MLflow tests against a real server started by
// scripts/mlflow-server.sh), then the Playwright browser tests, and prints one closing line:
// "N passed, N failed" (", N skipped" when any were skipped). Exit code 0 only if all passed.
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";

const root = join(import.meta.dirname, "..");
const bin = (name) => join(root, "node_modules", ".bin", name);
// TypeScript 7's own tsc, by path: node_modules/.bin/tsc may be TypeScript 5's (typescript5, for a
// test), which an `npm install` that adds it links over the other.
const tsc = join(root, "node_modules", "typescript", "bin", "tsc");
const tmp = join(root, ".tmp");
mkdirSync(tmp, { recursive: true });

const totals = { passed: 0, failed: 0, skipped: 0 };
const stages = [];

function run(label, cmd, args, env = {}) {
  console.log(`\n== ${label}: ${[cmd, ...args].map((a) => a.replace(root + "/", "")).join(" ")}`);
  const r = spawnSync(cmd, args, { cwd: root, stdio: "inherit", env: { ...process.env, ...env } });
  const ok = r.status === 0;
  stages.push({ label, ok });
  return ok;
}

// The package as apps get it (dist/): the package-name imports in the tests resolve to it.
if (!run("build", process.execPath, [join(root, "scripts", "build.mjs")])) totals.failed++;

for (const project of ["tsconfig.core.json", "tsconfig.browser.json", "tsconfig.worker.json", "tsconfig.json"]) {
  const ok = run(`typecheck ${project}`, tsc, ["-p", project]);
  if (ok) totals.passed++;
  else totals.failed++;
}

const report = join(tmp, "vitest-report.json");
rmSync(report, { force: true });
run("vitest", bin("vitest"), ["run", "--reporter=default", "--reporter=json", `--outputFile.json=${report}`]);
try {
  const json = JSON.parse(readFileSync(report, "utf8"));
  totals.passed += json.numPassedTests;
  totals.failed += json.numFailedTests + (json.numFailedTestSuites > 0 && json.numFailedTests === 0 ? json.numFailedTestSuites : 0);
  totals.skipped += json.numPendingTests + json.numTodoTests;
  if (json.numTotalTests === 0) totals.failed++; // a run that executed nothing is a failure
} catch {
  console.error("vitest wrote no report: counting the whole run as failed");
  totals.failed++;
}

// Browser tests: Playwright driving Debian's Chromium (scripts/chromium.sh installs it).
const pwReport = join(tmp, "playwright-report.json");
rmSync(pwReport, { force: true });
run("playwright", bin("playwright"), ["test"], { PW_JSON_REPORT: pwReport });
try {
  const stats = JSON.parse(readFileSync(pwReport, "utf8")).stats;
  totals.passed += stats.expected;
  totals.failed += stats.unexpected + stats.flaky;
  totals.skipped += stats.skipped;
  if (stats.expected + stats.unexpected + stats.flaky === 0) totals.failed++;
} catch {
  console.error("playwright wrote no report: counting the whole run as failed");
  totals.failed++;
}

console.log("\n== summary");
for (const s of stages) console.log(`${s.ok ? "ok  " : "FAIL"} ${s.label}`);
const skipped = totals.skipped ? `, ${totals.skipped} skipped` : "";
console.log(`${totals.passed} passed, ${totals.failed} failed${skipped}`);
process.exit(totals.failed === 0 && stages.every((s) => s.ok) ? 0 : 1);
