/**
 * Strings are cut to this many UTF-16 units (at most 3,072 UTF-8 bytes) before they are sent: the
 * controller refuses a batch with a string over 8 KiB (apps/controller/src/agents/batch-limits.ts).
 * Symbol names longer than this (deep C++ templates) keep their first 1,024 units and end in "...";
 * two that share that prefix become one frame.
 */
export const MAX_STRING_UNITS = 1024;

/** `s`, cut to MAX_STRING_UNITS without splitting a surrogate pair. */
export function boundedString(s: string): string {
  if (s.length <= MAX_STRING_UNITS) return s;
  let cut = MAX_STRING_UNITS - 3;
  const c = s.charCodeAt(cut - 1);
  if (c >= 0xd800 && c <= 0xdbff) cut--;
  return `${s.slice(0, cut)}...`;
}

/** A batch's string table: each distinct string once, referred to by index in the message. */
export class StringTable {
  readonly strings: string[] = [];
  private readonly ids = new Map<string, number>();

  intern(raw: string): number {
    const s = boundedString(raw);
    let id = this.ids.get(s);
    if (id === undefined) {
      id = this.strings.push(s) - 1;
      this.ids.set(s, id);
    }
    return id;
  }
}
