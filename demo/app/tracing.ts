// Tracing for the demo's pages, started as an app's pages each start it: the chat traces its
// agent; the Traces view traces nothing, but as a page of the site it sends what a chat tab left
// in the queue (a tab closed, or navigated from, before its last trace went out).
import { initBrowser, type BrowserTracing } from "../../browser/index.js";
import { getChatConfig, type ChatConfig } from "./traces-api.js";

/** Reads the settings the Worker is configured with (the model, the ingest key), then starts tracing. */
export async function startTracing(): Promise<{ tracing: BrowserTracing; config: ChatConfig }> {
  // Tried three times: a Worker reloading (wrangler dev after an edit) answers a moment later.
  const config = await getChatConfig()
    .catch(() => new Promise((resolve) => setTimeout(resolve, 500)).then(getChatConfig))
    .catch(() => new Promise((resolve) => setTimeout(resolve, 2_000)).then(getChatConfig));
  // No key: an open collector takes the page's traces as they are.
  const tracing = initBrowser({ collectorUrl: location.origin, ingestKey: config.ingestKey ?? undefined, propagateTo: [location.origin] });
  return { tracing, config };
}
