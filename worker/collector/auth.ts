import { Refusal } from "./refusal.js";

// Who may send. Browsers use ingest keys: public (they ship in the page), each tied to the
// origins allowed to use it, so a key copied to another site is refused by the browser's own
// Origin header. Servers (other Workers, batch jobs) use the collector secret, a Worker secret
// sent as `Authorization: Bearer`, with no origin check. MLflow's credentials are a separate
// matter: they stay in the buffer's env and no route returns them.

export interface IngestKey {
  key: string;
  /** Allowed `Origin`s: exact origins (`https://app.example.com`), `"self"` (the collector's own origin) or `"*"`. */
  origins: string[];
}

export type Caller = { kind: "key"; key: string } | { kind: "secret" } | { kind: "open" };

const ORIGIN = /^https?:\/\/[^/\s]+$/;
/** What a 401 for a bearer token answers (HTTP requires a challenge on every 401 it can name). */
export const BEARER_CHALLENGE = { "www-authenticate": 'Bearer realm="mlflow-edge collector"' };
/** The challenge for the ingest key, a header of its own (`x-mlflow-edge-key`), not an Authorization scheme. */
const KEY_CHALLENGE = 'MLflow-Edge-Key realm="mlflow-edge collector", header="x-mlflow-edge-key"';
/**
 * Whether a credential reaches the collector as written from any client: printable ASCII, not
 * starting or ending with a space (spaces around a header value are dropped; other characters are
 * refused or re-encoded on the way). Ingest keys and the secret alike.
 */
export const headerCarries = (credential: string): boolean => /^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$/.test(credential);

/** Parses the `INGEST_KEYS` variable (JSON) or checks keys given in code. */
export function parseIngestKeys(value: unknown, source = "ingestKeys"): IngestKey[] {
  let list = value;
  if (typeof value === "string") {
    try {
      list = JSON.parse(value);
    } catch {
      throw new TypeError(`${source} must be JSON like [{"key":"pk-…","origins":["https://app.example.com"]}].`);
    }
  }
  if (!Array.isArray(list)) throw new TypeError(`${source} must be an array of {key, origins}.`);
  return list.map((entry, i) => {
    const k = (entry as { key?: unknown })?.key;
    const origins = (entry as { origins?: unknown })?.origins;
    if (typeof k !== "string" || k.length < 8) throw new TypeError(`${source}[${i}].key must be a string of at least 8 characters.`);
    // Taken as written, such a key would be refused as unknown on every request, for no visible reason.
    if (!headerCarries(k)) {
      throw new TypeError(`${source}[${i}].key must be printable ASCII with no space at either end: the x-mlflow-edge-key header cannot carry it as written (spaces around a header value are dropped; other characters are refused or re-encoded on the way), so it would never match.`);
    }
    if (!Array.isArray(origins) || origins.length === 0) throw new TypeError(`${source}[${i}].origins must be a non-empty array.`);
    for (const o of origins) {
      if (typeof o !== "string" || !(o === "*" || o === "self" || (ORIGIN.test(o) && !o.includes("*")))) {
        throw new TypeError(`${source}[${i}].origins: ${JSON.stringify(o)} is not "*", "self" or an origin like "https://app.example.com" (no wildcards within one: list each origin).`);
      }
      // Compared as browsers write Origin: lower-case host, no default port, nothing after the host.
      const written = o === "*" || o === "self" ? o : canonicalOrigin(o);
      if (written !== o) {
        throw new TypeError(`${source}[${i}].origins: ${JSON.stringify(o)} never matches a browser's Origin header${written ? `, which reads ${JSON.stringify(written)}` : ""}.`);
      }
    }
    return { key: k, origins: origins as string[] };
  });
}

/** `origin` as a browser's Origin header writes it, or "" when it is not one. */
function canonicalOrigin(origin: string): string {
  try {
    return new URL(origin).origin;
  } catch {
    return "";
  }
}

/** Compares secrets without leaking where they differ through timing. */
export function sameSecret(given: string, expected: string): boolean {
  // UTF-16 code units, not UTF-8 bytes: encoding writes every lone surrogate as the same U+FFFD,
  // which made two different texts equal. As many steps as the caller sent characters, whatever
  // the secret's length (a loop to the longer of the two told the secret's length by its time).
  let diff = given.length ^ expected.length;
  for (let i = 0; i < given.length; i++) diff |= given.charCodeAt(i) ^ (expected.charCodeAt(i % (expected.length || 1)) || 0);
  return diff === 0;
}

export function originAllowed(origin: string, allowed: readonly string[], self: string): boolean {
  return allowed.some((a) => a === "*" || a === origin || (a === "self" && origin === self));
}

export interface AuthSettings {
  keys: IngestKey[];
  secret: string | undefined;
  /** A secret is configured, read or not (a page's request, with no Authorization, does not read it). */
  secretSet: boolean;
}

/**
 * What a 401 answers in `WWW-Authenticate`, as HTTP asks: the credentials this collector takes, the
 * ingest key header (a scheme of its own, as the key is not sent in Authorization) when it has
 * keys, Bearer when it has a secret. Built for a refusal only, not for every request let in.
 */
function challenge(auth: AuthSettings): Record<string, string> {
  const schemes = [...(auth.keys.length ? [KEY_CHALLENGE] : []), ...(auth.secretSet ? [BEARER_CHALLENGE["www-authenticate"]] : [])];
  return { "www-authenticate": schemes.join(", ") };
}

/**
 * Who is sending. With neither keys nor a secret configured the collector is open (a local demo):
 * every request is taken, and a key or bearer token it carries is ignored, as there is nothing to
 * check it against (a page or exporter configured for a deployment still works against a local
 * collector). Otherwise a request needs a known key whose origins include its Origin, or the secret.
 */
export function authenticate(headers: Headers, selfOrigin: string, auth: AuthSettings): Caller {
  if (auth.keys.length === 0 && !auth.secret) return { kind: "open" };
  const bearer = /^Bearer\s+(.+)$/i.exec(headers.get("authorization") ?? "")?.[1]?.trim();
  if (bearer !== undefined) {
    if (auth.secret && sameSecret(bearer, auth.secret)) return { kind: "secret" };
    throw new Refusal(401, "the Authorization bearer token is not this collector's secret", "", "server senders use COLLECTOR_SECRET; browsers use an ingest key", { ...BEARER_CHALLENGE });
  }
  const given = headers.get("x-mlflow-edge-key");
  if (given === null) {
    if (!auth.keys.length) throw new Refusal(401, "missing credentials", "", "send Authorization: Bearer <COLLECTOR_SECRET> (this collector has no ingest keys)", challenge(auth));
    throw new Refusal(401, "missing ingest key", "", "send the x-mlflow-edge-key header (initBrowser({ ingestKey }))", challenge(auth));
  }
  // Every entry is compared (no early exit), and a key listed twice, for two sites, may be used
  // from the origins of both entries, as the preflight already allows.
  const entries = auth.keys.filter((k) => sameSecret(given, k.key));
  if (entries.length === 0) throw new Refusal(401, "unknown ingest key", "", auth.keys.length ? "check the key configured in INGEST_KEYS" : "this collector has no ingest keys: server senders use Authorization: Bearer <COLLECTOR_SECRET>", challenge(auth));
  const origins = entries.flatMap((k) => k.origins);
  const origin = headers.get("origin");
  // A browser always sends Origin on these requests (POST, non-simple); its absence means a
  // non-browser client, which may use the key only if the key is not origin-bound.
  if (origin === null ? !origins.includes("*") : !originAllowed(origin, origins, selfOrigin)) {
    throw new Refusal(403, `origin ${origin ?? "(none)"} may not use this ingest key`, "", "add the origin to the key's origins in INGEST_KEYS");
  }
  return { kind: "key", key: entries[0]!.key };
}
