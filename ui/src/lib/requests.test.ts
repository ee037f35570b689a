import { describe, expect, it } from "vitest";
import { direct, group, ME, member, user } from "../test/fixtures";
import { reportable, whyClosed } from "./requests";

const ada = user("Ada Lovelace");
const grace = user("Grace Hopper");

describe("whyClosed", () => {
  it("is nothing in an ordinary conversation", () => {
    expect(whyClosed(direct(ada))).toBeNull();
    expect(whyClosed(group("Team", [ada]))).toBeNull();
  });

  it("says why this user cannot write: left, blocked, or a request not accepted", () => {
    expect(whyClosed(direct(ada, { request: true }))).toBe("request");
    expect(whyClosed(direct(ada, { blocked: true }))).toBe("blocked");
    expect(whyClosed(group("Team", [ada], { left: true }))).toBe("left");
    // Leaving a group request declines it: what shows is that the user left.
    expect(whyClosed(group("Team", [ada], { left: true, request: true }))).toBe("left");
  });
});

describe("reportable", () => {
  it("is the other person of a direct chat", () => {
    expect(reportable(direct(ada), ME.id)?.user).toEqual(ada);
  });

  it("is a group's owner, unless that is this user", () => {
    const theirs = group("Team", [ada, grace], {
      members: [member(ME), member(ada, { role: "owner" }), member(grace)],
    });
    expect(reportable(theirs, ME.id)?.user).toEqual(ada);
    expect(reportable(group("Mine", [ada]), ME.id)).toBeNull();
  });
});
