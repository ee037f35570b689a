import { describe, expect, it } from "vitest";
import { displayNameProblem, newPasswordProblem } from "./account";

describe("a display name", () => {
  it("is 1 to 64 characters once trimmed, an emoji counting as one", () => {
    expect(displayNameProblem("  Ada  ")).toBeNull();
    expect(displayNameProblem("   ")).toBe("Your name cannot be empty.");
    expect(displayNameProblem("a".repeat(64))).toBeNull();
    expect(displayNameProblem(` ${"a".repeat(65)} `)).toBe("Your name can be at most 64 characters.");
    // 64 emoji are 128 UTF-16 units, but 64 characters to the server.
    expect(displayNameProblem("🚢".repeat(64))).toBeNull();
  });
});

describe("a new password", () => {
  it("is 8 to 1,024 characters, typed the same twice", () => {
    expect(newPasswordProblem("correct horse", "correct horse")).toBeNull();
    expect(newPasswordProblem("short", "short")).toBe("The new password needs at least 8 characters.");
    expect(newPasswordProblem("🚢🚢🚢🚢", "🚢🚢🚢🚢")).toBe("The new password needs at least 8 characters.");
    expect(newPasswordProblem("x".repeat(1025), "x".repeat(1025))).toBe(
      "The new password can be at most 1,024 characters.",
    );
    expect(newPasswordProblem("correct horse", "correct hose")).toBe("The two new passwords are not the same.");
  });
});
