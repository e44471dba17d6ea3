// Where IndexedDB cannot even be asked (a sandboxed iframe, a runtime without it), opening the queue
// fails at once, and leaves nothing behind that would later throw into the host page.
import { afterEach, describe, expect, it } from "vitest";
import { IdbQueue } from "../../browser/queue-idb.js";

const unhandled: unknown[] = [];
const record = (reason: unknown) => unhandled.push(reason);
process.on("unhandledRejection", record);
afterEach(() => void process.off("unhandledRejection", record));

describe("IdbQueue.open without IndexedDB", () => {
  it("rejects at once and no open timeout fires into the page afterwards", async () => {
    expect("indexedDB" in globalThis).toBe(false);
    await expect(IdbQueue.open({ openTimeoutMs: 20 })).rejects.toThrow(/indexedDB/);
    await new Promise((r) => setTimeout(r, 100)); // past the open timeout
    expect(unhandled).toEqual([]);
  });
});
