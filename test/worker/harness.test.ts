import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";

describe("workerd test harness", () => {
  it("runs the test Worker and reaches the real MLflow server through the proxy", async () => {
    const res = await exports.default.fetch("http://collector/health");
    expect(res.status).toBe(200);
    const health = await fetch(`${env.MLFLOW_TRACKING_URI}/health`);
    expect(await health.text()).toBe("OK");
  });
});
