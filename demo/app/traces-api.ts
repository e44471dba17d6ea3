// The collector's query API as the Traces view uses it (GET /api/traces, /api/traces/:id).
import type { SpanData, Trace } from "../../core/model/types.js";
import type { StoredTrace, TracePage, TraceQuery } from "../../worker/store.js";

export type { SpanData, StoredTrace, Trace, TracePage, TraceQuery };

export interface DemoConfig {
  /** MLflow's UI base URL when forwarding is configured, else null. */
  mlflowUrl: string | null;
  experimentId: string | null;
}

export interface ChatConfig {
  /** The model the chat asks for: the built-in one's name, or OPENAI_MODEL with a real provider. */
  model: string;
  /** The ingest key INGEST_KEYS binds to this page's origin, if any. */
  ingestKey: string | null;
}

async function getJson<T>(path: string): Promise<T> {
  const res = await fetch(path, { headers: { accept: "application/json" } });
  if (!res.ok) {
    let message = `${res.status} ${res.statusText}`;
    try {
      const body = (await res.json()) as { error?: string };
      if (body.error) message += `: ${body.error}`;
    } catch {
      // not JSON: keep the status line
    }
    throw new Error(message);
  }
  return (await res.json()) as T;
}

export function listTraces(query: TraceQuery): Promise<TracePage> {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) if (value !== undefined && value !== "") params.set(key, String(value));
  return getJson<TracePage>(`/api/traces?${params}`);
}

export const getTrace = (id: string): Promise<StoredTrace> => getJson<StoredTrace>(`/api/traces/${encodeURIComponent(id)}`);
export const getConfig = (): Promise<DemoConfig> => getJson<DemoConfig>("/demo/config");
export const getChatConfig = (): Promise<ChatConfig> => getJson<ChatConfig>("/demo/chat-config");
