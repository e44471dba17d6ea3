// Runs the TraceQueue contract (core/export/queue-contract.ts) against the IndexedDB queue, one
// case per call, each on a fresh database.
import { QUEUE_CONTRACT, runQueueContractCase } from "../../../core/export/queue-contract.js";
import { IdbQueue } from "../../../browser/queue-idb.js";

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
};
