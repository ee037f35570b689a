import { describe, expect, it } from "vitest";
import type { Reaction } from "./bindings/Reaction";
import { reactorsText } from "./reactions";

const names: Record<string, string> = { ada: "Ada Lovelace", grace: "Grace Hopper", me: "Morgan Me" };
const nameOf = (id: string) => names[id] ?? "Someone";
const reaction = (user_ids: string[], emoji = "👍"): Reaction => ({ emoji, user_ids, mine: user_ids.includes("me") });

describe("reactorsText", () => {
  it("names who reacted, this user as you and last", () => {
    expect(reactorsText(reaction(["ada"]), "me", nameOf)).toBe("Ada Lovelace reacted with 👍 (thumbs up)");
    expect(reactorsText(reaction(["me", "ada", "grace"]), "me", nameOf)).toBe(
      "Ada Lovelace, Grace Hopper and you reacted with 👍 (thumbs up)",
    );
    expect(reactorsText(reaction(["me"], "🦩"), "me", nameOf)).toBe("You reacted with 🦩");
  });

  it("counts the rest past the first few", () => {
    const many = Array.from({ length: 11 }, (_, i) => `u${i}`);
    const text = reactorsText(reaction(many), "me", (id) => id.toUpperCase());
    expect(text).toBe("U0, U1, U2, U3, U4, U5, U6, U7 and 3 others reacted with 👍 (thumbs up)");
  });
});
