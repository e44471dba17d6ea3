import type { Context, Env as HonoEnv, MiddlewareHandler } from "hono";
import { matchedRoutes } from "hono/route";
import { reportSdkError } from "../core/debug.js";
import type { LiveSpan } from "../core/model/live-span.js";
import { ensureTracing, validateWorkerOptions, type WorkerTracingOptions } from "./instrument.js";
import { enclosingSpan, holdingContext, holdMsFor, leaveOut, runtimeWaitUntil, traceRequest } from "./request-span.js";

// The Hono flavour of instrument(): one root span per request, named by the matched route
// (`GET /posts/:id`, not the raw path, so traces group by endpoint), joined to the caller's trace.

type RouteLike = { method: string; path: string };

/**
 * The endpoint's own route: the last matched one registered for a method, not a middleware
 * pattern such as `/api/*` that happens to match too. `hono/route` reads the match through a
 * symbol private to its copy of Hono, so it throws for an app built on another copy (npm installs
 * one when the versions differ); that copy's own (deprecated) `c.req.matchedRoutes` still answers.
 * Failing both, the span is named by the raw path.
 */
function matchedRoute(c: Context, settled = false): string | undefined {
  let routes: readonly RouteLike[] | undefined;
  try {
    routes = matchedRoutes(c);
  } catch {
    try {
      routes = (c.req as unknown as { matchedRoutes?: readonly RouteLike[] }).matchedRoutes;
    } catch {
      routes = undefined;
    }
  }
  if (!Array.isArray(routes)) return undefined;
  const valid = routes.filter((r): r is RouteLike => typeof r?.path === "string" && typeof r.method === "string");
  const route = [...valid].reverse().find((r) => r.method !== "ALL");
  if (route) return route.path || undefined;
  // Only ALL patterns matched: an app.all() route, or middleware (app.use) around a request no
  // route took. Told apart once the response is known (`settled`): a 404 is the latter as a rule
  // (a probe, a typo), named by its path, with no route.
  return settled && c.res.status !== 404 ? valid[valid.length - 1]?.path || undefined : undefined;
}

const recorded = new WeakSet<Context>();

/**
 * Hono turns a thrown error into a 500 through onError; keep the exception on the span. An error
 * answered with a 4xx (bearerAuth's 401, a validation error an onError maps to 400) is the app
 * saying no, not failing: its event is kept, and, as with instrument(), only a 5xx makes the
 * request an error.
 */
function keepError(span: LiveSpan, c: Context): void {
  // Once per request: an app's layer and a sub-app's see the same Context and error.
  if (!c.error || recorded.has(c)) return;
  recorded.add(c);
  span._recordException(c.error, c.res.status >= 500);
}

/**
 * An outer layer (instrument(), or this middleware on the app around a sub-app) named the span by
 * the path: the matched route, this layer's spanName and spanType say more.
 */
function describeRequestSpan(span: LiveSpan, c: Context, options: Pick<WorkerTracingOptions<never>, "spanName" | "spanType">, settled = false): void {
  try {
    const route = matchedRoute(c, settled);
    if (route && span.attributes["http.route"] === undefined) {
      span.setAttribute("http.route", route);
      if (span.name === `${c.req.method} ${new URL(c.req.url).pathname}`) span._rename(options.spanName?.(c.req.raw, route) ?? `${c.req.method} ${route}`);
    }
    if (options.spanType) span.setSpanType(options.spanType);
  } catch (error) {
    reportSdkError("mlflowTracing", error);
  }
}

/**
 * @example
 * const app = new Hono<{ Bindings: Env }>();
 * app.use(mlflowTracing());
 */
export function mlflowTracing<E extends HonoEnv = HonoEnv>(options: WorkerTracingOptions<E["Bindings"]> = {}): MiddlewareHandler<E> {
  validateWorkerOptions(options, "mlflowTracing");
  const holdMs = holdMsFor(options.exportDeadlineMs);
  return async (c, next) => {
    // The request is traced already (this middleware on an app and again on a sub-app routed into
    // it, or an instrument()ed Worker): its span covers this too, and learns what Hono knows.
    const outer = enclosingSpan(c.req.raw);
    if (outer) {
      // Its ignoreRequest still counts: any layer may leave the request out.
      leaveOut(outer, c.req.raw, options.ignoreRequest);
      describeRequestSpan(outer, c, options);
      await next();
      describeRequestSpan(outer, c, options, true); // an app.all() route, known by its answer
      keepError(outer, c);
      return;
    }
    const { tracker } = ensureTracing(c.env, options, "mlflowTracing");
    let waitUntil: ((p: Promise<unknown>) => void) | undefined;
    let ctx: Context["executionCtx"] | undefined;
    try {
      ctx = c.executionCtx;
      waitUntil = runtimeWaitUntil(ctx);
    } catch {
      // No ExecutionContext (app.request() in a test, a non-Workers adapter): nothing to extend.
    }
    const route = matchedRoute(c);
    const response = await traceRequest(
      c.req.raw,
      route,
      tracker,
      waitUntil,
      async (span) => {
        // As with instrument(): the handlers' c.executionCtx.waitUntil work keeps this trace open
        // (an own property of this request's Context, over Hono's getter).
        if (span && ctx) {
          try {
            Object.defineProperty(c, "executionCtx", { value: holdingContext(ctx, span, holdMs), configurable: true });
          } catch {
            // A Context that will not take it: waitUntil work after the response starts its own trace.
          }
        }
        await next();
        if (span) {
          if (!route) describeRequestSpan(span, c, options, true); // an app.all() route, known by its answer
          keepError(span, c);
        }
        return c.res;
      },
      options,
    );
    // (Hono's setter makes a new Response of the one given: the response handed back as the app
    // made it, one whose body was already used, must not go through that, which throws.)
    if (response !== c.res) c.res = response;
  };
}
