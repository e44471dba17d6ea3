/**
 * mlflow-edge/openai: auto-tracing for the official `openai` client, in browsers, Workers and Node.
 * @example
 * import OpenAI from "openai";
 * import { tracedOpenAI } from "mlflow-edge/openai";
 * const client = tracedOpenAI(new OpenAI());
 * @module
 */
export { tracedOpenAI } from "./traced.js";
export type { TracedOpenAIOptions } from "./traced.js";
export { aggregateChatChunks, aggregateResponseEvents, tokenUsage } from "./aggregate.js";
export type { TokenUsage } from "../core/model/types.js";
