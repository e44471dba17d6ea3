// The only place core writes to the console. Tracing must never break or flood the host program:
// every diagnostic is emitted at most once per key, and SDK faults are reported, never thrown.

const warned = new Set<string>();
let diagnosticsOff = false;

/** Turns diagnostics off (`init({ silent: true })`) or back on. */
export function setSilent(value: boolean): void {
  diagnosticsOff = value;
}

declare const process: { env: Record<string, string | undefined> };

/**
 * True unless the host declared a production build (`process.env.NODE_ENV === "production"`).
 * Written out as `process.env.NODE_ENV` so a bundler's define (Vite's build, webpack, esbuild's
 * `define`) replaces it in a browser bundle, where there is no `process` at all.
 */
export function isDev(): boolean {
  try {
    return process.env.NODE_ENV !== "production";
  } catch {
    return true; // no process and no define: a browser in development
  }
}

/** Prints `message` once per `key` for the life of the process. */
export function warnOnce(key: string, message: string): void {
  if (diagnosticsOff || warned.has(key)) return;
  warned.add(key);
  console.warn(`[mlflow-edge] ${message}`);
}

/**
 * A thrown value as text, never throwing itself: user code (a hook, a reducer, an exporter) may
 * throw anything, also a value `String()` refuses (a null-prototype object, a revoked Proxy).
 * `named`: an Error as "Name: message" rather than its message alone.
 */
export function errorText(error: unknown, named = false): string {
  try {
    return error instanceof Error ? (named ? `${error.name}: ${error.message}` : String(error.message)) : String(error);
  } catch {
    try {
      return Object.prototype.toString.call(error);
    } catch {
      return "a value that cannot be shown";
    }
  }
}

/** A value the user passed, for a warning: as JSON where it can be, else as `errorText` shows it (a BigInt, a cycle, a revoked Proxy). */
export function shownValue(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return errorText(value);
  }
}

/** Reports a fault inside the SDK once per `where`; the user's program carries on untouched. */
export function reportSdkError(where: string, error: unknown): void {
  const detail = errorText(error, true);
  warnOnce(`sdk-error:${where}`, `internal error in ${where} (tracing continues, your code is unaffected): ${detail}`);
}

const exportErrorKinds = new Set<string>();

/**
 * Reports a trace the exporter could not hand on: once per kind of failure (its error's name and
 * HTTP status), so a later, different one (a 403 after a 500, an experiment deleted) is still said.
 */
export function reportExportError(error: unknown): void {
  let kind = "";
  let status: unknown;
  try {
    const { name } = error as { name?: unknown };
    status = (error as { status?: unknown }).status;
    kind = `${typeof name === "string" ? name.slice(0, 40) : ""}:${typeof status === "number" ? status : ""}`;
  } catch {
    // a value that cannot be read: one kind
  }
  // At most a few kinds are told apart (an exporter whose errors differ every time says a dozen, not
  // one per trace); a refusal of the configuration (401, 403, 404) always is.
  if (status === 401 || status === 403 || status === 404) kind = `refusal:${status}`;
  else if (!exportErrorKinds.has(kind)) kind = exportErrorKinds.size < 12 ? (exportErrorKinds.add(kind), kind) : "other";
  warnOnce(`export-error:${kind}`, `a trace could not be exported (tracing continues, your code is unaffected): ${errorText(error, true)}`);
}

/** Test hook: forget which warnings were already printed. */
export function resetWarnings(): void {
  warned.clear();
  exportErrorKinds.clear();
}
