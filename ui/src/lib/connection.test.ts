import { describe, expect, it } from "vitest";
import { bannerFor } from "./connection";

describe("bannerFor", () => {
  it("says when the next attempt is while offline", () => {
    const retryAt = new Date(2024, 4, 15, 14, 3, 9).toISOString();
    expect(bannerFor({ state: "offline", retry_at: retryAt, reason: "refused" }, false, "en-GB")).toEqual({
      kind: "offline",
      text: "Offline — retrying at 14:03:09",
      reason: "refused",
    });
    expect(bannerFor({ state: "offline", retry_at: null, reason: null }, true)).toMatchObject({
      text: "Offline",
    });
  });

  it("says connecting, and back online only after trouble", () => {
    expect(bannerFor({ state: "connecting" }, false)).toEqual({ kind: "connecting", text: "Connecting…" });
    expect(bannerFor({ state: "online" }, true)).toEqual({ kind: "back-online", text: "Back online" });
    expect(bannerFor({ state: "online" }, false)).toBeNull();
  });

  it("asks to sign in again when the session ended", () => {
    expect(bannerFor({ state: "signed_out" }, false)?.kind).toBe("signed-out");
  });
});
