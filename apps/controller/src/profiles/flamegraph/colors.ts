/** Frame colours: the name-hashed palette and the search highlight. */

/** 32-bit FNV-1a over UTF-16 code units. */
function hashName(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  // final avalanche so that similar names spread over the palette
  h ^= h >>> 15;
  h = Math.imul(h, 0x2c1b3c6d);
  h ^= h >>> 12;
  return h >>> 0;
}

function hsl(h: number, s: number, l: number): string {
  // h in degrees, s and l in [0, 1]
  const a = s * Math.min(l, 1 - l);
  const f = (n: number): number => {
    const k = (n + h / 30) % 12;
    return Math.round(255 * (l - a * Math.max(-1, Math.min(k - 3, 9 - k, 1))));
  };
  return `rgb(${f(0)},${f(8)},${f(4)})`;
}

/** Search matches; hue 300 is used by none of the palettes below. */
export const HIGHLIGHT = 'rgb(224,40,224)';

/**
 * Deterministic colour for a frame name: warm reds/oranges/yellows for user
 * code, blues for kernel frames (`_[k]`), greens for JIT frames (`_[j]`).
 */
export function frameColor(name: string): string {
  const h = hashName(name);
  const v1 = (h & 0xffff) / 0xffff;
  const v2 = ((h >>> 16) & 0xff) / 0xff;
  const v3 = (h >>> 24) / 0xff;
  if (name.endsWith('_[k]')) return hsl(192 + 24 * v1, 0.5 + 0.25 * v2, 0.58 + 0.12 * v3);
  if (name.endsWith('_[j]')) return hsl(88 + 50 * v1, 0.45 + 0.25 * v2, 0.5 + 0.12 * v3);
  return hsl(2 + 48 * v1, 0.78 + 0.17 * v2, 0.55 + 0.1 * v3);
}
