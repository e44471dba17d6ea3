// The setup every instrument() test file inside workerd shares: Worker tracing reset around each
// test, and a fresh in-memory exporter for the test's traces (a live binding: read it as `exported`).
import { afterEach, beforeEach } from "vitest";
import { InMemoryExporter } from "../../core/export/exporter.js";
import { resetWorkerTracing } from "../../worker/instrument.js";

export let exported = new InMemoryExporter();
beforeEach(() => {
  resetWorkerTracing();
  exported = new InMemoryExporter();
});
afterEach(() => resetWorkerTracing());

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
