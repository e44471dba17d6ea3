import type { MiddlewareHandler } from "hono";
import { INGEST_KEY_HEADER } from "../../core/export/ingest-format.js";
import { originAllowed, type IngestKey } from "./auth.js";
import { Refusal } from "./refusal.js";

// CORS for the ingest routes, and only for origins some ingest key allows (plus the collector's
// own). The preflight answers exactly what docs/ingest-protocol.md lists; every answer to an
// allowed origin exposes Retry-After, which is not CORS-safelisted and which the browser client
// needs after a 429 or 503. The allowed origin is echoed, never `*`, and credentials are never
// allowed: ingest keys travel in a header, not in cookies.

export const PREFLIGHT_HEADERS = `content-type, ${INGEST_KEY_HEADER}`;

export function corsForIngest(keysOf: (c: Parameters<MiddlewareHandler>[0]) => IngestKey[]): MiddlewareHandler {
  return async (c, next) => {
    const origin = c.req.header("origin");
    const self = new URL(c.req.url).origin;
    /** The origin, when it may have CORS. */
    let allowed: string | undefined;
    try {
      if (origin !== undefined && (origin === self || keysOf(c).some((k) => originAllowed(origin, k.origins, self)))) allowed = origin;
    } catch (error) {
      // INGEST_KEYS cannot be read: its 503 too depends on Origin (the collector's own pages got CORS).
      if (error instanceof Refusal) error.headers.vary = "Origin";
      throw error;
    }
    if (c.req.method === "OPTIONS") {
      if (allowed === undefined) {
        throw new Refusal(403, `origin ${origin ?? "(none)"} is not allowed to send traces here`, "", "add the origin to an ingest key's origins (INGEST_KEYS)", { vary: "Origin" });
      }
      return c.body(null, 204, {
        "access-control-allow-origin": allowed,
        "access-control-allow-methods": "POST",
        "access-control-allow-headers": PREFLIGHT_HEADERS,
        "access-control-max-age": "86400",
        vary: "Origin",
      });
    }
    await next();
    // Caches must not serve one origin's answer (with or without CORS headers) to another.
    c.res.headers.append("vary", "Origin");
    if (allowed !== undefined) {
      c.res.headers.set("access-control-allow-origin", allowed);
      c.res.headers.set("access-control-expose-headers", "retry-after");
    }
    return undefined;
  };
}
