// `@trace` under TypeScript's legacy `experimentalDecorators` (still the default of many Angular and
// NestJS apps): the class is compiled the way those apps compile it (esbuild with the tsconfig flag,
// which emits the same (target, key, descriptor) calls as tsc), then run.
import "reflect-metadata";
import { transformSync } from "esbuild";
import { describe, expect, it, vi } from "vitest";
import * as mlflow from "../index.js";
import { resetWarnings } from "../debug.js";

const source = `
  class Agent {
    prefix = "ok:";
    @mlflow.trace
    bare(question: string) { return this.prefix + question; }
    @mlflow.trace({ name: "named", spanType: mlflow.SpanType.LLM })
    async withOptions(prompt: string) { return prompt.length; }
    @mlflow.trace
    static create(kind: string) { return kind; }
  }
  return Agent;`;

function compileLegacy(): (new () => { bare(q: string): string; withOptions(p: string): Promise<number> }) & { create(kind: string): string } {
  const { code } = transformSync(source, { loader: "ts", tsconfigRaw: { compilerOptions: { experimentalDecorators: true } } });
  expect(code).toContain("__decorateClass"); // legacy emit, not TC39
  return new Function("mlflow", code)(mlflow);
}

describe("@trace with legacy experimentalDecorators", () => {
  it("bare @trace (on instance and static methods) and @trace(options) record spans, keep this, and map arguments to parameter names", async () => {
    const memory = new mlflow.InMemoryExporter();
    mlflow.init({ exporter: memory, silent: true });
    const Agent = compileLegacy();
    const agent = new Agent();
    expect(agent.bare("why?")).toBe("ok:why?");
    expect(await agent.withOptions("abc")).toBe(3);
    expect(Agent.create("agent")).toBe("agent");
    await mlflow.flushTraces();
    const spans = memory.drain().map((t) => t.data.spans[0]!);
    expect(spans.map((s) => [s.name, s.spanType, s.inputs, s.outputs])).toEqual([
      ["bare", "UNKNOWN", { question: "why?" }, "ok:why?"],
      ["named", "LLM", { prompt: "abc" }, 3],
      ["create", "UNKNOWN", { kind: "agent" }, "agent"],
    ]);
  });

  it("@trace over a framework's method decorator keeps what it stored on the method: reflect-metadata (NestJS's @Get), symbols, hidden properties", () => {
    // NestJS's route decorators store their metadata on the method function with reflect-metadata.
    const code = transformSync(`
      const Get = (path: string) => (target: object, key: string, d: PropertyDescriptor) => {
        Reflect.defineMetadata("path", path, d.value);
        d.value[Symbol.for("route")] = "GET " + path;
        Object.defineProperty(d.value, "hidden", { value: 42, enumerable: false });
      };
      class Controller {
        @mlflow.trace
        @Get("/weather")
        weather(city: string) { return city; }
      }
      return Controller;`, { loader: "ts", tsconfigRaw: { compilerOptions: { experimentalDecorators: true } } }).code;
    const Controller = new Function("mlflow", code)(mlflow) as new () => { weather(city: string): string };
    const method = Controller.prototype.weather as unknown as Record<PropertyKey, unknown>;
    expect(Reflect.getMetadata("path", method)).toBe("/weather");
    expect(method[Symbol.for("route")]).toBe("GET /weather");
    expect(method.hidden).toBe(42);
    expect(new Controller().weather("Paris")).toBe("Paris");
  });

  it("@trace() on an accessor warns that it did nothing (as with standard decorators), instead of silently recording no span", () => {
    const code = transformSync(`
      class Box {
        @mlflow.trace() get size() { return 5; }
      }
      return Box;`, { loader: "ts", tsconfigRaw: { compilerOptions: { experimentalDecorators: true } } }).code;
    mlflow.init({ exporter: new mlflow.InMemoryExporter() }); // diagnostics on (an earlier test was silent)
    resetWarnings();
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    try {
      const Box = new Function("mlflow", code)(mlflow) as new () => { size: number };
      expect(new Box().size).toBe(5);
      expect(warn.mock.calls.map((c) => String(c[0]))).toEqual([expect.stringMatching(/@trace\(\) applies to class methods; it was put on an accessor \("size"\) and did nothing/)]);
    } finally {
      warn.mockRestore();
    }
  });
});
