// Runs the product brief's programs (test/programs/brief.ts) in the browser and returns their
// traces' shapes, for the spec to compare with the same expectations the Node tests use.
import * as mlflow from "../../../core/index.js";
import { createBrowserContextManager, ZoneContextManager } from "../../../browser/index.js";
import { programs } from "../../programs/brief.js";
import { traceShape } from "../../programs/shape.js";

const contextMode = new URLSearchParams(location.search).get("context") === "stack" ? "stack" : "auto";

async function runProgram(name: string) {
  const program = programs.find((p) => p.name === name);
  if (!program) throw new Error(`no program ${name}`);
  const exporter = new mlflow.InMemoryExporter();
  const contextManager = createBrowserContextManager(contextMode);
  if (contextManager instanceof ZoneContextManager) await contextManager.asyncLowered;
  mlflow.init({ exporter, contextManager, ...program.init });
  await program.run();
  await mlflow.flushTraces();
  return { shapes: exporter.traces.map(traceShape), expected: program.expected, manager: contextManager.name };
}

Object.assign(globalThis, { runProgram, programList: programs.map((p) => ({ name: p.name, nestsAcrossAwait: !!p.nestsAcrossAwait })) });
