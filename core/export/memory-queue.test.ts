import { MemoryQueue } from "./memory-queue.js";
import { runQueueContract } from "./queue-contract.js";

runQueueContract("MemoryQueue", (options) => new MemoryQueue(options));
