import { describe, expect, it, vi } from "vitest";
import { PreviewCache, previewKey } from "./previews";

/** A load the test answers when it likes. */
function deferred() {
  let resolve!: (url: string) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<string>((yes, no) => {
    resolve = yes;
    reject = no;
  });
  return { promise, resolve, reject };
}

describe("PreviewCache", () => {
  it("keys one file of one message", () => {
    expect(previewKey("m1", 0)).toBe("m1/0");
    expect(previewKey("m1", 1)).not.toBe(previewKey("m1", 0));
  });

  it("loads once, however many ask meanwhile, and then answers from memory", async () => {
    const cache = new PreviewCache();
    const answer = deferred();
    const load = vi.fn(() => answer.promise);
    const first = cache.fetch("m/0", load);
    const second = cache.fetch("m/0", load);
    expect(cache.get("m/0")).toBeNull();
    answer.resolve("data:image/png;base64,AA==");
    expect(await first).toBe("data:image/png;base64,AA==");
    expect(await second).toBe("data:image/png;base64,AA==");
    expect(await cache.fetch("m/0", load)).toBe("data:image/png;base64,AA==");
    expect(cache.get("m/0")).toBe("data:image/png;base64,AA==");
    expect(load).toHaveBeenCalledOnce();
  });

  it("keeps no failure: the next ask tries again", async () => {
    const cache = new PreviewCache();
    const load = vi
      .fn<() => Promise<string>>()
      .mockRejectedValueOnce({ kind: "offline", message: "the server cannot be reached" })
      .mockResolvedValueOnce("data:,later");
    await expect(cache.fetch("m/0", load)).rejects.toMatchObject({ kind: "offline" });
    expect(cache.get("m/0")).toBeNull();
    expect(await cache.fetch("m/0", load)).toBe("data:,later");
    expect(load).toHaveBeenCalledTimes(2);
  });

  it("lets the least recently shown go first once full", async () => {
    const cache = new PreviewCache(2);
    await cache.fetch("a", async () => "A");
    await cache.fetch("b", async () => "B");
    // Shown again: "a" is now the most recent, so "b" goes when "c" comes.
    expect(cache.get("a")).toBe("A");
    await cache.fetch("c", async () => "C");
    expect(cache.size).toBe(2);
    expect(cache.get("b")).toBeNull();
    expect(cache.get("a")).toBe("A");
    expect(cache.get("c")).toBe("C");
  });

  it("forgets everything on clear, including what a load started before brings", async () => {
    const cache = new PreviewCache();
    await cache.fetch("a", async () => "A");
    const late = deferred();
    const pending = cache.fetch("b", () => late.promise);
    cache.clear();
    late.resolve("B");
    // The one who asked still gets it; the cache does not keep it.
    expect(await pending).toBe("B");
    expect(cache.get("a")).toBeNull();
    expect(cache.get("b")).toBeNull();
    expect(cache.size).toBe(0);
  });
});
