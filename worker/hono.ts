import type { Env as HonoEnv, MiddlewareHandler } from "hono";
import { matchedRoutes } from "hono/route";
import { ensureTracing, validateWorkerOptions, type WorkerTracingOptions } from "./instrument.js";
import { requestSpan, traceRequest } from "./request-span.js";

// The Hono flavour of instrument(): one root span per request, named by the matched route
// (`GET /posts/:id`, not the raw path, so traces group by endpoint), joined to the caller's trace.

/**
 * @example
 * const app = new Hono<{ Bindings: Env }>();
 * app.use(mlflowTracing());
 */
export function mlflowTracing<E extends HonoEnv = HonoEnv>(options: WorkerTracingOptions<E["Bindings"]> = {}): MiddlewareHandler<E> {
  validateWorkerOptions(options, "mlflowTracing");
  return async (c, next) => {
    const { tracker } = ensureTracing(c.env, options);
    let waitUntil: ((p: Promise<unknown>) => void) | undefined;
    try {
      const ctx = c.executionCtx;
      waitUntil = (p) => ctx.waitUntil(p);
    } catch {
      // No ExecutionContext (app.request() in a test, a non-Workers adapter): nothing to extend.
    }
    // The endpoint's own route: the last matched one registered for a method, not a middleware
    // pattern such as `/api/*` that happens to match too.
    const routes = matchedRoutes(c);
    const route = ([...routes].reverse().find((r) => r.method !== "ALL") ?? routes[routes.length - 1])?.path || undefined;
    const response = await traceRequest(
      c.req.raw,
      route,
      tracker,
      waitUntil,
      async () => {
        await next();
        // Hono turns a thrown error into a 500 through onError; keep the exception on the span.
        if (c.error) requestSpan(c.req.raw)?.recordException(c.error);
        return c.res;
      },
      options,
    );
    c.res = response;
  };
}
