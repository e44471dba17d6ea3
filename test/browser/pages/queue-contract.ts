// Runs the TraceQueue contract (core/export/queue-contract.ts) against the IndexedDB queue, one
// case per call, each on a fresh database.
import { QUEUE_CONTRACT, runQueueContractCase } from "../../../core/export/queue-contract.js";
import { IdbQueue } from "../../../browser/queue-idb.js";
import { queuedTrace } from "../../../core/export/queue.js";

let n = 0;
(globalThis as { contract?: unknown }).contract = {
  names: QUEUE_CONTRACT.map((c) => c.name),
  async run(name: string): Promise<string> {
    try {
      await runQueueContractCase(name, (options) => IdbQueue.open({ ...options, dbName: `contract-${Date.now()}-${n++}` }));
      return "ok";
    } catch (error) {
      return error instanceof Error ? `${error.message}\n${error.stack ?? ""}` : String(error);
    }
  },
  /** Snapshots of open traces (putSnapshots): what each step leaves leasable by another tab. */
  async snapshots(): Promise<unknown[]> {
    const dbName = `snapshots-${Date.now()}-${n++}`;
    const alive = new Set(["tab-a", "tab-b"]);
    const open = (owner: string) => IdbQueue.open({ dbName, owner, liveOwners: async () => new Set(alive) });
    const [a, b] = [await open("tab-a"), await open("tab-b")];
    const entry = (id: string, v: string) => queuedTrace(id, JSON.stringify({ v }));
    const leasable = async () => {
      const lease = await b.lease(1e9);
      if (!lease) return [];
      await b.nack(lease, 0);
      return lease.items.map((i) => `${i.id}=${JSON.parse(i.body).v}`);
    };
    const steps: unknown[] = [];
    await a.putSnapshots([entry("tr-1", "snap"), entry("tr-2", "snap"), entry("tr-3", "snap")]);
    steps.push(["tab-a alive", await leasable(), (await b.stats()).queued]);
    await a.putSnapshots([entry("tr-3", "snap, later")]); // hidden again: the newer snapshot replaces the older
    await a.append([entry("tr-1", "finished")]); // the trace finished: it replaces its snapshot
    await a.putSnapshots([entry("tr-1", "snap")]); // never the other way round
    await b.dropSnapshot("tr-2"); // only the tab that wrote a snapshot drops it
    steps.push(["tr-1 finished", await leasable()]);
    await a.dropSnapshot("tr-2"); // tr-2 was sampled out when it finished
    alive.delete("tab-a");
    steps.push(["tab-a gone", await leasable(), (await b.stats()).queued]);
    // Tab A was only away (the back/forward cache): B sends its snapshot, and A finishes the trace
    // meanwhile. B's ack must not delete the finished trace that replaced what B sent.
    await a.putSnapshots([entry("tr-4", "snap")]);
    const sending = (await b.lease(1e9))!;
    await a.append([entry("tr-4", "finished")]);
    await b.ack(sending);
    steps.push(["tr-4 finished while its snapshot was being sent", await leasable()]);
    a.close();
    b.close();
    return steps;
  },
};
