/// <reference types="@cloudflare/vitest-pool-workers/types" />
// Types of the test Worker (test/worker/fixture): what `wrangler types` would generate, kept by hand
// so the 500 KB generated file is not committed.
declare namespace Cloudflare {
  interface GlobalProps {
    mainModule: typeof import("./fixture/worker.js");
    durableNamespaces: "TraceBuffer" | "UnforwardedTraceBuffer" | "MisconfiguredTraceBuffer" | "SmallBatchTraceBuffer" | "QuickTraceBuffer" | "TracedCounter" | "TracedAgent" | "TracedFields" | "TwiceTraced" | "BoundHandlers" | "ReWrapped" | "StoreTokenTraceBuffer" | "MissingSecretTraceBuffer";
  }
  interface Env {
    TRACE_BUFFER: DurableObjectNamespace<import("./fixture/worker.js").TraceBuffer>;
    UNFORWARDED_BUFFER: DurableObjectNamespace<import("./fixture/worker.js").UnforwardedTraceBuffer>;
    MISCONFIGURED_BUFFER: DurableObjectNamespace<import("./fixture/worker.js").MisconfiguredTraceBuffer>;
    SMALL_BATCH_BUFFER: DurableObjectNamespace<import("./fixture/worker.js").SmallBatchTraceBuffer>;
    QUICK_BUFFER: DurableObjectNamespace<import("./fixture/worker.js").QuickTraceBuffer>;
    TRACED_COUNTER: DurableObjectNamespace<InstanceType<typeof import("./fixture/worker.js").TracedCounter>>;
    TRACED_AGENT: DurableObjectNamespace<import("./fixture/worker.js").TracedAgent>;
    TRACED_FIELDS: DurableObjectNamespace<InstanceType<typeof import("./fixture/worker.js").TracedFields>>;
    TWICE_TRACED: DurableObjectNamespace<InstanceType<typeof import("./fixture/worker.js").TwiceTraced>>;
    BOUND_HANDLERS: DurableObjectNamespace<InstanceType<typeof import("./fixture/worker.js").BoundHandlers>>;
    RE_WRAPPED: DurableObjectNamespace<import("./fixture/worker.js").ReWrapped>;
    STORE_TOKEN_BUFFER: DurableObjectNamespace<import("./fixture/worker.js").StoreTokenTraceBuffer>;
    MISSING_SECRET_BUFFER: DurableObjectNamespace<import("./fixture/worker.js").MissingSecretTraceBuffer>;
    STORE_COLLECTOR_SECRET: SecretsStoreSecret;
    STORE_MLFLOW_TOKEN: SecretsStoreSecret;
    STORE_MISSING_SECRET: SecretsStoreSecret;
    MLFLOW_TRACKING_URI: string;
    MLFLOW_EXPERIMENT_NAME: string;
    INGEST_KEYS: string;
  }
}
