// emoji.js — the reactions on offer: a few common ones, and a small static set for the picker
// (no emoji data from anywhere else). Each with a name for screen readers and tooltips.

/** Shown first, one click away. */
export const QUICK_REACTIONS = [
  ['👍', 'thumbs up'],
  ['❤️', 'red heart'],
  ['😂', 'tears of joy'],
  ['🎉', 'party popper'],
  ['😮', 'surprised'],
  ['😢', 'crying'],
];

/** The picker's "more" set. */
export const MORE_REACTIONS = [
  ['😀', 'grinning'],
  ['😄', 'smiling with open mouth'],
  ['😅', 'sweat smile'],
  ['🤣', 'rolling on the floor laughing'],
  ['😊', 'smiling'],
  ['😇', 'halo'],
  ['🙂', 'slightly smiling'],
  ['🙃', 'upside-down'],
  ['😉', 'winking'],
  ['😍', 'heart eyes'],
  ['🥰', 'smiling with hearts'],
  ['😘', 'blowing a kiss'],
  ['😎', 'sunglasses'],
  ['🤩', 'star-struck'],
  ['🥳', 'partying'],
  ['🤔', 'thinking'],
  ['🤨', 'raised eyebrow'],
  ['😐', 'neutral'],
  ['🙄', 'rolling eyes'],
  ['😬', 'grimacing'],
  ['😴', 'sleeping'],
  ['🤯', 'mind blown'],
  ['😭', 'sobbing'],
  ['😡', 'angry'],
  ['😱', 'screaming'],
  ['🤗', 'hugging'],
  ['🤷', 'shrugging'],
  ['🤦', 'facepalm'],
  ['👎', 'thumbs down'],
  ['👏', 'clapping'],
  ['🙌', 'raising hands'],
  ['🙏', 'folded hands'],
  ['💪', 'flexed biceps'],
  ['👀', 'eyes'],
  ['👋', 'waving hand'],
  ['👌', 'OK hand'],
  ['🤝', 'handshake'],
  ['✌️', 'victory hand'],
  ['🔥', 'fire'],
  ['✨', 'sparkles'],
  ['💯', 'hundred points'],
  ['✅', 'check mark'],
  ['❌', 'cross mark'],
  ['⭐', 'star'],
  ['🚀', 'rocket'],
  ['💡', 'light bulb'],
  ['☕', 'coffee'],
  ['🍕', 'pizza'],
  ['🎂', 'birthday cake'],
  ['🎁', 'gift'],
  ['💔', 'broken heart'],
  ['💜', 'purple heart'],
];

const NAMES = new Map([...QUICK_REACTIONS, ...MORE_REACTIONS]);

/** The name of an emoji we offer (for a label), or the emoji itself. */
export function emojiName(emoji) {
  return NAMES.get(emoji) || emoji;
}
