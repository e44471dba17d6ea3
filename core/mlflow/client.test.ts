// The tracking URI as MLflow's Python client reads it (requests): credentials written into it are
// Basic auth, and never part of the URL the client keeps (every error message names that URL).
import { describe, expect, it } from "vitest";
import { MlflowClient } from "./client.js";

async function firstRequest(trackingUri: string): Promise<{ url: string; authorization: string | null }> {
  let seen: { url: string; authorization: string | null } | undefined;
  const client = new MlflowClient({
    trackingUri,
    retry: { maxAttempts: 1 },
    fetch: async (url, init) => {
      seen ??= { url, authorization: new Headers(init?.headers).get("authorization") };
      return new Response(JSON.stringify({ experiment: { experiment_id: "7" } }), { status: 200 });
    },
  });
  await client.getOrCreateExperiment("x");
  return seen!;
}

const basic = (userPass: string) => `Basic ${btoa(userPass)}`;

describe("credentials in the tracking URI", () => {
  it.each([
    ["http://alice:s3cret@mlflow.local:5000", "http://mlflow.local:5000/", "alice:s3cret"],
    ["https://u%40corp:p%3Aw%2Fd@mlflow.local/prefix", "https://mlflow.local/prefix/", "u@corp:p:w/d"],
    ["http://u:p@ss@[::1]:5000", "http://[::1]:5000/", "u:p@ss"],
    ["http://u:50%off@mlflow.local", "http://mlflow.local/", "u:50%off"], // not an escape: kept as written
    ["http://alice@mlflow.local", "http://mlflow.local/", "alice:"], // a user alone is still Basic
    ["http://:token@mlflow.local", "http://mlflow.local/", ":token"],
  ])("%s → %s with Basic %s", async (uri, url, userPass) => {
    const seen = await firstRequest(uri);
    expect(seen.url.startsWith(url)).toBe(true);
    expect(seen.url).not.toContain("@");
    expect(seen.authorization).toBe(basic(userPass));
  });

  it("an @ in the query is not user info", async () => {
    const seen = await firstRequest("http://mlflow.local?x=a@b");
    expect(seen.url.startsWith("http://mlflow.local?x=a@b")).toBe(true);
    expect(seen.authorization).toBeNull();
  });

  it.each(["http://admin:pa/ss#word@127.0.0.1:9", "http://admin:Secret?Pw1@127.0.0.1:9", "http://admin:p#w@[::1]:5000", "http://admin:/s3cret@127.0.0.1:9"])(
    "a password with / ? or # not percent-encoded (%s) is refused, never printed",
    (uri) => {
      let message = "";
      try {
        new MlflowClient({ trackingUri: uri });
      } catch (error) {
        message = String(error);
      }
      expect(message).toMatch(/percent-encode the user name and password/);
      for (const part of ["pa/ss", "Secret?Pw1", "p#w", "s3cret"]) expect(message).not.toContain(part);
    },
  );

  it("a URI the text cannot tell from host:port/path (a password of digits, then / and more) is never printed whole: errors show what precedes its last @ as ***", async () => {
    const client = new MlflowClient({
      trackingUri: "http://admin:1234/56@127.0.0.1:9",
      retry: { maxAttempts: 1 },
      fetch: async (url) => {
        throw new TypeError(`fetch failed for ${url}`);
      },
    });
    const error = (await client.getOrCreateExperiment("x").catch((e: unknown) => e)) as Error & { url: string; detail: string };
    expect(error.message).toMatch(/^MLflow GET http:\/\/\*\*\*@127\.0\.0\.1:9\/api/);
    for (const text of [error.message, error.url, error.detail]) expect(text).not.toContain("1234/56");
  });

  it("a malformed URI is refused without printing its credentials", () => {
    expect(() => new MlflowClient({ trackingUri: "ftp://alice:s3cret@host" })).toThrow(/"ftp:\/\/\*\*\*@host"/);
  });
});
