// Starts worker-app.ts as a module Web Worker and hands its messages to the spec.
type Reply = { ready?: boolean; answer?: string; traceId?: string; error?: string };

function start(): Promise<(prompt: string) => Promise<Reply>> {
  const worker = new Worker("/bundle/worker-app.js", { type: "module" });
  const replies: ((r: Reply) => void)[] = [];
  worker.addEventListener("message", (e: MessageEvent<Reply>) => replies.shift()?.(e.data));
  worker.addEventListener("error", (e) => replies.shift()?.({ error: e.message || "worker failed to start" }));
  const next = () => new Promise<Reply>((resolve) => replies.push(resolve));
  return next().then((first) => {
    if (!first.ready) throw new Error(first.error ?? "worker did not start");
    return (prompt: string) => {
      const reply = next();
      worker.postMessage({ prompt });
      return reply;
    };
  });
}
Object.assign(globalThis, { startTracingWorker: start, askWorker: async (prompt: string) => (await start())(prompt) });
