// Runs inside a dedicated Web Worker (where in-browser models such as WebLLM run): initBrowser and
// the tracing API with no document. The host page (worker-host.ts) relays its messages.
import * as mlflow from "../../../core/index.js";
import { initBrowser } from "../../../browser/index.js";

const tracing = initBrowser({ collectorUrl: location.origin, ingestKey: "site-key-1", retry: { baseMs: 100, maxMs: 1_000 } });
const generate = mlflow.trace(async function* generate(prompt: string) {
  for (const word of `local answer to ${prompt}`.split(" ")) yield word;
}, { spanType: mlflow.SpanType.LLM, outputReducer: (words: string[]) => words.join(" ") });

addEventListener("message", async (event: MessageEvent<{ prompt: string }>) => {
  try {
    const words: string[] = [];
    for await (const w of generate(event.data.prompt)) words.push(w);
    await tracing.flush();
    postMessage({ answer: words.join(" "), traceId: mlflow.getLastActiveTraceId(), stats: await tracing.stats() });
  } catch (error) {
    postMessage({ error: String(error) });
  }
});
postMessage({ ready: true });
