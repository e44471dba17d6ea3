// The core project's tests that import mlflow-edge by its package name (exports.test.ts,
// package.test.ts) read dist/: build it from the current sources first.
import { execFileSync } from "node:child_process";
import { join } from "node:path";

export default function setup(): void {
  execFileSync(process.execPath, [join(import.meta.dirname, "..", "..", "scripts", "build.mjs")], { stdio: "inherit" });
}
