// Vite 8 pre-bundles dependencies with Rolldown and ignores optimizeDeps.esbuildOptions (it warns
// that the option is deprecated), so mlflowEdgeZone() must hand Rolldown a plugin that lowers them.
// The repository runs Vite 7: Vite's version is the one thing faked here; the lowering is real.
import { describe, expect, it, vi } from "vitest";

vi.mock("vite", async (importOriginal) => ({ ...(await importOriginal<typeof import("vite")>()), version: "8.4.1" }));

const { mlflowEdgeZone } = await import("../../browser/build.js");

type DepsPlugin = { name: string; transform(code: string, id: string): Promise<{ code: string } | null> | null };
type Config = { optimizeDeps?: { esbuildOptions?: unknown; rolldownOptions?: { plugins?: DepsPlugin[] } } };

describe("mlflowEdgeZone() on Vite 8", () => {
  it("lowers pre-bundled dependencies through Rolldown's optimizer, and sets no deprecated esbuildOptions", async () => {
    const config = (await mlflowEdgeZone().config()) as Config;
    expect(config.optimizeDeps?.esbuildOptions).toBeUndefined();
    const [plugin] = config.optimizeDeps?.rolldownOptions?.plugins ?? [];
    expect(plugin).toBeDefined();
    const dep = "export async function get(db) { const tx = await db.open(); for await (const x of tx) use(x); }";
    const lowered = await plugin!.transform(dep, "/app/node_modules/idb/build/index.js?v=1");
    expect(lowered?.code).toMatch(/function\*|__async/);
    expect(lowered?.code).not.toMatch(/\basync\s+function\b|\bfor\s+await\b/);
    // The optimizer's scan also reads the app's entries: TypeScript there is Vite's to compile.
    expect(await plugin!.transform("const f = async (x: number): Promise<number> => await x;", "/app/src/main.ts")).toBeNull();
  });
});
