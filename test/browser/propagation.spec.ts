import { expect, test } from "@playwright/test";

test.describe("traceparent on fetch", () => {
  test("is added for the active span on allowlisted origins, keeping the request's own headers", async ({ page, baseURL }) => {
    await page.goto("/page/propagation");
    await page.waitForFunction(() => "runPropagation" in globalThis);
    const r = await page.evaluate((origin) => (globalThis as any).runPropagation([origin]), baseURL!);
    expect(r.inside).toBe(r.expected);
    expect(r.inside).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    expect(r.app).toBe("kept");
    expect(r.outside).toBeNull(); // no active span: no header
  });

  test("says -00 for a trace the page's sample rate leaves out, -01 for one it keeps, so the Worker records its part of exactly the kept ones", async ({ page }) => {
    await page.goto("/page/propagation");
    await page.waitForFunction(() => "runSampledFlags" in globalThis);
    const none = await page.evaluate(() => (globalThis as any).runSampledFlags(0, 3));
    expect(none).toEqual({ flags: ["00", "00", "00"], sampledOut: 3 });
    const all = await page.evaluate(() => (globalThis as any).runSampledFlags(1, 3));
    expect(all).toEqual({ flags: ["01", "01", "01"], sampledOut: 0 });
    const half = await page.evaluate(() => (globalThis as any).runSampledFlags(0.5, 40));
    expect(half.flags.filter((f: string) => f === "00").length).toBe(half.sampledOut);
    expect(half.sampledOut).toBeGreaterThan(0);
    expect(half.sampledOut).toBeLessThan(40);
  });

  test("is not sent to origins outside the allowlist", async ({ page }) => {
    await page.goto("/page/propagation");
    await page.waitForFunction(() => "runPropagation" in globalThis);
    const r = await page.evaluate(() => (globalThis as any).runPropagation(["https://api.example.com"]));
    expect(r.inside).toBeNull();
    expect(r.app).toBe("kept");
  });

  test("a RegExp in the allowlist matches every request, /g flag or not (a global RegExp's test() resumes from its last match)", async ({ page }) => {
    await page.goto("/page/propagation");
    await page.waitForFunction(() => "runRegexPropagation" in globalThis);
    for (const flags of ["", "g", "gy"]) {
      const sent = await page.evaluate((f) => (globalThis as any).runRegexPropagation("^http://127\\.0\\.0\\.1:\\d+/echo-headers$", f, 4), flags);
      expect(sent).toEqual([true, true, true, true]);
    }
  });

  test("a page with <base href> elsewhere: a relative fetch is checked against where it really goes", async ({ page, baseURL }) => {
    await page.goto("/page/propagation");
    await page.waitForFunction(() => "runBasePropagation" in globalThis);
    const page_ = new URL(baseURL!);
    const other = `http://localhost:${page_.port}`; // the same server under another origin
    // The page's own origin is allowlisted, the base's is not: the request to the base goes without it.
    const away = await page.evaluate(([allow, base]) => (globalThis as any).runBasePropagation([allow], base), [page_.origin, `${other}/`]);
    expect(away).toEqual({ host: `localhost:${page_.port}`, traceparent: false });
    // And the other way round: the base's origin is allowlisted, so its request carries it.
    const there = await page.evaluate(([allow, base]) => (globalThis as any).runBasePropagation([allow], base), [other, `${other}/`]);
    expect(there).toEqual({ host: `localhost:${page_.port}`, traceparent: true });
  });

  for (const kind of ["request-as-init", "other-realm-request", "class-init", "own-traceparent"]) {
    test(`changes nothing else in the request the app made: ${kind}`, async ({ page }) => {
      await page.goto("/page/propagation");
      await page.waitForFunction(() => "runShapes" in globalThis);
      await page.evaluate(() => new Promise((r) => document.body.append(Object.assign(document.createElement("iframe"), { src: "/health", onload: r }))));
      const r = await page.evaluate((k) => (globalThis as any).runShapes(k), kind);
      const seen = (h: Record<string, string>) => ({ method: h["x-echo-method"], length: h["content-length"] ?? null, type: h["content-type"] ?? null, app: h["x-app"] ?? null, auth: h.authorization ?? null });
      expect(seen(r.patched)).toEqual(seen(r.plain)); // before the fix: a Request as init became a GET; another realm's lost its headers
      if (kind !== "own-traceparent") expect(r.plain.traceparent).toBeUndefined();
      if (kind === "own-traceparent") expect(r.patched.traceparent).toBe("00-11111111111111111111111111111111-2222222222222222-01");
      else expect(r.patched.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    });
  }
  test("an app's fetch wrapper installed after initBrowser survives shutdown() and a second setup; after shutdown no traceparent is added", async ({ page }) => {
    await page.goto("/page/propagation");
    await page.waitForFunction(() => "runWrapperAcrossSetups" in globalThis);
    const r = await page.evaluate(() => (globalThis as any).runWrapperAcrossSetups());
    expect(r.before).toEqual({ wrapper: "yes", traceparent: true });
    expect(r.afterShutdown).toEqual({ wrapper: "yes", traceparent: false }); // the patch could not be taken out: it passes through
    expect(r.afterSecondSetup).toEqual({ wrapper: "yes", traceparent: true }); // the second setup wraps the app's wrapper, not the native fetch
  });

  test("an object with a url field that is not a Request is checked where fetch sends it (its String())", async ({ page, baseURL }) => {
    await page.goto("/page/propagation");
    await page.waitForFunction(() => "runUrlField" in globalThis);
    const port = new URL(baseURL!).port;
    const r = await page.evaluate(([allowed, real]) => (globalThis as any).runUrlField(allowed, real), [new URL(baseURL!).origin, `http://localhost:${port}/echo-headers`]);
    expect(r).toEqual({ host: `localhost:${port}`, traceparent: false });
  });
  for (const form of ["record", "array", "Headers", "Map", "URLSearchParams"]) {
    test(`an app's fetch wrapper installed before gets the call as the app made it (headers as ${form}), the traceparent among its headers`, async ({ page }) => {
      await page.goto("/page/propagation");
      await page.waitForFunction(() => "runWrapperBefore" in globalThis);
      const h = await page.evaluate((f) => (globalThis as any).runWrapperBefore(f), form);
      expect({ method: h["x-echo-method"], app: h["x-app"], type: h["content-type"], wrapper: h["x-app-wrapper"] }).toEqual({ method: "POST", app: "kept", type: "text/plain", wrapper: "yes" });
      expect(h.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    });
  }

  test("fetch called as odd code calls it answers as the native fetch does, and looks like it; a frozen /g RegExp allowlists", async ({ page }) => {
    await page.goto("/page/propagation");
    await page.waitForFunction(() => "runAsNative" in globalThis);
    const r = await page.evaluate(() => (globalThis as any).runAsNative());
    // (Before: fetch() sent GET /undefined, bad headers became valid ones, this was ignored, an
    // init's non-enumerable method and body were dropped, the Request lost its own headers, and a
    // frozen RegExp made every fetch in a span throw.)
    const withoutTraceparent = (calls: Record<string, { traceparent?: boolean }>) => Object.fromEntries(Object.entries(calls).map(([k, v]) => [k, { ...v, traceparent: undefined }]));
    expect(withoutTraceparent(r.traced.calls)).toEqual(withoutTraceparent(r.native.calls));
    expect(r.native.calls["no argument"].error).toMatch(/^TypeError/);
    expect(r.traced.calls["an init's non-enumerable fields"]).toMatchObject({ method: "POST", app: "kept", traceparent: true });
    expect(r.traced.calls["a Request whose toStringTag says otherwise"]).toMatchObject({ app: "kept", auth: "Bearer x", traceparent: true });
    expect(r.traced.shape).toEqual(r.native.shape); // length 1, named fetch, not a constructor
    expect(r.sent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
  });

  test("fetch(url, null) gets the traceparent too", async ({ page }) => {
    await page.goto("/page/propagation");
    await page.waitForFunction(() => "runWrapperBefore" in globalThis);
    const h = await page.evaluate(() => (globalThis as any).runWrapperBefore("null"));
    expect([h["x-echo-method"], h["x-app-wrapper"]]).toEqual(["GET", "yes"]);
    expect(h.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
  });

  test("zone.js: a listener registered in a span sends no traceparent once that span's trace was exported, and says so once", async ({ page }) => {
    await page.goto("/page/propagation?build=lowered&zone=1");
    await page.waitForFunction(() => "runFinishedTrace" in globalThis);
    const r = await page.evaluate(() => (globalThis as any).runFinishedTrace());
    // Before the fix both clicks carried the exported trace's id: the Worker joined a finished trace.
    expect(r.clicks).toEqual([null, null]);
    // A span that ended while its trace was still open is joined.
    expect(r.endedChild).toMatch(new RegExp(`^00-${r.traceId}-[0-9a-f]{16}-01$`));
    const said = r.warnings.filter((w: string) => w.includes(`trace tr-${r.traceId} was already exported`) && w.includes("without a traceparent"));
    expect(said).toHaveLength(1);
  });

  test("the synchronous stack: a request after an await inside a span goes without traceparent and without a warning (as the README says)", async ({ page }) => {
    await page.goto("/page/propagation");
    await page.waitForFunction(() => "runFetchAfterAwait" in globalThis);
    const r = await page.evaluate(() => (globalThis as any).runFetchAfterAwait());
    expect(r.sent).toEqual([true, false]);
    expect(r.warnings).toEqual([]);
  });
});

