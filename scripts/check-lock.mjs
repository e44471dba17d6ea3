// Fails when `npm install` had to change package-lock.json, beyond one thing: optional
// platform-specific builds (rollup's @rollup/rollup-<os>-<cpu>, entries with "os" or "cpu") that
// the registry a machine reaches may or may not list. Those are never installed off their platform,
// so whether the lockfile names them changes nothing that runs here.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";

const committed = JSON.parse(execFileSync("git", ["show", "HEAD:package-lock.json"], { encoding: "utf8", maxBuffer: 64 << 20 }));
const installed = JSON.parse(readFileSync("package-lock.json", "utf8"));

const platformBuild = (entry) => entry?.optional === true && (Array.isArray(entry.os) || Array.isArray(entry.cpu));
const stable = (value) => JSON.stringify(value, (_, v) => (v && typeof v === "object" && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : 1))) : v));

const problems = [];
for (const key of Object.keys(committed)) {
  if (key !== "packages" && stable(committed[key]) !== stable(installed[key])) problems.push(`top-level "${key}" changed`);
}
for (const key of Object.keys(installed)) if (!(key in committed)) problems.push(`top-level "${key}" added`);
const before = committed.packages ?? {};
const after = installed.packages ?? {};
for (const name of new Set([...Object.keys(before), ...Object.keys(after)])) {
  const a = before[name];
  const b = after[name];
  if (a === undefined && platformBuild(b)) continue;
  if (b === undefined && platformBuild(a)) continue;
  if (a === undefined) problems.push(`added: ${name || "(root)"}`);
  else if (b === undefined) problems.push(`removed: ${name || "(root)"}`);
  else if (stable(a) !== stable(b)) problems.push(`changed: ${name || "(root)"}`);
}
if (problems.length > 0) {
  console.error(`package-lock.json is out of date with package.json (npm install changed it):\n  ${problems.join("\n  ")}\nRun npm install and commit the lockfile.`);
  process.exit(1);
}
console.log("package-lock.json: npm install kept it (platform builds aside)");
