import { describe, expect, it } from "vitest";
import { ago, attachment, direct, group, image, ME, member, message, user } from "../test/fixtures";
import {
  badgeText,
  conversationPicture,
  filterByName,
  otherMember,
  placeConversation,
  previewOf,
  sharesPresence,
  sortConversations,
  typingText,
} from "./conversations";

const ada = user("Ada Lovelace");
const grace = user("Grace Hopper");
const linus = user("Linus Torvalds");

describe("sortConversations", () => {
  it("puts the newest activity first", () => {
    const old = direct(ada, { updated_at: ago(300) });
    const recent = direct(grace, { updated_at: ago(1) });
    const middle = group("Team", [ada, grace], { updated_at: ago(30) });
    expect(sortConversations([old, recent, middle]).map((c) => c.name)).toEqual([
      "Grace Hopper",
      "Team",
      "Ada Lovelace",
    ]);
  });

  it("orders equal times by id, greatest first (as the core pages), and leaves the input alone", () => {
    const at = ago(5);
    const list = [
      direct(grace, { updated_at: at, id: "0000000a-0000-7000-8000-000000000000" }),
      direct(ada, { updated_at: at, id: "0000000b-0000-7000-8000-000000000000" }),
      direct(linus, { updated_at: at, id: "0000000B-0000-7000-8000-000000000000" }),
    ];
    // By code unit, as SQLite compares text: "b" > "a" > "B".
    expect(sortConversations(list).map((c) => c.name)).toEqual(["Ada Lovelace", "Grace Hopper", "Linus Torvalds"]);
    expect(list[0]!.name).toBe("Grace Hopper");
  });
});

describe("placeConversation", () => {
  it("puts each changed summary where a full sort would, for random updates", () => {
    // A small deterministic generator, so a failure can be replayed.
    let seed = 42;
    const random = (n: number) => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed % n;
    };
    // Few distinct times, so that ties (ordered by id) are common.
    const at = (minute: number) => new Date(Date.UTC(2024, 0, 1, 0, minute)).toISOString();
    let list = sortConversations(
      Array.from({ length: 60 }, () => direct(ada, { updated_at: at(random(20)) })),
    );
    for (let round = 0; round < 500; round++) {
      const changed =
        random(5) === 0
          ? direct(grace, { updated_at: at(random(30)) }) // one the list did not hold
          : { ...list[random(list.length)]!, updated_at: at(random(30)), unread_count: round };
      const expected = sortConversations([...list.filter((c) => c.id !== changed.id), changed]);
      list = placeConversation(list, changed);
      expect(list).toEqual(expected);
    }
    expect(new Set(list.map((c) => c.id)).size).toBe(list.length);
  });

  it("leaves the input alone", () => {
    const list = [direct(ada, { updated_at: ago(5) })];
    const placed = placeConversation(list, direct(grace, { updated_at: ago(1) }));
    expect(placed.map((c) => c.name)).toEqual(["Grace Hopper", "Ada Lovelace"]);
    expect(list.map((c) => c.name)).toEqual(["Ada Lovelace"]);
  });
});

describe("otherMember", () => {
  it("is the other person of a direct chat, and nobody in a group", () => {
    expect(otherMember(direct(ada), ME.id)?.user.id).toBe(ada.id);
    expect(otherMember(group("Team", [ada]), ME.id)).toBeNull();
  });
});

describe("conversationPicture", () => {
  const pictured = { ...ada, picture: "00000000-0000-7000-8000-0000000000f1" };

  it("is the other person's in a direct chat, none for a group or someone without one", () => {
    expect(conversationPicture(direct(pictured), ME.id)).toBe(pictured.picture);
    expect(conversationPicture(direct(grace), ME.id)).toBeNull();
    expect(conversationPicture(group("Team", [pictured, grace]), ME.id)).toBeNull();
    // Not one's own, whoever is listed first.
    const mine = { ...ME, picture: "00000000-0000-7000-8000-0000000000f2" };
    expect(conversationPicture(direct(grace, { members: [member(grace), member(mine)] }), ME.id)).toBeNull();
  });

  it("is held back while the chat is a message request, and once blocked", () => {
    expect(conversationPicture(direct(pictured, { request: true }), ME.id)).toBeNull();
    expect(conversationPicture(direct(pictured, { blocked: true }), ME.id)).toBeNull();
  });
});

describe("sharesPresence", () => {
  it("is only for a direct chat both accepted, with no block", () => {
    expect(sharesPresence(direct(ada))).toBe(true);
    expect(sharesPresence(group("Team", [ada]))).toBe(false);
    expect(sharesPresence(direct(ada, { request: true, members: [member(ME, { state: "request" }), member(ada)] }))).toBe(
      false,
    );
    expect(sharesPresence(direct(ada, { members: [member(ME), member(ada, { state: "request" })] }))).toBe(false);
    expect(sharesPresence(direct(ada, { members: [member(ME), member(ada, { state: "blocked" })] }))).toBe(false);
    expect(sharesPresence(direct(ada, { blocked: true }))).toBe(false);
  });
});

describe("previewOf", () => {
  it("says typing… when someone else types, whatever else there is", () => {
    const c = direct(ada, { typing: [ada.id], draft: "half", last_message: message() });
    expect(previewOf(c, ME.id)).toEqual({ kind: "typing", text: "typing…" });
  });

  it("ignores the user's own typing", () => {
    expect(previewOf(direct(ada, { typing: [ME.id] }), ME.id).kind).toBe("empty");
  });

  it("shows a draft, except in the open conversation", () => {
    const c = direct(ada, { draft: "see you\nat  noon", last_message: message({ body: "hi" }) });
    expect(previewOf(c, ME.id)).toEqual({ kind: "draft", text: "see you at noon" });
    expect(previewOf(c, ME.id, true)).toMatchObject({ kind: "message", text: "You: hi" });
  });

  it("prefixes own messages with You and carries their status", () => {
    const last = message({ body: "on my way", status: "pending" });
    expect(previewOf(direct(ada, { last_message: last }), ME.id)).toEqual({
      kind: "message",
      text: "You: on my way",
      at: last.created_at,
      status: "pending",
    });
  });

  it("says what a message of files is: its caption or its files, after a paperclip", () => {
    const photos = message({ body: "", attachments: [image(), image({ index: 1 })] });
    expect(previewOf(direct(ada, { last_message: photos }), ME.id)).toMatchObject({ text: "You: 📎 2 photos" });
    const captioned = message({ body: "minutes\nof today", mine: false, sender_id: grace.id, attachments: [attachment()] });
    expect(previewOf(group("Team", [grace], { last_message: captioned }), ME.id)).toMatchObject({
      text: "Grace: 📎 minutes of today",
    });
    const gone = { ...captioned, body: "", deleted: true };
    expect(previewOf(direct(grace, { last_message: gone }), ME.id)).toMatchObject({ text: "Message deleted" });
  });

  it("names the sender in groups but not in direct chats; no status for others", () => {
    const last = message({ body: "hello", mine: false, sender_id: grace.id });
    expect(previewOf(group("Team", [grace], { last_message: last }), ME.id)).toMatchObject({
      text: "Grace: hello",
      status: null,
    });
    expect(previewOf(direct(grace, { last_message: last }), ME.id)).toMatchObject({ text: "hello" });
  });

  it("names mentions in the last message and the draft as the members are called now", () => {
    const last = message({ body: `<@${ada.id}>\nlook`, mine: false, sender_id: grace.id });
    const team = group("Team", [ada, grace], { last_message: last });
    expect(previewOf(team, ME.id)).toMatchObject({ text: "Grace: @Ada Lovelace look" });
    const renamed = { ...team, members: [member(ME), member({ ...ada, display_name: "Ada King" }), member(grace)] };
    expect(previewOf(renamed, ME.id)).toMatchObject({ text: "Grace: @Ada King look" });
    expect(previewOf({ ...team, draft: `ask <@${grace.id}>` }, ME.id)).toEqual({ kind: "draft", text: "ask @Grace Hopper" });
  });

  it("says a last message deleted for everyone was deleted (its text is gone)", () => {
    const last = message({ body: "", deleted: true, mine: false, sender_id: grace.id });
    expect(previewOf(group("Team", [grace], { last_message: last }), ME.id)).toMatchObject({
      kind: "message",
      text: "Grace: Message deleted",
    });
  });

  it("says a last message this device cannot read (sealed before it joined) cannot be read here", () => {
    const last = message({ body: "", unreadable: true, mine: false, sender_id: grace.id });
    expect(previewOf(group("Team", [grace], { last_message: last }), ME.id)).toMatchObject({
      kind: "message",
      text: "Grace: Can't be read on this device",
    });
    const mine = message({ body: "", unreadable: true, status: "read" });
    expect(previewOf(direct(grace, { last_message: mine }), ME.id)).toMatchObject({
      text: "You: Can't be read on this device",
      status: "read",
    });
  });

  it("says when there is nothing yet", () => {
    expect(previewOf(direct(ada), ME.id)).toEqual({ kind: "empty", text: "No messages yet" });
  });

  it("says only that a message request is one: the stranger's words wait until it is opened", () => {
    const last = message({ body: "buy my crypto", mine: false, sender_id: ada.id });
    const request = direct(ada, { request: true, last_message: last, typing: [ada.id] });
    expect(previewOf(request, ME.id)).toEqual({ kind: "request", text: "Message request" });
    expect(previewOf(group("Team", [ada], { request: true, last_message: last }), ME.id).kind).toBe("request");
    // A group request left is no longer a request to answer.
    expect(previewOf(group("Team", [ada], { request: true, left: true }), ME.id).kind).toBe("empty");
  });

  it("keeps a blocked stranger's words hidden (the block ends the request, not the hiding)", () => {
    const last = message({ body: "buy my crypto", mine: false, sender_id: ada.id });
    const blocked = direct(ada, { blocked: true, last_message: last, draft: "no thanks" });
    expect(previewOf(blocked, ME.id)).toEqual({ kind: "blocked", text: "You blocked them" });
  });
});

describe("typingText", () => {
  it("names one or two people, and counts more", () => {
    const team = group("Team", [ada, grace, linus]);
    expect(typingText({ ...team, typing: [] }, ME.id)).toBeNull();
    expect(typingText({ ...team, typing: [ada.id] }, ME.id)).toBe("Ada Lovelace is typing…");
    expect(typingText({ ...team, typing: [ada.id, grace.id] }, ME.id)).toBe(
      "Ada Lovelace and Grace Hopper are typing…",
    );
    expect(typingText({ ...team, typing: [ada.id, grace.id, linus.id] }, ME.id)).toBe(
      "3 people are typing…",
    );
  });

  it("falls back to Someone for a user no longer listed", () => {
    const c = direct(ada, { members: [member(ME)], typing: [ada.id] });
    expect(typingText(c, ME.id)).toBe("Someone is typing…");
  });
});

describe("filterByName", () => {
  const list = [
    direct(user("Zoë Ångström")),
    group("Book club", [ada]),
    direct(ada),
    group("Ada fans", [ada]),
  ];

  it("matches anywhere, ignoring case and accents, prefixes first", () => {
    expect(filterByName(list, "ada").map((c) => c.name)).toEqual(["Ada Lovelace", "Ada fans"]);
    expect(filterByName(list, "CLUB").map((c) => c.name)).toEqual(["Book club"]);
    expect(filterByName(list, "angst").map((c) => c.name)).toEqual(["Zoë Ångström"]);
    expect(filterByName(list, "ook").map((c) => c.name)).toEqual(["Book club"]);
  });

  it("returns everything for an empty query and nothing for no match", () => {
    expect(filterByName(list, "  ")).toHaveLength(4);
    expect(filterByName(list, "xyz")).toEqual([]);
  });
});

describe("badgeText", () => {
  it("caps at 99+", () => {
    expect(badgeText(1)).toBe("1");
    expect(badgeText(99)).toBe("99");
    expect(badgeText(100)).toBe("99+");
  });
});
