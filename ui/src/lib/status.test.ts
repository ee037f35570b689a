import { describe, expect, it } from "vitest";
import type { MessageStatus } from "./bindings/MessageStatus";
import { statusMark } from "./status";

describe("statusMark", () => {
  it.each<[MessageStatus, string, string, string]>([
    ["pending", "clock", "muted", "Waiting to send"],
    ["sent", "tick", "muted", "Sent"],
    ["delivered", "double-tick", "muted", "Delivered"],
    ["read", "double-tick", "read", "Read"],
    ["failed", "alert", "failed", "Not sent"],
  ])("%s → %s (%s)", (status, icon, tone, label) => {
    expect(statusMark(status)).toEqual({ icon, tone, label });
  });

  it("tells delivered from read by colour only where the ticks are the same", () => {
    expect(statusMark("delivered").icon).toBe(statusMark("read").icon);
    expect(statusMark("delivered").tone).not.toBe(statusMark("read").tone);
  });
});
