// The IndexedDB queue opened over and over on new databases (each open makes the schema in a
// versionchange transaction), recording the unhandled rejections the page sees.
import { IdbQueue } from "../../../browser/queue-idb.js";

const g = globalThis as any;
g.unhandled = [];
addEventListener("unhandledrejection", (e) => g.unhandled.push(`${(e.reason as any)?.name}: ${(e.reason as any)?.message ?? String(e.reason)}`));
g.opened = 0;
g.started = 0;
g.settled = 0;
let n = 0;
g.churn = () => {
  g.timer = setInterval(() => {
    g.started++;
    IdbQueue.open({ dbName: `churn-${Date.now()}-${n++}`, openTimeoutMs: 10_000 }).then(
      (q) => (g.opened++, g.settled++, q.close()),
      () => g.settled++, // an open the clear aborted for good: the app's queue would fall back to memory
    );
  }, 10);
};
g.stop = () => clearInterval(g.timer);
