// What the thread's header says while a conversation's encryption waits: this device
// joining, or whose devices have no keys yet, with the user's own other device named as
// theirs; nothing once nothing waits, or after leaving.
import { render, screen } from "@testing-library/svelte";
import { describe, expect, it } from "vitest";
import type { ConversationSummary } from "../bindings/ConversationSummary";
import { direct, group, ME, user } from "../../test/fixtures";
import EncryptionWaits from "./EncryptionWaits.svelte";

const ada = user("Ada Lovelace");
const grace = user("Grace Hopper");

function shown(conversation: ConversationSummary): string | null {
  render(EncryptionWaits, { conversation, meId: ME.id });
  // Names are isolated where their direction needs it; the words are what is checked.
  const text = screen.queryByTestId("encryption-waits")?.textContent?.trim();
  return text === undefined ? null : text.replace(/[\u2068\u2069]/g, "");
}

describe("EncryptionWaits", () => {
  it("says nothing when nothing waits", () => {
    expect(shown(direct(ada))).toBeNull();
    expect(shown(direct(ada, { encrypted: true }))).toBeNull();
  });

  it("says this device is joining, and that what is sent waits", () => {
    expect(shown(direct(ada, { encrypted: true, joining: true }))).toBe(
      "This device is joining the encryption: what you send waits until it has",
    );
    expect(screen.getByTestId("encryption-waits")).toHaveAttribute("data-joining", "true");
  });

  it("says why a chat is not encrypted yet: whose devices have no keys", () => {
    expect(shown(direct(ada, { without_keys: [ada.id] }))).toBe(
      "Not end-to-end encrypted yet: waiting for Ada Lovelace to set up encryption",
    );
  });

  it("names the user's own device as theirs", () => {
    expect(shown(direct(ada, { without_keys: [ME.id] }))).toBe(
      "Not end-to-end encrypted yet: waiting for your other device to set up encryption (it does when it is next online)",
    );
  });

  it("names the user's own device and the others together", () => {
    expect(shown(group("Team", [ada, grace], { without_keys: [ME.id, grace.id] }))).toBe(
      "Not end-to-end encrypted yet: waiting for your other device and for Grace Hopper to set up encryption",
    );
  });

  it("says who cannot read an encrypted group yet, and not the user's own device", () => {
    expect(shown(group("Team", [ada, grace], { encrypted: true, without_keys: [grace.id, ME.id] }))).toBe(
      "Grace Hopper cannot read new messages here until their app sets up encryption",
    );
  });

  it("says nothing of someone no longer a member, nor after leaving", () => {
    expect(shown(direct(ada, { without_keys: [grace.id] }))).toBeNull();
    expect(shown(direct(ada, { left: true, encrypted: true, joining: true }))).toBeNull();
  });
});
