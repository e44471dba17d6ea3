// The package's entry points resolve by their public names (package.json "exports"), as an app
// importing mlflow-edge would see them. (mlflow-edge/worker needs workerd: test/worker imports it.)
import { describe, expect, it } from "vitest";

describe("package exports", () => {
  it("mlflow-edge, /browser, /browser/build and /openai resolve to their APIs", async () => {
    const core = await import("mlflow-edge");
    expect(typeof core.trace).toBe("function");
    expect(typeof core.withSpan).toBe("function");
    const browser = await import("mlflow-edge/browser");
    expect(typeof browser.initBrowser).toBe("function");
    const build = await import("mlflow-edge/browser/build");
    expect(build.zoneBuildOptions().supported).toMatchObject({ "async-await": false });
    const openai = await import("mlflow-edge/openai");
    expect(typeof openai.tracedOpenAI).toBe("function");
  });
});
