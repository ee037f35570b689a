import { describe, expect, it } from "vitest";
import { member, user } from "../test/fixtures";
import { memberNames, mentioned, mentionToken, pieces, plainMentions, plainSnippet } from "./mentions";

const ANN = "019ac0c7-1b1e-7c55-9e0b-3f1d8f0c2a11";
const BO = "019ac0c7-1b1e-7c55-9e0b-3f1d8f0c2a22";
const names = (id: string) => ({ [ANN]: "Ann", [BO]: "Bo" })[id] ?? null;

describe("pieces", () => {
  it("finds mentions by id and leaves the rest as text (as ferry_proto::mentions does)", () => {
    const body = `hi ${mentionToken(ANN)} and ${mentionToken(BO)}, <@nope> <@ ${mentionToken(ANN)}!`;
    expect(pieces(body)).toEqual([
      { kind: "text", text: "hi " },
      { kind: "mention", userId: ANN },
      { kind: "text", text: " and " },
      { kind: "mention", userId: BO },
      { kind: "text", text: ", <@nope> <@ " },
      { kind: "mention", userId: ANN },
      { kind: "text", text: "!" },
    ]);
    expect(mentioned(body)).toEqual([ANN, BO]);
    expect(plainMentions(body, names)).toBe("hi @Ann and @Bo, <@nope> <@ @Ann!");
  });

  it("is one text piece, or none, without mentions", () => {
    expect(pieces("plain")).toEqual([{ kind: "text", text: "plain" }]);
    expect(pieces("")).toEqual([]);
    expect(pieces("a <b> c <@")).toEqual([{ kind: "text", text: "a <b> c <@" }]);
    expect(mentioned("no one")).toEqual([]);
  });

  it("looks on after a `<@` that is not a mention, up to the first `>` only", () => {
    expect(pieces(`<@<@${ANN}>`)).toEqual([
      { kind: "text", text: "<@" },
      { kind: "mention", userId: ANN },
    ]);
    // The id must fill the brackets: up to the first `>`, nothing more or less.
    expect(pieces(`<@${ANN} >`)).toEqual([{ kind: "text", text: `<@${ANN} >` }]);
    expect(pieces(`<@${ANN.slice(1)}>`)).toHaveLength(1);
    expect(pieces(`<@${ANN.replace(/-/g, "_")}>`)[0]!.kind).toBe("text");
  });

  it("takes every way Rust writes an id, as that id in lower case", () => {
    const upper = ANN.toUpperCase();
    for (const written of [upper, ANN.replace(/-/g, ""), `{${ANN}}`, `urn:uuid:${ANN}`, `URN:UUID:${upper}`]) {
      expect(pieces(`<@${written}>`), written).toEqual([{ kind: "mention", userId: ANN }]);
    }
    expect(pieces(`<@{${ANN}>`)[0]!.kind).toBe("text");
  });
});

describe("plainMentions", () => {
  it("names members as they are called now, and others as unknown", () => {
    const ann = user("Ann Example");
    const members = [member(ann)];
    const body = `${mentionToken(ann.id)}: ask ${mentionToken(BO)}`;
    expect(plainMentions(body, memberNames(members))).toBe("@Ann Example: ask @unknown");
    const renamed = [member({ ...ann, display_name: "Ann Renamed" })];
    expect(plainMentions(body, memberNames(renamed))).toBe("@Ann Renamed: ask @unknown");
  });

  it("isolates a name that could reorder the words around it", () => {
    expect(plainMentions(`${mentionToken(ANN)} ok`, () => "\u202Eevil")).toBe("@\u2068\u202Eevil\u2069 ok");
  });
});

describe("plainSnippet", () => {
  it("names whole mentions and drops the remnants of mentions cut at either end", () => {
    expect(plainSnippet(`hi ${mentionToken(ANN)}, \u0002lunch\u0003?`, names)).toBe("hi @Ann, \u0002lunch\u0003?");
    expect(plainSnippet(`…7c55-9e0b-3f1d8f0c2a11> are you \u0002in\u0003?`, names)).toBe("… are you \u0002in\u0003?");
    expect(plainSnippet(`…3f1d8f0c2a11> in`, names)).toBe("… in");
    expect(plainSnippet(`the \u0002ferry\u0003 <@019ac0c7-1b1e…`, names)).toBe("the \u0002ferry\u0003 …");
    // Text that merely ends like one stays.
    expect(plainSnippet("…see you> later", names)).toBe("…see you> later");
  });
});
