import { describe, expect, it } from "vitest";
import { toJsonSafe, utf8Length } from "./safe-json.js";
import { pyJsonDumps } from "./py-json.js";
import { computePreview, truncatePreview } from "./preview.js";

describe("toJsonSafe", () => {
  it("captures the common JS value kinds as JSON-safe data", () => {
    class Point { constructor(public x: number, public y: number) {} get norm() { return 0; } }
    const err = new TypeError("bad", { cause: "root" });
    const out = toJsonSafe({
      date: new Date("2024-06-10T06:13:20.123Z"),
      map: new Map<unknown, unknown>([["a", 1], [2, "b"]]),
      objMap: new Map([[{ k: 1 }, "v"]]),
      set: new Set([1, 2]),
      bytes: new Uint8Array([1, 2, 3]),
      buffer: new ArrayBuffer(8),
      fn: function helper() {},
      undef: undefined,
      nan: Number.NaN,
      inf: -Infinity,
      big: 10n,
      sym: Symbol("s"),
      point: new Point(1, 2),
      re: /a+/g,
      err,
      nested: [undefined, () => 1],
      promise: Promise.resolve(1),
      withToJSON: { toJSON: () => ({ replaced: true }) },
    }) as Record<string, unknown>;
    expect(out).toEqual({
      date: "2024-06-10T06:13:20.123Z",
      map: { a: 1, 2: "b" },
      objMap: [[{ k: 1 }, "v"]],
      set: [1, 2],
      bytes: [1, 2, 3],
      buffer: "[ArrayBuffer 8 bytes]",
      fn: "[Function helper]",
      nan: "NaN",
      inf: "-Infinity",
      big: 10,
      sym: "Symbol(s)",
      point: { x: 1, y: 2 },
      re: "/a+/g",
      err: { name: "TypeError", message: "bad", stack: err.stack, cause: "root" },
      nested: [null, "[Function anonymous]"],
      promise: "[Promise]",
      withToJSON: { replaced: true },
    });
    expect(toJsonSafe(undefined)).toBeNull();
  });

  it("boxed primitives as JSON.stringify gives them; a huge typed array costs only the items kept", () => {
    expect(toJsonSafe({ s: new String("s"), n: new Number(5), b: new Boolean(false) })).toEqual({ s: "s", n: 5, b: false });
    // Counts the items read: a copy of the whole array would read all 5,000,000.
    let reads = 0;
    class Counted extends Float32Array {
      override *[Symbol.iterator](): ArrayIterator<number> {
        for (const v of this.values()) {
          reads++;
          yield v;
        }
        return undefined;
      }
    }
    const counted = new Counted(5_000_000);
    const out = toJsonSafe(counted) as unknown[];
    expect(out).toHaveLength(1025);
    expect(out.at(-1)).toBe("...[4998976 more items]");
    expect(reads).toBeLessThan(2000);
    // A subclass whose constructor takes other arguments is not constructed again.
    class Embedding extends Float32Array {
      constructor(readonly model: string, values: number[]) {
        if (typeof model !== "string") throw new TypeError("model name required");
        super(values);
      }
    }
    expect(toJsonSafe(new Embedding("e5", [1, 2]))).toEqual([1, 2]);
  });

  it("captures the Web platform objects of an LLM call by what they hold, not as {}", async () => {
    const headers = new Headers({ "content-type": "application/json", authorization: "Bearer sk-test" });
    const form = new FormData();
    form.append("q", "llamas");
    form.append("tag", "a");
    form.append("tag", "b");
    form.append("upload", new File(["hello"], "notes.txt", { type: "text/plain" }));
    const request = new Request("https://api.example/v1/chat?stream=1", { method: "POST", headers, body: "{}" });
    const response = new Response("{}", { status: 429, statusText: "Too Many Requests", headers: { "retry-after": "3" } });
    const aborted = AbortSignal.abort();
    const target = new EventTarget();
    const event = new Event("message");
    target.addEventListener("message", () => {});
    target.dispatchEvent(event);
    const message = new MessageEvent("message", { data: '{"delta":"Hi"}' }); // an EventSource's SSE event
    const custom = new CustomEvent("picked", { detail: { id: 7 } });
    expect(toJsonSafe({ headers, form, request, response, blob: new Blob(["abc"]), params: new URLSearchParams({ a: "1", b: "2" }), body: new ReadableStream(), aborted, event, target, message, custom })).toEqual({
      headers: { "content-type": "application/json", authorization: "Bearer sk-test" }, // the redactor masks by key
      form: { q: "llamas", tag: ["a", "b"], upload: { name: "notes.txt", type: "text/plain", size: 5 } },
      request: { method: "POST", url: "https://api.example/v1/chat?stream=1" }, // headers left out: IPs, cookies
      response: { status: 429, statusText: "Too Many Requests", url: "" },
      blob: { type: "", size: 3 },
      params: "a=1&b=2",
      body: "[ReadableStream]",
      aborted: { aborted: true },
      event: { type: "message", target: "[EventTarget]" },
      target: "[EventTarget]",
      message: { type: "message", target: null, data: '{"delta":"Hi"}' },
      custom: { type: "picked", target: null, detail: { id: 7 } },
    });
  });

  it("replaces an inline image too large to keep by its type and size, and keeps one that fits", () => {
    const big = `data:image/png;base64,${"iVBORw0KGgo".repeat(40_000)}`;
    const small = "data:image/png;base64,iVBORw0KGgo=";
    const message = { role: "user", content: [{ type: "text", text: "what is this?" }, { type: "image_url", image_url: { url: big } }, { type: "image_url", image_url: { url: small } }] };
    const out = toJsonSafe({ messages: [message] }, 100_000) as unknown as { messages: typeof message[] };
    expect(out.messages[0]!.content[1]).toEqual({ type: "image_url", image_url: { url: `[data:image/png;base64, ${big.length} chars]` } });
    expect(out.messages[0]!.content[2]).toEqual({ type: "image_url", image_url: { url: small } });
    expect(out.messages[0]!.content[0]).toEqual({ type: "text", text: "what is this?" });
    // An SSE body ("data: ...") is text, cut as text.
    expect(String(toJsonSafe(`data: {"x":1};base64,${"a".repeat(5000)}`, 1000))).toMatch(/^data: \{"x":1\};base64,a+\.\.\.\[truncated \d+ chars\]$/);
  });

  it("never cuts a long string through an emoji", () => {
    for (const head of ["", "a"]) {
      const cut = String(toJsonSafe(head + "\u{1F600}".repeat(100_000), 1000));
      expect(cut).toMatch(/^a?(\u{1F600})+\.\.\.\[truncated \d+ chars\]$/u);
    }
  });

  it("cuts a text of 3-byte characters a little over the limit, instead of giving it up as too large", () => {
    for (const value of ["日".repeat(1400), { a: "日".repeat(1400) }]) {
      const cut = toJsonSafe(value, 4096);
      expect(JSON.stringify(cut)).toMatch(/^(?:\{"a":)?"日+\.\.\.\[truncated \d+ chars\]"\}?$/);
      expect(utf8Length(JSON.stringify(cut))).toBeGreaterThan(3800);
      expect(utf8Length(JSON.stringify(cut))).toBeLessThanOrEqual(4096);
    }
  });

  it("marks cycles but keeps repeated (non-cyclic) references in full", () => {
    const shared = { v: 1 };
    const a: Record<string, unknown> = { shared, again: shared };
    a.me = a;
    expect(toJsonSafe(a)).toEqual({ shared: { v: 1 }, again: { v: 1 }, me: "[Circular]" });
  });

  it("a large Map or Set (a cache passed as an argument) costs only the entries kept, not a copy of all of them", () => {
    let read = 0;
    class CountedMap<K, V> extends Map<K, V> {
      override *[Symbol.iterator](): MapIterator<[K, V]> {
        for (const e of this.entries()) {
          read++;
          yield e;
        }
      }
    }
    const cache = new CountedMap<string, number>();
    for (let i = 0; i < 100_000; i++) cache.set(`k${i}`, i);
    const out = toJsonSafe(cache, 1000) as Record<string, unknown>;
    expect(out.k0).toBe(0);
    expect(out["..."]).toMatch(/^\[truncated \d+ keys\]$/);
    expect(read).toBeLessThan(500);
    let values = 0;
    class CountedSet<T> extends Set<T> {
      override [Symbol.iterator](): SetIterator<T> {
        const it = super.values();
        return { next: () => (values++, it.next()), [Symbol.iterator]() { return this; } } as SetIterator<T>;
      }
    }
    const ids = new CountedSet<number>(Array.from({ length: 100_000 }, (_, i) => i));
    const list = toJsonSafe(ids, 1000) as unknown[];
    expect(list[0]).toBe(0);
    expect(list.at(-1)).toMatch(/^\.\.\.\[truncated \d+ items\]$/);
    expect(values).toBeLessThan(1000);
    // Values left out (undefined) still count: a map of a million of them is not read whole.
    read = 0;
    const flags = new CountedMap<string, undefined>();
    for (let i = 0; i < 100_000; i++) flags.set(`f${i}`, undefined);
    toJsonSafe(flags, 1000);
    expect(read).toBeLessThan(1500);
    // Object keys still make an object; other keys a list of pairs, cut the same way.
    expect(toJsonSafe(new Map<unknown, number>([[{ id: 1 }, 1], ["a", 2]]))).toEqual([[{ id: 1 }, 1], ["a", 2]]);
  });

  it("caps the size of what it keeps, with visible markers", () => {
    const big = toJsonSafe({ text: "y".repeat(5000), list: Array.from({ length: 1000 }, (_, i) => i) }, 1000);
    const json = JSON.stringify(big);
    expect(json.length).toBeLessThan(1200);
    expect(json).toContain("[truncated");
    const deep: Record<string, unknown> = {};
    let cur = deep;
    for (let i = 0; i < 100; i++) cur = (cur.next = {}) as Record<string, unknown>;
    expect(JSON.stringify(toJsonSafe(deep))).toContain('"[Object]"');
  });

  it("keeps the JSON within the cap in UTF-8 bytes, whatever the characters (a collector measures bytes)", () => {
    const cap = 256 * 1024;
    const bytes = (v: unknown) => utf8Length(JSON.stringify(v));
    for (const big of ["x".repeat(300_000), "é".repeat(200_000), "😀".repeat(200_000), "\u0000".repeat(100_000), { q: '"'.repeat(200_000) }, Array.from({ length: 50_000 }, (_, i) => i * 1.123456789)]) {
      const out = toJsonSafe(big, cap);
      expect(bytes(out)).toBeLessThanOrEqual(cap);
      expect(bytes(out)).toBeGreaterThan(cap * 0.8); // cut near the cap, not far below it
      expect(JSON.stringify(out)).toContain("truncated");
    }
    const small = { a: "é".repeat(10) };
    expect(toJsonSafe(small, cap)).toEqual(small);
  });
});

describe("pyJsonDumps", () => {
  it("formats like Python's json.dumps(ensure_ascii=False)", () => {
    expect(pyJsonDumps({ a: [1, "é", null, true], b: {} })).toBe('{"a": [1, "é", null, true], "b": {}}');
    expect(pyJsonDumps("line\n\"q\"")).toBe('"line\\n\\"q\\""');
    expect(pyJsonDumps([])).toBe("[]");
  });

  it("writes small floats as Python's repr does (1e-05, not 0.00001), the rest as JavaScript does", () => {
    // Each pair is what `json.dumps` prints for the value in CPython 3.
    const cases: [number, string][] = [
      [1e-5, "1e-05"], [2.5e-9, "2.5e-09"], [-3.2e-5, "-3.2e-05"], [1.234e-7, "1.234e-07"], [5e-324, "5e-324"], [1e-100, "1e-100"],
      [0.0001, "0.0001"], [0.00012, "0.00012"], [0.1, "0.1"], [-0.5, "-0.5"], [123.456, "123.456"], [1e15 + 0.5, "1000000000000000.5"], [42, "42"],
    ];
    for (const [n, text] of cases) expect([n, pyJsonDumps(n)]).toEqual([n, text]);
    expect(pyJsonDumps({ p: 1e-5, lp: [-3.2e-5] })).toBe('{"p": 1e-05, "lp": [-3.2e-05]}');
  });
});

describe("computePreview", () => {
  it("shows the last message of the wanted role for chat-like values", () => {
    const req = { messages: [{ role: "user", content: "first" }, { role: "assistant", content: "mid" }, { role: "user", content: [{ type: "text", text: "last" }] }] };
    expect(computePreview(req, "user")).toBe("last");
    expect(computePreview({ choices: [{ message: { role: "assistant", content: "answer" } }] }, "assistant")).toBe("answer");
    expect(computePreview({ input: [{ role: "user", content: "responses api" }] }, "user")).toBe("responses api");
    expect(computePreview({ output: [{ role: "assistant", content: [{ type: "output_text", text: "out" }] }] }, "assistant")).toBe("out");
    expect(computePreview({ request: { input: [{ role: "user", content: "wrapped" }] } }, "user")).toBe("wrapped");
    expect(computePreview({ messages: [{ role: "user", content: "a\u0000b" }] }, "user")).toBe("a\ufffdb"); // NUL: PostgreSQL refuses it
  });

  it("keeps the raw JSON where MLflow 3.18 does: a bare list of messages, messages without content, a string holding JSON", () => {
    const list = [{ role: "user", content: "hi" }];
    expect(computePreview(list, "user")).toBe('[{"role": "user", "content": "hi"}]');
    expect(computePreview({ messages: [{ role: "user", parts: [{ type: "text", content: "semconv" }] }] }, "user")).toBe(
      '{"messages": [{"role": "user", "parts": [{"type": "text", "content": "semconv"}]}]}',
    );
    const text = JSON.stringify({ messages: list });
    expect(computePreview(text, "user")).toBe(JSON.stringify(text));
  });

  it("cuts by code points as Python does, never through an emoji (MLflow's server drops what follows half a pair)", () => {
    const preview = computePreview("a" + "\u{1F600}".repeat(1200), "user");
    expect(preview).toMatch(/^"a(\u{1F600})+\.\.\.$/u); // the JSON of the string, whole emoji only
    expect([...preview]).toHaveLength(1000);
    expect(truncatePreview("\u{1F600}".repeat(1000))).toBe("\u{1F600}".repeat(1000)); // 2000 UTF-16 units, 1000 characters: not cut
  });

  it("falls back to the Python-formatted JSON, with a plain string keeping its quotes", () => {
    expect(computePreview({ x: 1, y: [2] }, "user")).toBe('{"x": 1, "y": [2]}');
    expect(computePreview("hello", "user")).toBe('"hello"');
    expect(computePreview(undefined, "user")).toBe("");
    const long = computePreview("z".repeat(5000), "user");
    expect(long).toHaveLength(1000);
    expect(long.endsWith("...")).toBe(true);
  });
});
