import { describe, expect, it } from "vitest";
import { coalesce } from "./coalesce";

function gate() {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

describe("coalesce", () => {
  it("folds calls made during a run into one more run", async () => {
    const gates = [gate(), gate()];
    let runs = 0;
    const run = coalesce(async () => {
      await gates[runs++]!.promise;
    });
    const first = run();
    const second = run();
    const third = run();
    expect(second).toBe(third);
    gates[0]!.open();
    await first;
    gates[1]!.open();
    await third;
    expect(runs).toBe(2);
  });

  it("runs again after a failed run", async () => {
    let runs = 0;
    const run = coalesce(async () => {
      runs++;
      if (runs === 1) throw new Error("boom");
    });
    await expect(run()).rejects.toThrow("boom");
    await run();
    expect(runs).toBe(2);
  });
});
