import { expect, type APIRequestContext, type Page } from "@playwright/test";

// What the delivery specs share: the page under test and the stub collector's view.

export interface StubView {
  traces: { info: { traceId: string }; data: { spans: { inputs?: { label?: string } }[] } }[];
  deliveries: Record<string, number>;
  requests: { at: number; bytes: number; status: number; ids: string[]; key?: string; traceparent?: string }[];
  /** Ingest connections dropped while the stub was down (`/stub/down`). */
  refused: number;
}

export const stub = async (request: APIRequestContext): Promise<StubView> => (await request.get("/stub/traces")).json();

export async function openApp(page: Page, query = ""): Promise<Page> {
  await page.goto(`/page/delivery-app${query ? `?${query}` : ""}`);
  await page.waitForFunction(() => "app" in globalThis);
  return page;
}

/** Waits until the collector holds every one of `ids`; returns its view. */
export async function expectDelivered(request: APIRequestContext, ids: readonly string[], timeout = 15_000): Promise<StubView> {
  await expect
    .poll(async () => {
      const { deliveries } = await stub(request);
      return ids.filter((id) => !(id in deliveries));
    }, { timeout })
    .toEqual([]);
  return stub(request);
}

/** Rows of the IndexedDB queue, with the label each trace was made with. */
export async function idbRows(page: Page): Promise<{ id: string; label: string; body: string; leaseToken?: string }[]> {
  return page.evaluate(async () => {
    const rows = (await (globalThis as any).app.readIdb()) as { id: string; body: string; leaseToken?: string }[];
    return rows.map((r) => ({ ...r, label: JSON.parse(r.body).data.spans[0].inputs.label }));
  });
}

/** Adds rows to the queue's store as another version of the package or a script could write them. */
export async function addRawRows(page: Page, rows: readonly unknown[]): Promise<void> {
  await page.evaluate(
    (rows) =>
      new Promise<void>((resolve, reject) => {
        const open = indexedDB.open("mlflow-edge");
        open.onsuccess = () => {
          const tx = open.result.transaction("traces", "readwrite");
          for (const row of rows) tx.objectStore("traces").add(row);
          tx.oncomplete = () => (open.result.close(), resolve());
          tx.onerror = () => reject(tx.error);
        };
      }),
    rows,
  );
}

// A tab can hold the sender's lock and not send: frozen, busy, or (Chromium) a page in the
// back/forward cache whose release never reached the browser. Here a page of the origin takes the
// lock and never lets go, as such a tab does.
export async function silentHolder(page: Page): Promise<Page> {
  await page.goto("/health");
  await page.evaluate(() => {
    const flags = globalThis as { held?: boolean; lost?: string };
    void navigator.locks
      .request("mlflow-edge:sender", () => ((flags.held = true), new Promise(() => {})))
      .catch((error: Error) => (flags.lost = error.name));
  });
  await page.waitForFunction(() => (globalThis as { held?: boolean }).held === true);
  return page;
}

/** Takes one page offline (CDP: the other pages of the context keep their network). */
export async function offline(page: Page): Promise<void> {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("Network.emulateNetworkConditions", { offline: true, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
  await page.waitForFunction(() => !navigator.onLine);
}

/**
 * A slow disk: a transaction that leases a trace for a send commits, but the page hears of it only
 * a minute later, so a page closed or navigated from meanwhile never makes the request (CI met this
 * window). Other transactions are untouched.
 */
export async function slowLeases(page: Page): Promise<void> {
  await page.evaluate(() => {
    const slow = new WeakSet<IDBTransaction>();
    const put = IDBObjectStore.prototype.put;
    IDBObjectStore.prototype.put = function (this: IDBObjectStore, value: unknown, key?: IDBValidKey) {
      if ((value as { leaseToken?: unknown } | null)?.leaseToken) slow.add(this.transaction);
      return put.call(this, value, key);
    };
    const add = IDBTransaction.prototype.addEventListener;
    IDBTransaction.prototype.addEventListener = function (this: IDBTransaction, type: string, listener: any, options?: any) {
      if (type !== "complete" || typeof listener !== "function") return add.call(this, type, listener, options);
      return add.call(this, type, function (this: IDBTransaction, event: Event) {
        if (slow.has(this)) setTimeout(() => listener.call(this, event), 60_000);
        else listener.call(this, event);
      }, options);
    };
  });
}
