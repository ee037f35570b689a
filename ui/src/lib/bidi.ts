/**
 * Text from other people, shown so that it cannot reorder what is around it. Names and
 * file names are user-controlled: a bidirectional override inside one (U+202E) reverses
 * the text after it, so `invoice\u202Egnp.exe` reads as "invoiceexe.png", and a display
 * name could run into the words of the sentence it sits in. In markup a name goes in a
 * `<bdi>` (or an element styled `unicode-bidi: isolate`); in plain strings (a title, an
 * aria-label, a notice) `isolated` wraps it in FIRST STRONG ISOLATE … POP DIRECTIONAL
 * ISOLATE, which ends whatever the name opened. A file name is also shown without its
 * invisible format characters (`plainFileName`), since there the disguise is inside the
 * name itself; the desktop shell and the CLI strip the same set.
 */

/**
 * Characters that change how text reads without showing: the Arabic letter mark,
 * zero-width space and joiners, left-to-right and right-to-left marks, embeddings and
 * overrides, word joiner and invisible operators, isolates, the byte-order mark.
 */
const HIDDEN_FORMAT = /[\u061C\u200B-\u200F\u202A-\u202E\u2060-\u2069\uFEFF]/g;

/** Right-to-left scripts, and the controls: what can make a string reorder its neighbours. */
const REORDERS = /[\u0590-\u08FF\uFB1D-\uFDFF\uFE70-\uFEFC\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]|[\u{10800}-\u{10FFF}\u{1E800}-\u{1EFFF}]/u;

/** A file name as shown: without the invisible characters that could disguise it. */
export function plainFileName(name: string): string {
  const plain = name.replace(HIDDEN_FORMAT, "");
  return plain.trim() === "" ? "file" : plain;
}

/**
 * `text` for use inside a plain string: isolated (FSI … PDI) when it could reorder what
 * is around it, as it is otherwise (left-to-right text needs nothing).
 */
export function isolated(text: string): string {
  return REORDERS.test(text) ? `\u2068${text}\u2069` : text;
}
