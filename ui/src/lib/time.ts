/**
 * How times read in the UI: clock times on messages, day labels on separators
 * ("Today", "Yesterday", a date), the short times of the conversation list and how long
 * ago a device was last used. Days are the user's local calendar days. `locale` is the
 * window's (`formatLocale()`) unless a test pins it; the words ("Today", "just now")
 * are in that locale's language, the rest is `Intl`'s.
 */
import { dateFormat, formatLocale, matchLanguage, relativeFormat } from "./i18n.svelte";
import { m } from "./paraglide/messages.js";

/** "09:05" on a 24-hour clock, "9:05 AM" on a 12-hour one. */
function hourStyle(locale: string): "numeric" | "2-digit" {
  const cycle = dateFormat(locale, { hour: "numeric" }).resolvedOptions().hourCycle;
  return cycle === "h11" || cycle === "h12" ? "numeric" : "2-digit";
}

/** "14:05" (or "2:05 PM", as the locale writes it). */
export function clockTime(iso: string, locale: string = formatLocale()): string {
  return dateFormat(locale, { hour: hourStyle(locale), minute: "2-digit" }).format(new Date(iso));
}

/** "14:05:09": for the next reconnect attempt, where seconds matter. */
export function clockTimeWithSeconds(iso: string, locale: string = formatLocale()): string {
  return dateFormat(locale, { hour: hourStyle(locale), minute: "2-digit", second: "2-digit" }).format(new Date(iso));
}

/** The local calendar day of `date`, as "YYYY-MM-DD" (sortable, comparable). */
export function dayKey(date: Date): string {
  const m = String(date.getMonth() + 1).padStart(2, "0");
  const d = String(date.getDate()).padStart(2, "0");
  return `${date.getFullYear()}-${m}-${d}`;
}

/** The calendar day `days` before `now` (by the calendar, so DST days count as one). */
function daysBefore(now: Date, days: number): Date {
  return new Date(now.getFullYear(), now.getMonth(), now.getDate() - days);
}

/** The message functions' options for `locale`'s language. */
function wordsFor(locale: string) {
  return { locale: matchLanguage([locale]) };
}

/** Whole calendar days from `date` to `now` (0 = the same day). */
function calendarDaysAgo(date: Date, now: Date): number {
  const a = Date.UTC(date.getFullYear(), date.getMonth(), date.getDate());
  const b = Date.UTC(now.getFullYear(), now.getMonth(), now.getDate());
  return Math.round((b - a) / 86_400_000);
}

/** A day separator: "Today", "Yesterday", "Monday 15 January", "15 January 2023". */
export function dayLabel(iso: string, now: Date = new Date(), locale: string = formatLocale()): string {
  const date = new Date(iso);
  const key = dayKey(date);
  if (key === dayKey(now)) return m.day_today({}, wordsFor(locale));
  if (key === dayKey(daysBefore(now, 1))) return m.day_yesterday({}, wordsFor(locale));
  if (date.getFullYear() === now.getFullYear()) {
    return dateFormat(locale, { weekday: "long", day: "numeric", month: "long" }).format(date);
  }
  return dateFormat(locale, { day: "numeric", month: "long", year: "numeric" }).format(date);
}

/** The time beside a conversation: clock time today, then "Yesterday", a weekday, a date. */
export function listTime(iso: string, now: Date = new Date(), locale: string = formatLocale()): string {
  const date = new Date(iso);
  const ago = calendarDaysAgo(date, now);
  if (ago <= 0) return clockTime(iso, locale);
  if (ago === 1) return m.day_yesterday({}, wordsFor(locale));
  if (ago < 7) return dateFormat(locale, { weekday: "short" }).format(date);
  if (date.getFullYear() === now.getFullYear()) {
    return dateFormat(locale, { day: "numeric", month: "short" }).format(date);
  }
  return dateFormat(locale, { day: "numeric", month: "short", year: "numeric" }).format(date);
}

/**
 * How long ago, to follow "Last used": "just now", "5 minutes ago", "3 hours ago", then
 * by calendar day "yesterday", "3 days ago", and after a week the date ("on 3 March",
 * with the year when it is not this one). A time ahead of `now` (another clock) is "just now".
 * The counts are `Intl.RelativeTimeFormat`'s, which knows each language's plurals.
 */
export function timeAgo(iso: string, now: Date = new Date(), locale: string = formatLocale()): string {
  const date = new Date(iso);
  const ago = relativeFormat(locale, { numeric: "auto" });
  const minutes = Math.floor((now.getTime() - date.getTime()) / 60_000);
  if (minutes < 1) return m.time_just_now({}, wordsFor(locale));
  if (minutes < 60) return ago.format(-minutes, "minute");
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return ago.format(-hours, "hour");
  const days = calendarDaysAgo(date, now);
  // A day or more by the clock is at least one calendar day; one reads "yesterday".
  if (days < 7) return ago.format(-days, "day");
  const day =
    date.getFullYear() === now.getFullYear()
      ? dateFormat(locale, { day: "numeric", month: "long" }).format(date)
      : dateFormat(locale, { day: "numeric", month: "long", year: "numeric" }).format(date);
  return m.time_on_date({ date: day }, wordsFor(locale));
}

/** A full date and time for tooltips. */
export function fullTime(iso: string, locale: string = formatLocale()): string {
  return dateFormat(locale, { dateStyle: "full", timeStyle: "short" }).format(new Date(iso));
}

/**
 * A time ahead, to follow "until": the clock time today ("18:00"), "tomorrow, 08:00",
 * then the day with the time ("Fri 28 Nov, 09:00").
 */
export function untilTime(iso: string, now: Date = new Date(), locale: string = formatLocale()): string {
  const date = new Date(iso);
  const ahead = -calendarDaysAgo(date, now);
  if (ahead <= 0) return clockTime(iso, locale);
  if (ahead === 1) return m.time_tomorrow_at({ time: clockTime(iso, locale) }, wordsFor(locale));
  return dateFormat(locale, {
    weekday: "short",
    day: "numeric",
    month: "short",
    hour: hourStyle(locale),
    minute: "2-digit",
  }).format(date);
}
