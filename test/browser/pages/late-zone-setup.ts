// Set up in "auto" mode before zone.js is imported (see late-zone.ts): the stack is chosen.
import * as mlflow from "../../../core/index.js";
import { createBrowserContextManager } from "../../../browser/index.js";
export const exporter = new mlflow.InMemoryExporter();
export const chosen = createBrowserContextManager("auto");
mlflow.init({ exporter, contextManager: chosen, dedupeSpanNames: false });
