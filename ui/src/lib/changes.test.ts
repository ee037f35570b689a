import { describe, expect, it } from "vitest";
import { direct, group, ME, member, message, user } from "../test/fixtures";
import { actionsFor, editChange, lastEditable, NO_ACTIONS, READ_ONLY, standingIn, type Standing } from "./changes";

const ada = user("Ada Lovelace");
const MEMBER: Standing = { member: true, moderator: false };
const OWNER: Standing = { member: true, moderator: true };

describe("standingIn", () => {
  it("makes the owner of a group a moderator, and nobody in a direct chat", () => {
    expect(standingIn(group("Team", [ada]), ME.id)).toEqual(OWNER);
    const asMember = group("Team", [ada], { members: [member(ME), member(ada, { role: "owner" })] });
    expect(standingIn(asMember, ME.id)).toEqual(MEMBER);
    const ownedDirect = direct(ada, { members: [member(ME, { role: "owner" }), member(ada)] });
    expect(standingIn(ownedDirect, ME.id)).toEqual(MEMBER);
  });

  it("leaves one who left nothing to change", () => {
    expect(standingIn(group("Team", [ada], { left: true }), ME.id)).toEqual(READ_ONLY);
  });

  it("leaves nothing to change in a request not yet accepted, or a chat this user blocked", () => {
    expect(standingIn(group("Team", [ada], { request: true }), ME.id)).toEqual(READ_ONLY);
    expect(standingIn(direct(ada, { blocked: true }), ME.id)).toEqual(READ_ONLY);
  });
});

describe("actionsFor", () => {
  const mine = message({ mine: true });
  const theirs = message({ mine: false, sender_id: ada.id });

  it("lets the author edit and delete, and anyone reply and react", () => {
    expect(actionsFor(mine, MEMBER)).toEqual({ reply: true, react: true, edit: true, delete: true });
    expect(actionsFor(theirs, MEMBER)).toEqual({ reply: true, react: true, edit: false, delete: false });
  });

  it("lets a group's owner delete other people's messages, never edit them", () => {
    expect(actionsFor(theirs, OWNER)).toEqual({ reply: true, react: true, edit: false, delete: true });
  });

  it("offers nothing on a deleted or failed message, or to one who left", () => {
    expect(actionsFor(message({ deleted: true, body: "" }), OWNER)).toEqual(NO_ACTIONS);
    expect(actionsFor(message({ status: "failed", seq: null }), OWNER)).toEqual(NO_ACTIONS);
    expect(actionsFor(mine, READ_ONLY)).toEqual(NO_ACTIONS);
  });

  it("offers no edit of one's own message this device cannot read, but the rest", () => {
    const sealed = message({ mine: true, body: "", unreadable: true });
    expect(actionsFor(sealed, MEMBER)).toEqual({ reply: true, react: true, edit: false, delete: true });
    expect(lastEditable([mine, sealed], MEMBER)).toBe(mine);
  });

  it("lets a pending message be edited and deleted (the core holds it)", () => {
    expect(actionsFor(message({ status: "pending", seq: null }), MEMBER)).toMatchObject({ edit: true, delete: true });
  });
});

describe("lastEditable", () => {
  it("is this user's newest message that can still be edited", () => {
    const older = message({ seq: 1, body: "older" });
    const newest = message({ seq: 2, body: "newest" });
    const deleted = message({ seq: 3, body: "", deleted: true });
    const theirs = message({ seq: 4, mine: false, sender_id: ada.id });
    const failed = message({ seq: null, status: "failed" });
    expect(lastEditable([older, newest, deleted, theirs, failed], MEMBER)).toBe(newest);
    expect(lastEditable([older, newest], READ_ONLY)).toBeNull();
    expect(lastEditable([theirs], MEMBER)).toBeNull();
    expect(lastEditable([], MEMBER)).toBeNull();
  });
});

describe("editChange", () => {
  it("tells a change from the same text and from a blank one", () => {
    expect(editChange("hello", "hello there")).toBe("changed");
    expect(editChange("hello", "  hello\n")).toBe("unchanged");
    expect(editChange("hello", " \n ")).toBe("blank");
    expect(editChange("hello", "")).toBe("blank");
  });
});
