/**
 * The emoji the reaction picker offers, with the names its search box matches: the
 * ones chat reactions use most (Slack's, Signal's and Element's quick rows first), then
 * faces, hands, hearts and common things. Not the whole Unicode set: a reaction picker
 * that lists 3,600 glyphs is one nobody scrolls, and the core accepts any emoji anyway.
 */

export interface Emoji {
  emoji: string;
  /** Its common name, which the search matches first ("thumbs up"). */
  name: string;
  /** Other words people search for it by ("like", "yes"). */
  keywords: readonly string[];
}

const e = (emoji: string, name: string, ...keywords: string[]): Emoji => ({ emoji, name, keywords });

export const EMOJI: readonly Emoji[] = [
  // The quick row: what most reactions are.
  e("👍", "thumbs up", "like", "yes", "agree", "+1", "approve"),
  e("❤️", "red heart", "love", "like"),
  e("😂", "face with tears of joy", "laugh", "lol", "funny", "haha"),
  e("😮", "face with open mouth", "wow", "surprised", "shock"),
  e("😢", "crying face", "sad", "tear", "cry"),
  e("🙏", "folded hands", "please", "thanks", "pray", "high five"),
  e("🎉", "party popper", "party", "celebrate", "congratulations", "tada", "hooray"),
  e("👀", "eyes", "looking", "watching", "seen"),
  e("🔥", "fire", "hot", "lit", "flame"),
  e("✅", "check mark button", "done", "ok", "yes", "complete", "tick"),
  // Hands.
  e("👎", "thumbs down", "dislike", "no", "disagree", "-1"),
  e("👏", "clapping hands", "clap", "applause", "bravo"),
  e("🙌", "raising hands", "hooray", "celebrate", "yay"),
  e("👋", "waving hand", "wave", "hello", "hi", "bye"),
  e("👌", "ok hand", "ok", "perfect", "fine"),
  e("✌️", "victory hand", "peace", "victory"),
  e("🤞", "crossed fingers", "luck", "hope"),
  e("💪", "flexed biceps", "strong", "muscle", "strength"),
  e("🤝", "handshake", "deal", "agreement", "meeting"),
  e("👆", "backhand index pointing up", "up", "this", "above"),
  e("👇", "backhand index pointing down", "down", "below"),
  e("🫡", "saluting face", "salute", "yes sir", "respect"),
  // Faces.
  e("😀", "grinning face", "smile", "happy", "grin"),
  e("😃", "grinning face with big eyes", "smile", "happy"),
  e("😄", "grinning face with smiling eyes", "smile", "happy", "laugh"),
  e("😁", "beaming face with smiling eyes", "grin", "happy"),
  e("😅", "grinning face with sweat", "phew", "relief", "nervous"),
  e("🤣", "rolling on the floor laughing", "rofl", "laugh", "lol"),
  e("🙂", "slightly smiling face", "smile"),
  e("😉", "winking face", "wink"),
  e("😊", "smiling face with smiling eyes", "blush", "happy"),
  e("😇", "smiling face with halo", "angel", "innocent"),
  e("🥰", "smiling face with hearts", "love", "adore"),
  e("😍", "smiling face with heart-eyes", "love", "crush"),
  e("😘", "face blowing a kiss", "kiss", "love"),
  e("😋", "face savoring food", "yum", "delicious", "tasty"),
  e("😛", "face with tongue", "tongue", "playful"),
  e("😜", "winking face with tongue", "crazy", "playful", "joke"),
  e("🤪", "zany face", "crazy", "goofy"),
  e("🤗", "smiling face with open hands", "hug", "hugging"),
  e("🤭", "face with hand over mouth", "oops", "giggle"),
  e("🤫", "shushing face", "quiet", "secret", "shh"),
  e("🤔", "thinking face", "think", "hmm", "consider"),
  e("🤨", "face with raised eyebrow", "skeptical", "doubt", "suspicious"),
  e("😐", "neutral face", "meh", "blank"),
  e("😏", "smirking face", "smirk", "smug"),
  e("🙄", "face with rolling eyes", "eye roll", "whatever"),
  e("😬", "grimacing face", "awkward", "yikes", "grimace"),
  e("😌", "relieved face", "relief", "calm"),
  e("😔", "pensive face", "sad", "thoughtful"),
  e("😴", "sleeping face", "sleep", "tired", "zzz"),
  e("🤯", "exploding head", "mind blown", "shocked"),
  e("🥳", "partying face", "party", "celebrate", "birthday"),
  e("😎", "smiling face with sunglasses", "cool", "sunglasses"),
  e("🤓", "nerd face", "nerd", "geek"),
  e("😕", "confused face", "confused", "unsure"),
  e("😟", "worried face", "worried", "concern"),
  e("🙁", "slightly frowning face", "frown", "sad"),
  e("😲", "astonished face", "shocked", "amazed", "wow"),
  e("😳", "flushed face", "embarrassed", "blush"),
  e("🥺", "pleading face", "please", "puppy eyes"),
  e("😭", "loudly crying face", "sob", "cry", "sad"),
  e("😱", "face screaming in fear", "scream", "scared", "horror"),
  e("😤", "face with steam from nose", "frustrated", "triumph"),
  e("😡", "enraged face", "angry", "mad", "rage"),
  e("💀", "skull", "dead", "dying", "lol"),
  e("🤡", "clown face", "clown", "silly"),
  e("🤖", "robot", "bot", "machine"),
  e("👻", "ghost", "boo", "spooky"),
  e("🫠", "melting face", "melt", "embarrassed", "hot"),
  e("🫶", "heart hands", "love", "thanks"),
  // Hearts and symbols.
  e("🧡", "orange heart", "love"),
  e("💛", "yellow heart", "love"),
  e("💚", "green heart", "love"),
  e("💙", "blue heart", "love"),
  e("💜", "purple heart", "love"),
  e("🖤", "black heart", "love"),
  e("💔", "broken heart", "sad", "heartbreak"),
  e("💯", "hundred points", "100", "perfect", "score", "keep it 100"),
  e("❌", "cross mark", "no", "wrong", "x"),
  e("❗", "red exclamation mark", "important", "attention", "bang"),
  e("❓", "red question mark", "question", "what"),
  e("⚠️", "warning", "caution", "alert"),
  e("⭐", "star", "favourite", "favorite"),
  e("✨", "sparkles", "shiny", "magic", "new"),
  e("⚡", "high voltage", "lightning", "fast", "zap"),
  e("💡", "light bulb", "idea", "tip"),
  e("🚀", "rocket", "launch", "ship", "fast"),
  e("🎯", "bullseye", "target", "goal", "direct hit"),
  e("🏆", "trophy", "win", "award", "champion"),
  e("🎂", "birthday cake", "birthday", "cake"),
  e("🎁", "wrapped gift", "present", "gift", "birthday"),
  e("☕", "hot beverage", "coffee", "tea", "break"),
  e("🍕", "pizza", "food", "lunch"),
  e("🍻", "clinking beer mugs", "cheers", "beer", "drinks"),
  e("🐛", "bug", "insect", "defect"),
  e("🌈", "rainbow", "pride", "colour", "color"),
  e("📌", "pushpin", "pin", "important"),
  e("📝", "memo", "note", "write"),
  e("➕", "plus", "add", "+1", "more"),
];

const byEmoji = new Map(EMOJI.map((x) => [x.emoji, x]));

/** The name of `emoji`, if the picker knows it. */
export function emojiName(emoji: string): string | null {
  return byEmoji.get(emoji)?.name ?? null;
}

function fold(text: string): string {
  return text.normalize("NFD").replace(/\p{M}/gu, "").toLocaleLowerCase().trim();
}

/**
 * Emoji whose name or keywords match `query` (ignoring case and accents): names that
 * start with it first, then names with a word that does, then keywords that start with
 * it, then anything containing it; the picker's order otherwise. Every emoji for a
 * blank query; the emoji itself matches too (pasted into the box).
 */
export function searchEmoji(query: string): Emoji[] {
  const q = fold(query);
  if (!q) return [...EMOJI];
  const words = (text: string) => text.split(/[\s-]+/);
  const rank = (x: Emoji): number => {
    if (x.emoji === query.trim()) return 0;
    const name = fold(x.name);
    if (name.startsWith(q)) return 0;
    if (words(name).some((w) => w.startsWith(q))) return 1;
    const keywords = x.keywords.map(fold);
    if (keywords.some((k) => k.startsWith(q) || words(k).some((w) => w.startsWith(q)))) return 2;
    if (name.includes(q) || keywords.some((k) => k.includes(q))) return 3;
    return -1;
  };
  return EMOJI.map((x, index) => ({ x, index, rank: rank(x) }))
    .filter((m) => m.rank >= 0)
    .sort((a, b) => a.rank - b.rank || a.index - b.index)
    .map((m) => m.x);
}
