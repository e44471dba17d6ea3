import { defineConfig } from "@playwright/test";

// Browser tests: Debian's Chromium (scripts/chromium.sh) driven by Playwright, no browser download.
// test/browser/server.mjs serves the test pages, bundles them on demand (native or async-lowered
// builds) and stands in for the collector with fault injection (test/browser/collector-stub.mjs);
// test/e2e runs the demo with the real collector Worker under wrangler dev.
const PORT = Number(process.env.BROWSER_TEST_PORT ?? 8790);

export default defineConfig({
  // test/browser: the runtime's specs against the test server; test/e2e: the demo under wrangler dev.
  testDir: "test",
  testMatch: ["browser/**/*.spec.ts", "e2e/**/*.spec.ts"],
  timeout: 30_000,
  workers: 1,
  fullyParallel: false,
  reporter: process.env.PW_JSON_REPORT ? [["list"], ["json", { outputFile: process.env.PW_JSON_REPORT }]] : [["list"]],
  use: {
    baseURL: `http://127.0.0.1:${PORT}`,
    browserName: "chromium",
    headless: true,
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
      args: [
        "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
      ],
    },
  },
  webServer: {
    command: `node test/browser/server.mjs ${PORT}`,
    url: `http://127.0.0.1:${PORT}/health`,
    reuseExistingServer: false,
    timeout: 30_000,
    stdout: "ignore",
    stderr: "pipe",
  },
});
