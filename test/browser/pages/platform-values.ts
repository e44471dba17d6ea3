// DOM values a traced UI handler receives, captured in Chromium: the event and its target as short
// labels, never a walk through the element's expando keys (a UI framework hangs its tree there).
import * as mlflow from "../../../core/index.js";

async function run() {
  const exporter = new mlflow.InMemoryExporter();
  mlflow.init({ exporter, contextManager: new mlflow.StackContextManager() });
  const button = document.createElement("button");
  button.id = "send";
  // What React puts on every element it renders: a key into its fiber tree (big, cyclic).
  const fiber: Record<string, unknown> = { memoizedProps: { children: "x".repeat(10_000) } };
  fiber.return = { child: fiber, stateNode: document.body };
  (button as unknown as Record<string, unknown>).__reactFiber$abc = fiber;
  document.body.append(button);
  const onSend = mlflow.trace(function onSend(event: MouseEvent) { return { at: event.target }; });
  button.addEventListener("click", onSend);
  button.click();
  const onResize = mlflow.trace(function onResize(event: Event) { return event.target; });
  window.addEventListener("resize", onResize, { once: true });
  window.dispatchEvent(new Event("resize"));
  button.remove();
  await mlflow.flushTraces();
  return exporter.traces.map((t) => ({ inputs: t.data.spans[0]!.inputs, outputs: t.data.spans[0]!.outputs }));
}
Object.assign(globalThis, { runPlatformValues: run });
