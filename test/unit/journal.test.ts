// The localStorage journal of traces a closing page had not finished writing to IndexedDB
// (browser/journal.ts): bounded for all tabs together, never touching another queue's copies.
import { afterEach, describe, expect, it, vi } from "vitest";
import { openJournal } from "../../browser/journal.js";
import { queuedTrace } from "../../core/export/queue.js";

/** localStorage as the browser has it, over a Map (insertion order, like Chromium's). */
function fakeStorage(): Storage {
  const map = new Map<string, string>();
  return {
    get length() { return map.size; },
    key: (i) => [...map.keys()][i] ?? null,
    getItem: (k) => map.get(k) ?? null,
    setItem: (k, v) => void map.set(k, String(v)),
    removeItem: (k) => void map.delete(k),
    clear: () => map.clear(),
  };
}

const trace = (id: string, pad = 0) => queuedTrace(id, JSON.stringify({ info: { traceId: id }, data: { spans: [] }, pad: "x".repeat(pad) }));

describe("journal", () => {
  afterEach(() => vi.unstubAllGlobals());

  it("keeps copies until forgotten, and reads them back as queue entries", () => {
    vi.stubGlobal("localStorage", fakeStorage());
    const journal = openJournal("q")!;
    journal.save([trace("tr-1"), trace("tr-2")]);
    expect(journal.read().map((t) => t.id)).toEqual(["tr-1", "tr-2"]);
    expect(journal.read()[0]).toEqual(trace("tr-1"));
    journal.forget(["tr-1"]);
    expect(journal.read().map((t) => t.id)).toEqual(["tr-2"]);
  });

  it("holds at most 1M characters for all tabs together, however often pages are hidden", () => {
    vi.stubGlobal("localStorage", fakeStorage());
    const tabs = [openJournal("q")!, openJournal("q")!];
    for (let i = 0; i < 6; i++) tabs[i % 2]!.save([trace(`tr-${i}`, 300_000)]);
    const total = tabs[0]!.read().reduce((n, t) => n + t.body.length, 0);
    expect(total).toBeLessThanOrEqual(1_000_000);
    expect(tabs[0]!.read().map((t) => t.id)).toEqual(["tr-0", "tr-1", "tr-2"]);
  });

  it("leaves another queue's copies and the app's own keys alone; drops entries that are not a trace of their id", () => {
    const storage = fakeStorage();
    vi.stubGlobal("localStorage", storage);
    openJournal("app:unstored")!.save([trace("tr-other")]);
    storage.setItem("app:unstored:tr-bad", '{"info":{"traceId":"tr-else"}}');
    storage.setItem("app-setting", "1");
    const journal = openJournal("app")!;
    expect(journal.read()).toEqual([]);
    expect(storage.getItem("app:unstored:tr-bad")).toBeNull();
    expect(openJournal("app:unstored")!.read().map((t) => t.id)).toEqual(["tr-other"]);
    expect(storage.getItem("app-setting")).toBe("1");
  });

  it("marks traces sent from memory as on their way until a time, for every tab of the origin; a mark runs out, or is cleared", () => {
    vi.useFakeTimers({ now: 1_000_000 });
    const storage = fakeStorage();
    vi.stubGlobal("localStorage", storage);
    const [closing, next] = [openJournal("q")!, openJournal("q")!];
    closing.markSending(["tr-1", "tr-2"], 1_030_000);
    expect(next.sendingUntil("tr-1", 1_001_000)).toBe(1_030_000);
    expect(next.sendingUntil("tr-3", 1_001_000)).toBeUndefined();
    closing.unmarkSending(["tr-2"]);
    expect(next.sendingUntil("tr-2", 1_001_000)).toBeUndefined();
    expect(next.sendingUntil("tr-1", 1_030_000)).toBeUndefined(); // run out: gone
    expect(storage.length).toBe(0);
    // A large upload's mark (a plain request of megabytes, kept in the back/forward cache) holds.
    closing.markSending(["tr-5"], 1_000_000 + 30_000 + 4_000_000 / 16);
    expect(next.sendingUntil("tr-5", 1_200_000)).toBe(1_280_000);
    // The clock is set back an hour (an NTP fix) after a mark was set: it is void, not held for an hour more.
    closing.markSending(["tr-4"], 1_030_000);
    expect(next.sendingUntil("tr-4", 1_000_000 - 3_600_000)).toBeUndefined();
    expect(storage.getItem("q:sending:tr-4")).toBeNull();
    vi.useRealTimers();
  });

  it("drops marks that ran out, or hold no time, when read; not live marks, nor another queue's keys", () => {
    const storage = fakeStorage();
    vi.stubGlobal("localStorage", storage);
    const now = Date.now();
    openJournal("q")!.markSending(["tr-old"], now - 1);
    openJournal("q")!.markSending(["tr-live"], now + 20_000);
    storage.setItem("q:sending:tr-garbage", "soon");
    openJournal("q:sending")!.save([trace("tr-other")]); // a queue named "q:sending": its copy's key starts like q's marks
    openJournal("q")!.read();
    expect([...Array(storage.length).keys()].map((i) => storage.key(i)).sort()).toEqual(["q:sending:tr-live", "q:sending:unstored:tr-other"]);
  });

  it("is not there where localStorage is not (a Web Worker) or throws (site data blocked)", () => {
    vi.stubGlobal("localStorage", undefined);
    expect(openJournal("q")).toBeUndefined();
    Object.defineProperty(globalThis, "localStorage", { configurable: true, get() { throw new DOMException("blocked", "SecurityError"); } });
    expect(openJournal("q")).toBeUndefined();
    delete (globalThis as { localStorage?: unknown }).localStorage;
  });
});
