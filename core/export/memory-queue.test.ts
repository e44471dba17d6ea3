import { describe, it } from "vitest";
import { MemoryQueue } from "./memory-queue.js";
import { QUEUE_CONTRACT, runQueueContractCase } from "./queue-contract.js";

describe("TraceQueue contract: MemoryQueue", () => {
  for (const c of QUEUE_CONTRACT) it(c.name, () => runQueueContractCase(c.name, (options) => new MemoryQueue(options)));
});
