// The reported message placed among its context, whether or not the context holds it.
import { describe, expect, it } from "vitest";
import { excerpt } from "./excerpt";
import { fakeMessage, fakeUser } from "./fake-server";

describe("the excerpt of a report", () => {
  const ann = fakeUser("ann");
  const before = fakeMessage(ann, 4, "before");
  const reported = fakeMessage(ann, 5, "the one");
  const after = fakeMessage(ann, 6, "after");

  it("puts the reported message in its place among the context, once", () => {
    const lines = excerpt({ message: reported, context: [after, before] });
    expect(lines.map((l) => [l.message.body, l.reported])).toEqual([
      ["before", false],
      ["the one", true],
      ["after", false],
    ]);
    const holding = excerpt({ message: reported, context: [before, { ...reported, body: "older copy" }, after] });
    expect(holding.map((l) => l.message.body)).toEqual(["before", "the one", "after"]);
  });

  it("is the context alone when no message was reported", () => {
    expect(excerpt({ message: null, context: [before] })).toEqual([{ message: before, reported: false }]);
    expect(excerpt({ message: null, context: [] })).toEqual([]);
  });
});
