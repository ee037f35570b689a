import { describe, expect, it } from "vitest";
import { message } from "../test/fixtures";
import { threadRows } from "./days";

const NOW = new Date(2024, 4, 15, 14, 30);
const at = (d: number, h: number) => new Date(2024, 4, d, h, 0).toISOString();

describe("threadRows", () => {
  it("puts a separator before the first message of each local day", () => {
    const messages = [
      message({ created_at: at(10, 9), seq: 1 }),
      message({ created_at: at(14, 9), seq: 2 }),
      message({ created_at: at(14, 18), seq: 3 }),
      message({ created_at: at(15, 8), seq: 4 }),
    ];
    const rows = threadRows(messages, { now: NOW, locale: "en-GB" });
    expect(rows.map((r) => (r.kind === "day" ? r.label : r.kind))).toEqual([
      "Friday 10 May",
      "message",
      "Yesterday",
      "message",
      "message",
      "Today",
      "message",
    ]);
  });

  it("gives a day that comes back (clocks that disagree around midnight) a key of its own", () => {
    const messages = [
      message({ created_at: at(14, 23), seq: 1 }),
      message({ created_at: at(15, 0), seq: 2 }),
      message({ created_at: at(14, 23), seq: 3 }),
      message({ created_at: at(15, 1), seq: 4 }),
    ];
    const rows = threadRows(messages, { now: NOW, locale: "en-GB" });
    expect(rows.map((r) => (r.kind === "day" ? r.label : r.kind))).toEqual([
      "Yesterday",
      "message",
      "Today",
      "message",
      "Yesterday",
      "message",
      "Today",
      "message",
    ]);
    const keys = rows.map((r) => r.key);
    expect(new Set(keys).size).toBe(keys.length);
  });

  it("has no rows for no messages", () => {
    expect(threadRows([], { now: NOW })).toEqual([]);
  });

  it("marks where a run of one sender starts, again after a separator", () => {
    const ada = "ada";
    const messages = [
      message({ created_at: at(14, 9), sender_id: ada, mine: false }),
      message({ created_at: at(14, 10), sender_id: ada, mine: false }),
      message({ created_at: at(14, 11) }),
      message({ created_at: at(15, 9), sender_id: ada, mine: false }),
    ];
    const runs = threadRows(messages, { now: NOW }).flatMap((r) =>
      r.kind === "message" ? [r.firstOfRun] : [],
    );
    expect(runs).toEqual([true, false, true, true]);
  });

  it("puts the unread marker right before the first unread message", () => {
    const first = message({ created_at: at(15, 9), seq: 1 });
    const unread = message({ created_at: at(15, 10), seq: 2, mine: false, sender_id: "ada" });
    const rows = threadRows([first, unread], { now: NOW, firstUnreadId: unread.id });
    expect(rows.map((r) => r.kind)).toEqual(["day", "message", "unread", "message"]);
    expect(rows[3]).toMatchObject({ kind: "message", firstOfRun: true });
  });

  it("offers to ask for the history once, before the first message this device cannot open", () => {
    const ada = "ada";
    const gone = message({ created_at: at(14, 9), seq: 1, body: "", unreadable: true, deleted: true });
    const sealed = [2, 3, 4].map((seq) =>
      message({ created_at: at(15, seq), seq, body: "", unreadable: true, mine: false, sender_id: ada }),
    );
    const readable = message({ created_at: at(15, 9), seq: 5, mine: false, sender_id: ada });
    const rows = threadRows([gone, ...sealed, readable], { now: NOW, firstUnreadId: sealed[0]!.id });
    // A deleted one has nothing left to bring back: the line goes before the next.
    expect(rows.map((r) => r.kind)).toEqual([
      "day",
      "message",
      "day",
      "unread",
      "ask-history",
      "message",
      "message",
      "message",
      "message",
    ]);
    expect(rows[5]).toMatchObject({ kind: "message", message: sealed[0], firstOfRun: true });
    expect(threadRows([readable], { now: NOW }).some((r) => r.kind === "ask-history")).toBe(false);
    expect(threadRows([gone, readable], { now: NOW }).some((r) => r.kind === "ask-history")).toBe(false);
  });
});
