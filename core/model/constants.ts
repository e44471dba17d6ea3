// Names and values exactly as MLflow defines them (mlflow/entities/span.py, core/constants.ts of the
// TS SDK). SpanType lists Python's full set; any other string is a valid custom type, as in MLflow.

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
  UNKNOWN: "UNKNOWN",
} as const;
/** A built-in span type, or any custom string (MLflow accepts both). */
export type SpanType = (typeof SpanType)[keyof typeof SpanType] | (string & {});

export const SpanStatusCode = {
  UNSET: "STATUS_CODE_UNSET",
  OK: "STATUS_CODE_OK",
  ERROR: "STATUS_CODE_ERROR",
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
  REQUEST_ID: "mlflow.traceRequestId",
  TRACE_ID: "mlflow.traceRequestId",
  EXPERIMENT_ID: "mlflow.experimentId",
  SPAN_TYPE: "mlflow.spanType",
  INPUTS: "mlflow.spanInputs",
  OUTPUTS: "mlflow.spanOutputs",
  FUNCTION_NAME: "mlflow.spanFunctionName",
  CHAT_TOOLS: "mlflow.chat.tools",
  CHAT_USAGE: "mlflow.chat.tokenUsage",
  TOKEN_USAGE: "mlflow.chat.tokenUsage",
  MODEL: "mlflow.llm.model",
  MODEL_PROVIDER: "mlflow.llm.provider",
  MESSAGE_FORMAT: "mlflow.message.format",
  SESSION_ID: "session.id",
  USER_ID: "user.id",
} as const;

/** Reserved trace metadata keys (TraceMetadataKey; TRACE_SESSION/TRACE_USER are the TS SDK's names). */
export const TraceMetadataKey = {
  SCHEMA_VERSION: "mlflow.trace_schema.version",
  INPUTS: "mlflow.traceInputs",
  OUTPUTS: "mlflow.traceOutputs",
  TOKEN_USAGE: "mlflow.trace.tokenUsage",
  SIZE_STATS: "mlflow.trace.sizeStats",
  SIZE_BYTES: "mlflow.trace.sizeBytes",
  SESSION: "mlflow.trace.session",
  USER: "mlflow.trace.user",
  TRACE_SESSION: "mlflow.trace.session",
  TRACE_USER: "mlflow.trace.user",
  SOURCE_RUN: "mlflow.sourceRun",
  MODEL_ID: "mlflow.modelId",
} as const;

/** Reserved trace tag keys (TraceTagKey). */
export const TraceTagKey = {
  TRACE_NAME: "mlflow.traceName",
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
