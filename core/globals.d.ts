// The Web-standard globals core may touch. Core is compiled with lib es2022 and no DOM, Node or
// Workers types, so anything not declared here fails to compile: that is the runtime-isolation rule.
// Every runtime we target (browsers, workerd, Node >= 20) provides all of these.

interface Console {
  warn(...data: unknown[]): void;
  error(...data: unknown[]): void;
}
declare var console: Console;

interface Crypto {
  getRandomValues<T extends Uint8Array>(array: T): T;
}
declare var crypto: Crypto;

interface Performance {
  readonly timeOrigin: number;
  now(): number;
}
declare var performance: Performance | undefined;

type TimerHandle = number | { unref?(): void };
declare function setTimeout(handler: () => void, timeout?: number): TimerHandle;
declare function clearTimeout(handle: TimerHandle | undefined): void;
declare function queueMicrotask(callback: () => void): void;

declare class TextEncoder {
  encode(input?: string): Uint8Array;
}
declare class TextDecoder {
  constructor(label?: string, options?: { fatal?: boolean; ignoreBOM?: boolean });
  decode(input?: Uint8Array, options?: { stream?: boolean }): string;
}
declare function btoa(data: string): string;
declare function atob(data: string): string;

// --- MLflow client (core/mlflow): fetch and the few Web types it touches. Shaped like the DOM's
// declarations so they merge with them where both are loaded (tests compile with lib dom too).
interface AbortSignal {
  readonly aborted: boolean;
  readonly reason: unknown;
}
interface AbortController {
  readonly signal: AbortSignal;
  abort(reason?: unknown): void;
}
declare var AbortController: { prototype: AbortController; new (): AbortController };
interface Headers {
  get(name: string): string | null;
}
interface Response {
  readonly ok: boolean;
  readonly status: number;
  readonly statusText: string;
  readonly headers: Headers;
  text(): Promise<string>;
}
interface RequestInit {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  signal?: AbortSignal;
  keepalive?: boolean;
}
declare function fetch(input: string, init?: RequestInit): Promise<Response>;
