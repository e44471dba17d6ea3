// Names and values exactly as MLflow defines them (mlflow/entities/span.py, core/constants.ts of the
// TS SDK). SpanType lists Python's full set; any other string is a valid custom type, as in MLflow.

// The values the SDK itself writes and compares, as constants of their own: a bundle keeps an
// object below whole once anything reads a property of it, so the span model reads these instead,
// and an app that never imports the objects does not carry them. (Same values as the objects'.)
export const SPAN_TYPE_UNKNOWN = "UNKNOWN";
export const STATUS_UNSET = "STATUS_CODE_UNSET";
export const STATUS_OK = "STATUS_CODE_OK";
export const STATUS_ERROR = "STATUS_CODE_ERROR";
export const ATTR_REQUEST_ID = "mlflow.traceRequestId";
export const ATTR_SPAN_TYPE = "mlflow.spanType";
export const ATTR_INPUTS = "mlflow.spanInputs";
export const ATTR_OUTPUTS = "mlflow.spanOutputs";
export const ATTR_FUNCTION_NAME = "mlflow.spanFunctionName";
export const ATTR_TOKEN_USAGE = "mlflow.chat.tokenUsage";
export const META_SCHEMA_VERSION = "mlflow.trace_schema.version";
export const META_INPUTS = "mlflow.traceInputs";
export const META_OUTPUTS = "mlflow.traceOutputs";
export const META_TOKEN_USAGE = "mlflow.trace.tokenUsage";
export const META_SIZE_STATS = "mlflow.trace.sizeStats";
export const META_SIZE_BYTES = "mlflow.trace.sizeBytes";
export const META_SESSION = "mlflow.trace.session";
export const META_USER = "mlflow.trace.user";
export const TAG_TRACE_NAME = "mlflow.traceName";

export const SpanType = {
  LLM: "LLM",
  CHAIN: "CHAIN",
  AGENT: "AGENT",
  TOOL: "TOOL",
  CHAT_MODEL: "CHAT_MODEL",
  RETRIEVER: "RETRIEVER",
  PARSER: "PARSER",
  EMBEDDING: "EMBEDDING",
  RERANKER: "RERANKER",
  MEMORY: "MEMORY",
  WORKFLOW: "WORKFLOW",
  TASK: "TASK",
  GUARDRAIL: "GUARDRAIL",
  EVALUATOR: "EVALUATOR",
  UNKNOWN: SPAN_TYPE_UNKNOWN,
} as const;
/** A built-in span type, or any custom string (MLflow accepts both). */
export type SpanType = (typeof SpanType)[keyof typeof SpanType] | (string & {});

export const SpanStatusCode = {
  UNSET: STATUS_UNSET,
  OK: STATUS_OK,
  ERROR: STATUS_ERROR,
} as const;
export type SpanStatusCode = (typeof SpanStatusCode)[keyof typeof SpanStatusCode];

export const TraceState = {
  STATE_UNSPECIFIED: "STATE_UNSPECIFIED",
  OK: "OK",
  ERROR: "ERROR",
  IN_PROGRESS: "IN_PROGRESS",
} as const;
export type TraceState = (typeof TraceState)[keyof typeof TraceState];

/**
 * Reserved span attribute keys (Python's SpanAttributeKey under Python's names, and the TS SDK's
 * names for the same keys: TRACE_ID = REQUEST_ID, TOKEN_USAGE = CHAT_USAGE).
 */
export const SpanAttributeKey = {
  REQUEST_ID: ATTR_REQUEST_ID,
  TRACE_ID: ATTR_REQUEST_ID,
  EXPERIMENT_ID: "mlflow.experimentId",
  SPAN_TYPE: ATTR_SPAN_TYPE,
  INPUTS: ATTR_INPUTS,
  OUTPUTS: ATTR_OUTPUTS,
  FUNCTION_NAME: ATTR_FUNCTION_NAME,
  CHAT_TOOLS: "mlflow.chat.tools",
  CHAT_USAGE: ATTR_TOKEN_USAGE,
  TOKEN_USAGE: ATTR_TOKEN_USAGE,
  MODEL: "mlflow.llm.model",
  MODEL_PROVIDER: "mlflow.llm.provider",
  MESSAGE_FORMAT: "mlflow.message.format",
  SESSION_ID: "session.id",
  USER_ID: "user.id",
} as const;

/** Reserved trace metadata keys (TraceMetadataKey; TRACE_SESSION/TRACE_USER are the TS SDK's names). */
export const TraceMetadataKey = {
  SCHEMA_VERSION: META_SCHEMA_VERSION,
  INPUTS: META_INPUTS,
  OUTPUTS: META_OUTPUTS,
  TOKEN_USAGE: META_TOKEN_USAGE,
  SIZE_STATS: META_SIZE_STATS,
  SIZE_BYTES: META_SIZE_BYTES,
  SESSION: META_SESSION,
  USER: META_USER,
  TRACE_SESSION: META_SESSION,
  TRACE_USER: META_USER,
  SOURCE_RUN: "mlflow.sourceRun",
  MODEL_ID: "mlflow.modelId",
} as const;

/** Reserved trace tag keys (TraceTagKey). */
export const TraceTagKey = {
  TRACE_NAME: TAG_TRACE_NAME,
  MLFLOW_ARTIFACT_LOCATION: "mlflow.artifactLocation",
} as const;

/** Keys of a token usage record (`mlflow.chat.tokenUsage`), as MLflow names them. */
export const TokenUsageKey = {
  INPUT_TOKENS: "input_tokens",
  OUTPUT_TOKENS: "output_tokens",
  TOTAL_TOKENS: "total_tokens",
  CACHE_READ_INPUT_TOKENS: "cache_read_input_tokens",
  CACHE_CREATION_INPUT_TOKENS: "cache_creation_input_tokens",
} as const;

export const TRACE_SCHEMA_VERSION = "3";
export const TRACE_ID_PREFIX = "tr-";
export const DEFAULT_SPAN_NAME = "span";
/** MLflow OSS cuts request/response previews to this many characters (DB column String(1000)). */
export const PREVIEW_MAX_LENGTH = 1000;
/** Python truncates mlflow.traceInputs/Outputs metadata to this many characters. */
export const METADATA_PREVIEW_MAX_LENGTH = 250;
/** Chunk events of stream spans: `mlflow.chunk.item.{i}` with attribute `mlflow.chunk.value`. */
export const CHUNK_EVENT_PREFIX = "mlflow.chunk.item.";
export const CHUNK_VALUE_KEY = "mlflow.chunk.value";
/** The span attribute counting a stream's chunks not kept as events (core/api/stream.ts, core/export/fit.ts). */
export const OMITTED_CHUNKS = "chunks.omitted";
