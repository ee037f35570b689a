/**
 * Search snippets: the core marks matched words with U+0002 (start) and U+0003 (end).
 * They become parts the UI renders as text, the matched ones inside `<mark>`.
 */

export const HIGHLIGHT_START = "\u0002";
export const HIGHLIGHT_END = "\u0003";

export interface SnippetPart {
  text: string;
  match: boolean;
}

export function parseSnippet(snippet: string): SnippetPart[] {
  const parts: SnippetPart[] = [];
  let match = false;
  let text = "";
  const flush = () => {
    if (!text) return;
    const last = parts.at(-1);
    if (last && last.match === match) last.text += text;
    else parts.push({ text, match });
    text = "";
  };
  for (const ch of snippet) {
    if (ch === HIGHLIGHT_START) {
      flush();
      match = true;
    } else if (ch === HIGHLIGHT_END) {
      flush();
      match = false;
    } else {
      text += ch;
    }
  }
  flush();
  return parts;
}
