// The tiny knowledge base the demo agent retrieves from, and the weather its tool answers with.
export const DOCS = [
  { id: "mlflow", text: "MLflow records traces of GenAI apps: spans with inputs, outputs, timing and status." },
  { id: "edge", text: "mlflow-edge traces code running in browsers and Cloudflare Workers and forwards it to MLflow." },
  { id: "queue", text: "Traces are written to IndexedDB first and deleted only after the collector acknowledged them." },
  { id: "workers", text: "The collector Worker buffers traces in Durable Objects and retries MLflow with backoff." },
];

export const WEATHER: Record<string, { city: string; forecast: string; celsius: number }> = {
  paris: { city: "Paris", forecast: "light rain", celsius: 14 },
  tokyo: { city: "Tokyo", forecast: "sunny", celsius: 22 },
  london: { city: "London", forecast: "overcast", celsius: 12 },
};
