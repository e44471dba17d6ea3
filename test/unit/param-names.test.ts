// Input keys come from parameter names in the function's source text, and esbuild (wrangler's
// bundler, Vite's for dependencies, many apps' own) renames a parameter that has the name of any
// top-level variable in the bundle: `text` becomes `text2` if some module of the bundle, the
// library's included, has a top-level `text`. So mlflow-edge must not bring top-level names that
// an app's parameters are likely to have, or its inputs would read `{"name2": …}` in MLflow.
import { build } from "esbuild";
import { describe, expect, it } from "vitest";

// Parameter names apps trace with: the brief's examples, LLM apps, handlers, everyday words.
const COMMON = `
  name text value event id key data input output inputs outputs query question prompt answer
  message messages content role url request response req res options opts config settings
  params args body headers path method status state result results error err info details
  count index item items list label record records span context ctx env doc docs
  document documents time date timestamp type kind mode model user session token tokens
  limit offset page size length start end from to source target city country location
  number string object array json map set open read send parse callback fn handler next
  chunk chunks stream reader writer buffer bytes file files image images score scores
  values entry entries field fields tag tags metadata attributes filter sort order cursor
  current previous first last total sum min max delay timeout retries attempt attempts
  seen ms num str hex pool setup silent flag done ok events hooks encoder sleep describe
  normalize matches capture connect marker dropped fetch
`.trim().split(/\s+/);
// Not here: `trace` and `init`, which an app imports from mlflow-edge (so a parameter of that
// name beside the import is renamed by esbuild whatever the library does). The globals the
// library reads bare count too (esbuild keeps parameters off them): `fetch` is read through
// globalThis; `process` must stay bare for bundlers' NODE_ENV define.

describe("parameter names in an app bundled with mlflow-edge", () => {
  it("esbuild keeps an app's common parameter names (no top-level name of the library takes them)", async () => {
    const probe = `function probe(${COMMON.join(", ")}) { return [${COMMON.join(", ")}]; }`;
    const result = await build({
      stdin: {
        // Every entry and everything it exports kept, as an app using all of it would.
        contents: `export * from "./core/index.ts"; export * from "./browser/index.ts"; export * from "./worker/index.ts"; export * from "./openai/index.ts";
          import { trace } from "./core/index.ts"; export const traced = trace(${probe});`,
        resolveDir: process.cwd(),
        loader: "ts",
      },
      bundle: true,
      format: "esm",
      platform: "neutral",
      target: "es2022",
      write: false,
      logLevel: "silent",
      external: ["zone.js", "openai", "hono", "hono/*", "cloudflare:*", "node:*"],
    });
    const code = result.outputFiles[0]!.text;
    const params = /function probe\(([^)]*)\)/.exec(code)![1]!.split(",").map((p) => p.trim());
    const renamed = params.map((p, i) => [COMMON[i], p]).filter(([was, now]) => was !== now);
    expect(renamed).toEqual([]);
  });
});
