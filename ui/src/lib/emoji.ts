/**
 * The emoji the reaction picker offers, with the names its search box matches: the
 * ones chat reactions use most (Slack's, Signal's and Element's quick rows first), then
 * faces, hands, hearts and common things. Not the whole Unicode set: a reaction picker
 * that lists 3,600 glyphs is one nobody scrolls, and the core accepts any emoji anyway.
 * Names and words are messages (ui/messages/emoji/), in the window's language; the
 * search also knows the English ones, as many people type those whatever they speak.
 */
import type { Language } from "./i18n.svelte";
import { m } from "./paraglide/messages.js";
import { baseLocale } from "./paraglide/runtime.js";

export interface Emoji {
  emoji: string;
  /** Its common name, which the search matches first ("thumbs up"). */
  readonly name: string;
  /** Other words people search for it by ("like", "yes"). */
  readonly keywords: readonly string[];
  /** Its name and words in English (the messages' source language). */
  readonly english: { name: string; keywords: readonly string[] };
}

/** A message without inputs: an emoji's name, or its words separated by commas. */
type Words = (inputs?: Record<string, never>, options?: { locale?: Language }) => string;

const list = (words: string): string[] =>
  words
    .split(",")
    .map((word) => word.trim())
    .filter((word) => word !== "");

// Getters: the words are asked for when read, in the language of the moment.
const e = (emoji: string, name: Words, words: Words): Emoji => ({
  emoji,
  get name() {
    return name();
  },
  get keywords() {
    return list(words());
  },
  get english() {
    return { name: name({}, { locale: baseLocale }), keywords: list(words({}, { locale: baseLocale })) };
  },
});

export const EMOJI: readonly Emoji[] = [
  // The quick row: what most reactions are.
  e("👍", m.emoji_thumbs_up, m.emoji_thumbs_up_words),
  e("❤️", m.emoji_red_heart, m.emoji_red_heart_words),
  e("😂", m.emoji_face_with_tears_of_joy, m.emoji_face_with_tears_of_joy_words),
  e("😮", m.emoji_face_with_open_mouth, m.emoji_face_with_open_mouth_words),
  e("😢", m.emoji_crying_face, m.emoji_crying_face_words),
  e("🙏", m.emoji_folded_hands, m.emoji_folded_hands_words),
  e("🎉", m.emoji_party_popper, m.emoji_party_popper_words),
  e("👀", m.emoji_eyes, m.emoji_eyes_words),
  e("🔥", m.emoji_fire, m.emoji_fire_words),
  e("✅", m.emoji_check_mark_button, m.emoji_check_mark_button_words),
  // Hands.
  e("👎", m.emoji_thumbs_down, m.emoji_thumbs_down_words),
  e("👏", m.emoji_clapping_hands, m.emoji_clapping_hands_words),
  e("🙌", m.emoji_raising_hands, m.emoji_raising_hands_words),
  e("👋", m.emoji_waving_hand, m.emoji_waving_hand_words),
  e("👌", m.emoji_ok_hand, m.emoji_ok_hand_words),
  e("✌️", m.emoji_victory_hand, m.emoji_victory_hand_words),
  e("🤞", m.emoji_crossed_fingers, m.emoji_crossed_fingers_words),
  e("💪", m.emoji_flexed_biceps, m.emoji_flexed_biceps_words),
  e("🤝", m.emoji_handshake, m.emoji_handshake_words),
  e("👆", m.emoji_backhand_index_pointing_up, m.emoji_backhand_index_pointing_up_words),
  e("👇", m.emoji_backhand_index_pointing_down, m.emoji_backhand_index_pointing_down_words),
  e("🫡", m.emoji_saluting_face, m.emoji_saluting_face_words),
  // Faces.
  e("😀", m.emoji_grinning_face, m.emoji_grinning_face_words),
  e("😃", m.emoji_grinning_face_with_big_eyes, m.emoji_grinning_face_with_big_eyes_words),
  e("😄", m.emoji_grinning_face_with_smiling_eyes, m.emoji_grinning_face_with_smiling_eyes_words),
  e("😁", m.emoji_beaming_face_with_smiling_eyes, m.emoji_beaming_face_with_smiling_eyes_words),
  e("😅", m.emoji_grinning_face_with_sweat, m.emoji_grinning_face_with_sweat_words),
  e("🤣", m.emoji_rolling_on_the_floor_laughing, m.emoji_rolling_on_the_floor_laughing_words),
  e("🙂", m.emoji_slightly_smiling_face, m.emoji_slightly_smiling_face_words),
  e("😉", m.emoji_winking_face, m.emoji_winking_face_words),
  e("😊", m.emoji_smiling_face_with_smiling_eyes, m.emoji_smiling_face_with_smiling_eyes_words),
  e("😇", m.emoji_smiling_face_with_halo, m.emoji_smiling_face_with_halo_words),
  e("🥰", m.emoji_smiling_face_with_hearts, m.emoji_smiling_face_with_hearts_words),
  e("😍", m.emoji_smiling_face_with_heart_eyes, m.emoji_smiling_face_with_heart_eyes_words),
  e("😘", m.emoji_face_blowing_a_kiss, m.emoji_face_blowing_a_kiss_words),
  e("😋", m.emoji_face_savoring_food, m.emoji_face_savoring_food_words),
  e("😛", m.emoji_face_with_tongue, m.emoji_face_with_tongue_words),
  e("😜", m.emoji_winking_face_with_tongue, m.emoji_winking_face_with_tongue_words),
  e("🤪", m.emoji_zany_face, m.emoji_zany_face_words),
  e("🤗", m.emoji_smiling_face_with_open_hands, m.emoji_smiling_face_with_open_hands_words),
  e("🤭", m.emoji_face_with_hand_over_mouth, m.emoji_face_with_hand_over_mouth_words),
  e("🤫", m.emoji_shushing_face, m.emoji_shushing_face_words),
  e("🤔", m.emoji_thinking_face, m.emoji_thinking_face_words),
  e("🤨", m.emoji_face_with_raised_eyebrow, m.emoji_face_with_raised_eyebrow_words),
  e("😐", m.emoji_neutral_face, m.emoji_neutral_face_words),
  e("😏", m.emoji_smirking_face, m.emoji_smirking_face_words),
  e("🙄", m.emoji_face_with_rolling_eyes, m.emoji_face_with_rolling_eyes_words),
  e("😬", m.emoji_grimacing_face, m.emoji_grimacing_face_words),
  e("😌", m.emoji_relieved_face, m.emoji_relieved_face_words),
  e("😔", m.emoji_pensive_face, m.emoji_pensive_face_words),
  e("😴", m.emoji_sleeping_face, m.emoji_sleeping_face_words),
  e("🤯", m.emoji_exploding_head, m.emoji_exploding_head_words),
  e("🥳", m.emoji_partying_face, m.emoji_partying_face_words),
  e("😎", m.emoji_smiling_face_with_sunglasses, m.emoji_smiling_face_with_sunglasses_words),
  e("🤓", m.emoji_nerd_face, m.emoji_nerd_face_words),
  e("😕", m.emoji_confused_face, m.emoji_confused_face_words),
  e("😟", m.emoji_worried_face, m.emoji_worried_face_words),
  e("🙁", m.emoji_slightly_frowning_face, m.emoji_slightly_frowning_face_words),
  e("😲", m.emoji_astonished_face, m.emoji_astonished_face_words),
  e("😳", m.emoji_flushed_face, m.emoji_flushed_face_words),
  e("🥺", m.emoji_pleading_face, m.emoji_pleading_face_words),
  e("😭", m.emoji_loudly_crying_face, m.emoji_loudly_crying_face_words),
  e("😱", m.emoji_face_screaming_in_fear, m.emoji_face_screaming_in_fear_words),
  e("😤", m.emoji_face_with_steam_from_nose, m.emoji_face_with_steam_from_nose_words),
  e("😡", m.emoji_enraged_face, m.emoji_enraged_face_words),
  e("💀", m.emoji_skull, m.emoji_skull_words),
  e("🤡", m.emoji_clown_face, m.emoji_clown_face_words),
  e("🤖", m.emoji_robot, m.emoji_robot_words),
  e("👻", m.emoji_ghost, m.emoji_ghost_words),
  e("🫠", m.emoji_melting_face, m.emoji_melting_face_words),
  e("🫶", m.emoji_heart_hands, m.emoji_heart_hands_words),
  // Hearts and symbols.
  e("🧡", m.emoji_orange_heart, m.emoji_orange_heart_words),
  e("💛", m.emoji_yellow_heart, m.emoji_yellow_heart_words),
  e("💚", m.emoji_green_heart, m.emoji_green_heart_words),
  e("💙", m.emoji_blue_heart, m.emoji_blue_heart_words),
  e("💜", m.emoji_purple_heart, m.emoji_purple_heart_words),
  e("🖤", m.emoji_black_heart, m.emoji_black_heart_words),
  e("💔", m.emoji_broken_heart, m.emoji_broken_heart_words),
  e("💯", m.emoji_hundred_points, m.emoji_hundred_points_words),
  e("❌", m.emoji_cross_mark, m.emoji_cross_mark_words),
  e("❗", m.emoji_red_exclamation_mark, m.emoji_red_exclamation_mark_words),
  e("❓", m.emoji_red_question_mark, m.emoji_red_question_mark_words),
  e("⚠️", m.emoji_warning, m.emoji_warning_words),
  e("⭐", m.emoji_star, m.emoji_star_words),
  e("✨", m.emoji_sparkles, m.emoji_sparkles_words),
  e("⚡", m.emoji_high_voltage, m.emoji_high_voltage_words),
  e("💡", m.emoji_light_bulb, m.emoji_light_bulb_words),
  e("🚀", m.emoji_rocket, m.emoji_rocket_words),
  e("🎯", m.emoji_bullseye, m.emoji_bullseye_words),
  e("🏆", m.emoji_trophy, m.emoji_trophy_words),
  e("🎂", m.emoji_birthday_cake, m.emoji_birthday_cake_words),
  e("🎁", m.emoji_wrapped_gift, m.emoji_wrapped_gift_words),
  e("☕", m.emoji_hot_beverage, m.emoji_hot_beverage_words),
  e("🍕", m.emoji_pizza, m.emoji_pizza_words),
  e("🍻", m.emoji_clinking_beer_mugs, m.emoji_clinking_beer_mugs_words),
  e("🐛", m.emoji_bug, m.emoji_bug_words),
  e("🌈", m.emoji_rainbow, m.emoji_rainbow_words),
  e("📌", m.emoji_pushpin, m.emoji_pushpin_words),
  e("📝", m.emoji_memo, m.emoji_memo_words),
  e("➕", m.emoji_plus, m.emoji_plus_words),
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
 * it, then anything containing it; then the same in English, when the window speaks
 * another language; the picker's order otherwise. Every emoji for a blank query; the
 * emoji itself matches too (pasted into the box).
 */
export function searchEmoji(query: string): Emoji[] {
  const q = fold(query);
  if (!q) return [...EMOJI];
  const words = (text: string) => text.split(/[\s-]+/);
  const rankBy = (said: { name: string; keywords: readonly string[] }): number => {
    const name = fold(said.name);
    if (name.startsWith(q)) return 0;
    if (words(name).some((w) => w.startsWith(q))) return 1;
    const keywords = said.keywords.map(fold);
    if (keywords.some((k) => k.startsWith(q) || words(k).some((w) => w.startsWith(q)))) return 2;
    if (name.includes(q) || keywords.some((k) => k.includes(q))) return 3;
    return -1;
  };
  const rank = (x: Emoji): number => {
    if (x.emoji === query.trim()) return 0;
    const own = rankBy(x);
    if (own >= 0) return own;
    const english = rankBy(x.english);
    return english >= 0 ? english + 4 : -1;
  };
  return EMOJI.map((x, index) => ({ x, index, rank: rank(x) }))
    .filter((m) => m.rank >= 0)
    .sort((a, b) => a.rank - b.rank || a.index - b.index)
    .map((m) => m.x);
}
