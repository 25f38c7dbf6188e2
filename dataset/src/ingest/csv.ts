/**
 * A streaming RFC 4180 reader for NASA's CSV export. It works on bytes: every delimiter is
 * ASCII, so a multi-byte character split between two chunks needs no care. A row is first cut
 * into field byte ranges; then only the columns the loader uses are decoded: texts become fresh
 * strings (not slices that would keep a whole chunk alive), plain decimals become numbers
 * straight from the bytes, and GeoLocation is read only when reclat and reclong are empty.
 *
 * Accepted: an optional UTF-8 BOM, LF or CRLF line ends, blank lines (ignored), quoted fields
 * with commas, line breaks and doubled quotes, columns in any order, unknown columns (ignored).
 * A format error: an unterminated quote, text after a closing quote, a quote inside an unquoted
 * field, a header without the required columns, a row longer than MAX_ROW_BYTES. A row with the
 * wrong number of fields is one skipped record, not a broken file.
 *
 * The work is linear in the input whatever its line lengths: a row that spans chunks is not parsed
 * again with every chunk; its chunks are only kept, and each new one is scanned for the row's end
 * (resuming the quote state where the last one stopped), so that the row is parsed once, whole.
 */
import { DatasetFormatError } from './errors.ts';
import type { RawRecord } from './normalise.ts';
import { readHeader } from './csv-header.ts';
import { plainDecimal } from './plain-decimal.ts';
import { RepeatedTexts } from './repeated-texts.ts';

export { plainDecimal } from './plain-decimal.ts';

const COMMA = 44;
const QUOTE = 34;
const LF = 10;
const CR = 13;

/** Node's own Buffer decoders, without toString()'s argument handling (this runs per field). */
type Bytes = Buffer & {
  latin1Slice(start: number, end: number): string;
  utf8Slice(start: number, end: number): string;
};

/** How a field was written: plain, quoted, or quoted with doubled quotes inside. */
const PLAIN = 0;
const QUOTED = 1;
const ESCAPED = 2;

/**
 * The longest row accepted, in bytes (its fields included): a landing's row is under 200 bytes, so
 * anything this long is a broken or hostile file, refused when it gets there rather than buffered.
 */
export const MAX_ROW_BYTES = 64 * 1024;

// Where the look for the end of an unfinished row stands: at a field's start, in an unquoted
// field, in a quoted one, or just after a quote inside a quoted one (closing, or half a doubled one).
const AT_FIELD = 0;
const IN_PLAIN = 1;
const IN_QUOTES = 2;
const AFTER_QUOTE = 3;

export type CsvRecordHandler = (raw: RawRecord, index: number) => void;
/** A data row whose field count differs from the header's: reported as a skipped record. */
export type CsvBadRowHandler = (index: number, id: string | null, reason: string) => void;

export interface CsvReaderOptions {
  /** Default MAX_ROW_BYTES; Infinity lifts the cap (benchmarks of the parse itself). */
  maxRowBytes?: number;
}

export class CsvReader {
  /** The unfinished row: the chunks it has come in so far, from its first byte; and their length. */
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  /** Where the look for the unfinished row's end stands at the end of #pending. */
  #look = AT_FIELD;
  readonly #maxRowBytes: number;
  /** Bytes of the input before the buffer being parsed, for error positions. */
  #offset = 0;
  #bomChecked = false;
  #scanned = 0;
  #columns = -1;
  /** The column of each record field (-1: no such column). */
  #at = {} as Record<keyof RawRecord, number>;
  #index = 0;
  // The current row's fields: content byte ranges, how each was written, whether it is pure ASCII.
  readonly #start: number[] = [];
  readonly #end: number[] = [];
  readonly #kind: number[] = [];
  readonly #ascii: boolean[] = [];
  readonly #shared = new RepeatedTexts();

  constructor(
    private readonly onRecord: CsvRecordHandler,
    private readonly onBadRow: CsvBadRowHandler,
    opts: CsvReaderOptions = {},
  ) {
    this.#maxRowBytes = opts.maxRowBytes ?? MAX_ROW_BYTES;
  }

  /** Records read so far. */
  get records(): number {
    return this.#index;
  }

  /**
   * Bytes the reader has scanned, a byte counted again each time it is scanned again: the work
   * done, which must stay in proportion to the input whatever its line lengths.
   */
  get scannedBytes(): number {
    return this.#scanned;
  }

  push(chunk: Buffer): void {
    if (this.#pendingBytes > 0) {
      if (this.#bomChecked && !this.#rowEndsIn(chunk)) {
        this.#pending.push(chunk);
        this.#pendingBytes += chunk.length;
        if (this.#pendingBytes > this.#maxRowBytes) this.#tooLong(0);
        return;
      }
      chunk = this.#takePending(chunk);
    }
    this.#parse(chunk, false);
  }

  end(): void {
    this.#parse(this.#takePending(Buffer.alloc(0)), true);
    if (this.#columns < 0) throw new DatasetFormatError('the CSV is empty: it has no header row');
  }

  /** The unfinished row's chunks and `chunk` as one buffer; nothing pending afterwards. */
  #takePending(chunk: Buffer): Buffer {
    const buf = this.#pending.length === 0 ? chunk : Buffer.concat([...this.#pending, chunk]);
    this.#pending = [];
    this.#pendingBytes = 0;
    return buf;
  }

  #parse(buf: Buffer, eof: boolean): void {
    let start = 0;
    if (!this.#bomChecked) {
      if (buf.length < 3 && !eof) {
        this.#pending = [buf];
        this.#pendingBytes = buf.length;
        return;
      }
      this.#bomChecked = true;
      if (buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf) start = 3;
    }
    this.#scanned += buf.length - start;
    const consumed = this.#rows(buf as Bytes, start, eof);
    this.#offset += consumed;
    if (consumed < buf.length) {
      this.#pending = [buf.subarray(consumed)];
      this.#pendingBytes = buf.length - consumed;
    }
  }

  /**
   * Whether the unfinished row ends in `chunk` (or shows a syntax error, which the parse then
   * reports), looking on from where the last look stopped; otherwise notes where it stopped.
   */
  #rowEndsIn(chunk: Buffer): boolean {
    const n = chunk.length;
    let state = this.#look;
    let i = 0;
    while (i < n) {
      if (state === IN_QUOTES) {
        const q = chunk.indexOf(QUOTE, i);
        if (q === -1) {
          i = n;
          break;
        }
        state = AFTER_QUOTE;
        i = q + 1;
        continue;
      }
      const c = chunk[i++]!;
      if (c === LF || c === CR) return this.#looked(i);
      if (c === COMMA) state = AT_FIELD;
      else if (c === QUOTE) {
        // Opens a quoted field, or is the second half of a doubled one; elsewhere an error.
        if (state === IN_PLAIN) return this.#looked(i);
        state = IN_QUOTES;
      } else if (state === AFTER_QUOTE) return this.#looked(i);
      else state = IN_PLAIN;
    }
    this.#look = state;
    this.#scanned += n;
    return false;
  }

  #looked(bytes: number): true {
    this.#scanned += bytes;
    return true;
  }

  #fail(message: string, at: number): never {
    throw new DatasetFormatError(`CSV ${message} at byte ${this.#offset + at} (record ${this.#index})`);
  }

  /** The row starting at `at`, the header being row 1 (blank lines not counted), is over the cap. */
  #tooLong(at: number): never {
    const row = this.#columns < 0 ? 1 : this.#index + 2;
    this.#fail(`row ${row} is longer than ${this.#maxRowBytes} bytes (a landing's row is a few hundred)`, at);
  }

  /** Parses every complete row of `buf` from `rowStart`; returns where the first incomplete row begins. */
  #rows(buf: Bytes, rowStart: number, eof: boolean): number {
    const n = buf.length;
    const starts = this.#start;
    const ends = this.#end;
    const kinds = this.#kind;
    const ascii = this.#ascii;
    rows: while (rowStart < n) {
      let p = rowStart;
      if (buf[p] === LF || buf[p] === CR) {
        rowStart = p + 1;
        continue;
      }
      let f = 0;
      for (; ; f++) {
        if (p < n && buf[p] === QUOTE) {
          let q = p + 1;
          let kind = QUOTED;
          for (;;) {
            q = buf.indexOf(QUOTE, q);
            if (q === -1 || (q + 1 === n && !eof)) {
              if (eof) this.#fail('has an unterminated quoted field', p);
              this.#look = q === -1 ? IN_QUOTES : AFTER_QUOTE;
              break rows;
            }
            if (buf[q + 1] !== QUOTE) break;
            kind = ESCAPED;
            q += 2;
          }
          starts[f] = p + 1;
          ends[f] = q;
          kinds[f] = kind;
          ascii[f] = false;
          p = q + 1;
          if (p < n && buf[p] !== COMMA && buf[p] !== LF && buf[p] !== CR) this.#fail('has text after a closing quote', p);
        } else {
          let q = p;
          let bits = 0;
          while (q < n) {
            const c = buf[q]!;
            if (c === COMMA || c === LF || c === CR) break;
            if (c === QUOTE) this.#fail('has a quote inside an unquoted field', q);
            bits |= c;
            q++;
          }
          if (q === n && !eof) {
            this.#look = q === p ? AT_FIELD : IN_PLAIN;
            break rows;
          }
          starts[f] = p;
          ends[f] = q;
          kinds[f] = PLAIN;
          ascii[f] = bits < 0x80;
          p = q;
        }
        if (p < n && buf[p] === COMMA) {
          p++;
          continue;
        }
        // A CR ends the row; the LF of a CRLF then reads as a blank line.
        if (p < n) p++;
        if (p - rowStart > this.#maxRowBytes) this.#tooLong(rowStart);
        this.#row(buf, f + 1);
        rowStart = p;
        continue rows;
      }
    }
    if (n - rowStart > this.#maxRowBytes) this.#tooLong(rowStart);
    return rowStart;
  }

  /** Field f of the current row as text. */
  #text(buf: Bytes, f: number): string {
    const start = this.#start[f]!;
    const end = this.#end[f]!;
    if (this.#ascii[f]) return buf.latin1Slice(start, end);
    const s = buf.utf8Slice(start, end);
    return this.#kind[f] === ESCAPED ? s.replaceAll('""', '"') : s;
  }

  /**
   * Field f as text, for columns whose values repeat (nametype, recclass, fall): the string made
   * for the same bytes before, when the cache still has it.
   */
  #sharedText(buf: Bytes, f: number): string {
    return (this.#ascii[f] ? this.#shared.get(buf, this.#start[f]!, this.#end[f]!) : undefined) ?? this.#text(buf, f);
  }

  /** Field f as a number when it is a plain decimal, else as text (validated later); null when empty. */
  #number(buf: Bytes, f: number): number | string | null {
    const start = this.#start[f]!;
    const end = this.#end[f]!;
    if (start === end) return null;
    return (this.#kind[f] === PLAIN ? plainDecimal(buf, start, end) : undefined) ?? this.#text(buf, f);
  }

  #row(buf: Bytes, count: number): void {
    if (this.#columns < 0) {
      const names: string[] = [];
      for (let f = 0; f < count; f++) names.push(this.#text(buf, f));
      const header = readHeader(names);
      this.#at = header.at;
      this.#columns = header.columns;
      return;
    }
    const index = this.#index++;
    const at = this.#at;
    if (count !== this.#columns) {
      const id = at.id < count ? this.#text(buf, at.id).trim() || null : null;
      this.onBadRow(index, id, 'wrong number of fields');
      return;
    }
    const reclat = this.#number(buf, at.reclat);
    const reclong = this.#number(buf, at.reclong);
    const located = !blank(reclat) || !blank(reclong);
    this.onRecord(
      {
        id: this.#text(buf, at.id),
        name: this.#text(buf, at.name),
        nametype: this.#sharedText(buf, at.nametype),
        recclass: this.#sharedText(buf, at.recclass),
        mass: this.#number(buf, at.mass),
        fall: this.#sharedText(buf, at.fall),
        year: this.#number(buf, at.year),
        reclat,
        reclong,
        geolocation: located || at.geolocation < 0 ? undefined : this.#text(buf, at.geolocation),
      },
      index,
    );
  }
}

const blank = (v: number | string | null): boolean => v === null || (typeof v === 'string' && v.trim() === '');
