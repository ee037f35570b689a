import { describe, expect, it } from "vitest";
import { clockTime, clockTimeWithSeconds, dayKey, dayLabel, listTime, timeAgo } from "./time";

// Local times, so the tests hold in any time zone.
const local = (y: number, m: number, d: number, h = 12, min = 0, s = 0) =>
  new Date(y, m - 1, d, h, min, s).toISOString();
const NOW = new Date(2024, 4, 15, 14, 30); // Wednesday 15 May 2024, 14:30

describe("clock times", () => {
  it("shows hours and minutes, with seconds where asked", () => {
    expect(clockTime(local(2024, 5, 15, 9, 5), "en-GB")).toBe("09:05");
    expect(clockTimeWithSeconds(local(2024, 5, 15, 21, 7, 3), "en-GB")).toBe("21:07:03");
    expect(clockTime(local(2024, 5, 15, 9, 5), "en-US")).toBe("9:05 AM");
  });
});

describe("dayKey", () => {
  it("uses the local calendar day, either side of midnight", () => {
    expect(dayKey(new Date(2024, 0, 31, 23, 59))).toBe("2024-01-31");
    expect(dayKey(new Date(2024, 1, 1, 0, 1))).toBe("2024-02-01");
  });
});

describe("dayLabel", () => {
  it("says Today and Yesterday by calendar day, not by 24 hours", () => {
    expect(dayLabel(local(2024, 5, 15, 0, 1), NOW, "en-GB")).toBe("Today");
    expect(dayLabel(local(2024, 5, 14, 23, 59), NOW, "en-GB")).toBe("Yesterday");
    expect(dayLabel(local(2024, 5, 14, 0, 0), NOW, "en-GB")).toBe("Yesterday");
  });

  it("names older days with the weekday this year and the year before", () => {
    expect(dayLabel(local(2024, 5, 10), NOW, "en-GB")).toBe("Friday 10 May");
    expect(dayLabel(local(2023, 12, 25), NOW, "en-GB")).toBe("25 December 2023");
  });

  it("counts yesterday across a month boundary", () => {
    expect(dayLabel(local(2024, 4, 30), new Date(2024, 4, 1, 8), "en-GB")).toBe("Yesterday");
  });
});

describe("listTime", () => {
  it("is the clock time today, then Yesterday, a weekday, a date", () => {
    expect(listTime(local(2024, 5, 15, 8, 45), NOW, "en-GB")).toBe("08:45");
    expect(listTime(local(2024, 5, 14, 22, 0), NOW, "en-GB")).toBe("Yesterday");
    expect(listTime(local(2024, 5, 11), NOW, "en-GB")).toBe("Sat");
    expect(listTime(local(2024, 3, 2), NOW, "en-GB")).toBe("2 Mar");
    expect(listTime(local(2023, 11, 20), NOW, "en-GB")).toBe("20 Nov 2023");
  });
});

describe("timeAgo", () => {
  it("counts minutes, then hours, within the last day", () => {
    expect(timeAgo(local(2024, 5, 15, 14, 29, 30), NOW, "en-GB")).toBe("just now");
    expect(timeAgo(local(2024, 5, 15, 14, 31), NOW, "en-GB")).toBe("just now");
    expect(timeAgo(local(2024, 5, 15, 14, 29), NOW, "en-GB")).toBe("1 minute ago");
    expect(timeAgo(local(2024, 5, 15, 13, 45), NOW, "en-GB")).toBe("45 minutes ago");
    expect(timeAgo(local(2024, 5, 15, 13, 30), NOW, "en-GB")).toBe("1 hour ago");
    expect(timeAgo(local(2024, 5, 14, 15, 0), NOW, "en-GB")).toBe("23 hours ago");
  });

  it("counts calendar days after that, then names the date", () => {
    expect(timeAgo(local(2024, 5, 14, 9, 0), NOW, "en-GB")).toBe("yesterday");
    expect(timeAgo(local(2024, 5, 12, 20, 0), NOW, "en-GB")).toBe("3 days ago");
    expect(timeAgo(local(2024, 5, 3), NOW, "en-GB")).toBe("on 3 May");
    expect(timeAgo(local(2023, 12, 25), NOW, "en-GB")).toBe("on 25 December 2023");
  });
});
