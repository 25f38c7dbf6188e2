/**
 * The CSV reader's cache of repeated short texts (nametype, recclass, fall: a few hundred values
 * over a million rows): one string per value, found by a hash of the field's bytes, so a value
 * seen before costs neither a decode nor a new string.
 */

/** Slots of the cache; a power of two. */
const SLOTS = 4096;
/** Longest text the cache holds (classes, nametype and fall are a few bytes). */
const MAX_BYTES = 32;

/** Node's own Latin-1 decoder, without toString()'s argument handling (this runs per field). */
type Latin1Bytes = Buffer & { latin1Slice(start: number, end: number): string };

export class RepeatedTexts {
  readonly #slots: (string | undefined)[] = new Array<string | undefined>(SLOTS);

  /**
   * The text of the ASCII bytes buf[start, end): the string made for the same bytes before when
   * the cache still has it; undefined when the text is too long to be kept.
   */
  get(buf: Latin1Bytes, start: number, end: number): string | undefined {
    if (end - start > MAX_BYTES) return undefined;
    let h = 0x811c9dc5;
    for (let k = start; k < end; k++) h = Math.imul(h ^ buf[k]!, 0x01000193);
    const slot = (h ^ (h >>> 15)) & (SLOTS - 1);
    const known = this.#slots[slot];
    if (known !== undefined && known.length === end - start) {
      let k = 0;
      while (k < known.length && known.charCodeAt(k) === buf[start + k]) k++;
      if (k === known.length) return known;
    }
    const s = buf.latin1Slice(start, end);
    this.#slots[slot] = s;
    return s;
  }
}
