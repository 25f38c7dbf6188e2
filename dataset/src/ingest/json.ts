/**
 * A streaming reader for a JSON dataset: either a top-level array of records, or an object whose
 * `meteorite_landings` member is that array (the course shape). It never parses the whole body:
 * a small scanner finds where each array element starts and ends (tracking strings and nesting
 * only), and the elements go through the native JSON.parse a batch at a time, which also
 * validates them. Other members of the top-level object are parsed the same way and dropped.
 *
 * Only the text of the element being read is kept between chunks.
 */
import { StringDecoder } from 'node:string_decoder';
import { DatasetFormatError } from './errors.ts';
import { couldBeScalar, isSpace, parseBatch, stringEnd } from './json-text.ts';

const RECORDS_KEY = 'meteorite_landings';
/** Records parsed per JSON.parse call. */
const BATCH = 512;
/**
 * The longest single value (a record, or another member of the top-level object) the reader
 * holds: a record is a few hundred characters, so anything longer is refused when it gets there
 * rather than buffered up to the body limit and reported as too large.
 */
export const MAX_VALUE_CHARS = 1 << 20;

type State =
  | 'start'
  | 'key' // in the top-level object, before a member name
  | 'firstKey' // same, right after `{` (a `}` is allowed)
  | 'memberValue' // a member value other than the records array
  | 'memberNext' // after a member: `,` or `}`
  | 'firstElement' // right after the records array's `[` (a `]` is allowed)
  | 'element'
  | 'elementNext' // after an element: `,` or `]`
  | 'end';

export type JsonRecordHandler = (value: unknown, index: number) => void;

export class JsonReader {
  readonly #decoder = new StringDecoder('utf8');
  #text = '';
  #pos = 0;
  /** Characters dropped from the front of #text so far, for error positions. */
  #dropped = 0;
  #state: State = 'start';
  #rootIsArray = false;
  #foundRecords = false;
  #index = 0;
  // The element scan, resumable across chunks.
  #valueStart = -1;
  /**
   * How far past its opening quote the unfinished string at #valueStart (a string value) or at
   * #pos (a member name) has been searched for its closing quote: each chunk is searched once.
   */
  #searched = 0;
  #depth = 0;
  #inString = false;
  // Records scanned but not yet parsed: where each starts, and where the last one ends.
  #batch: number[] = [];
  #batchStart = 0;
  #batchEnd = 0;

  constructor(private readonly onRecord: JsonRecordHandler) {}

  /** Records read so far. */
  get records(): number {
    return this.#index;
  }

  push(chunk: Buffer | string): void {
    this.#feed(typeof chunk === 'string' ? chunk : this.#decoder.write(chunk), false);
  }

  end(): void {
    this.#feed(this.#decoder.end(), true);
    if (this.#state !== 'end') this.#fail('ends too early');
  }

  #feed(more: string, eof: boolean): void {
    // Keep only what is still needed: the element being scanned, or the unread rest.
    const keep = this.#valueStart >= 0 ? this.#valueStart : this.#pos;
    this.#text = keep > 0 ? this.#text.slice(keep) + more : this.#text + more;
    this.#dropped += keep;
    this.#pos -= keep;
    if (this.#valueStart >= 0) this.#valueStart = 0;
    this.#run(eof);
  }

  /** `record`: the index of the record at fault; by default the one being scanned. */
  #fail(what: string, pos = this.#pos, record = this.#index + this.#batch.length): never {
    throw new DatasetFormatError(`the JSON ${what} (at character ${this.#dropped + pos}, record ${record})`);
  }

  /** The next non-space character code, or -1 when the text runs out first. */
  #peek(): number {
    const t = this.#text;
    let p = this.#pos;
    while (p < t.length && isSpace(t.charCodeAt(p))) p++;
    this.#pos = p;
    return p < t.length ? t.charCodeAt(p) : -1;
  }

  #run(eof: boolean): void {
    this.#scan(eof);
    // Before the text is cut back to what is still needed.
    this.#flush();
  }

  #scan(eof: boolean): void {
    for (;;) {
      if (this.#state === 'element' || this.#state === 'memberValue') {
        if (!this.#scanValue(eof)) return;
        continue;
      }
      const c = this.#peek();
      if (c === -1) return;
      switch (this.#state) {
        case 'start':
          if (c === 0xfeff && this.#dropped + this.#pos === 0) {
            this.#pos++;
          } else if (c === 91 /* [ */) {
            this.#rootIsArray = true;
            this.#foundRecords = true;
            this.#pos++;
            this.#state = 'firstElement';
          } else if (c === 123 /* { */) {
            this.#pos++;
            this.#state = 'firstKey';
          } else {
            this.#fail('is neither an array of records nor an object with a "meteorite_landings" array');
          }
          break;
        case 'firstKey':
        case 'key': {
          if (c === 125 /* } */ && this.#state === 'firstKey') {
            this.#pos++;
            this.#closeRoot();
            break;
          }
          if (c !== 34) this.#fail('has a member name missing in the top-level object');
          const member = this.#member(eof);
          if (member === undefined) return;
          if (member.name === RECORDS_KEY) {
            const v = this.#peek();
            if (v === -1) {
              if (eof) this.#fail('ends too early');
              this.#pos = member.start;
              return;
            }
            if (v !== 91) this.#fail(`has a "${RECORDS_KEY}" member that is not an array`);
            if (this.#foundRecords) this.#fail(`has "${RECORDS_KEY}" twice`);
            this.#foundRecords = true;
            this.#pos++;
            this.#state = 'firstElement';
          } else {
            this.#startValue('memberValue');
          }
          break;
        }
        case 'memberNext':
          this.#pos++;
          if (c === 44) this.#state = 'key';
          else if (c === 125) this.#closeRoot();
          else this.#fail('expects "," or "}" after a member', this.#pos - 1);
          break;
        case 'firstElement':
          if (c === 93 /* ] */) {
            this.#pos++;
            this.#closeArray();
          } else {
            this.#startValue('element');
          }
          break;
        case 'elementNext':
          this.#pos++;
          if (c === 44) this.#startValueAfterComma();
          else if (c === 93) this.#closeArray();
          else this.#fail('expects "," or "]" after a record', this.#pos - 1);
          break;
        case 'end':
          this.#fail('has more text after its end');
      }
    }
  }

  /** Reads `"name"` and the `:` after it; undefined when the text runs out first (nothing consumed). */
  #member(eof: boolean): { name: string; start: number } | undefined {
    const t = this.#text;
    const start = this.#pos;
    const close = stringEnd(t, start + 1 + this.#searched);
    this.#searched = close === -1 ? t.length - start - 1 : 0;
    if (close === -1) {
      if (eof) this.#fail('ends inside a member name');
      // Else it would be kept and looked through again with every chunk, up to the body limit.
      if (t.length - start > MAX_VALUE_CHARS) this.#fail(`has a member name longer than ${MAX_VALUE_CHARS} characters`, start);
      return undefined;
    }
    this.#pos = close + 1;
    const colon = this.#peek();
    if (colon === -1) {
      if (eof) this.#fail('ends too early');
      this.#pos = start;
      return undefined;
    }
    if (colon !== 58 /* : */) this.#fail('expects ":" after a member name');
    this.#pos++;
    let name: string;
    try {
      name = JSON.parse(t.slice(start, close + 1)) as string;
    } catch {
      this.#fail('has a malformed member name', start);
    }
    return { name, start };
  }

  #startValueAfterComma(): void {
    if (this.#peek() === 93) this.#fail('has a "," before "]"');
    this.#startValue('element');
  }

  #startValue(state: 'element' | 'memberValue'): void {
    this.#state = state;
    this.#valueStart = this.#pos;
    this.#searched = 0;
    this.#depth = 0;
    this.#inString = false;
  }

  /** Scans on from #pos to the end of the value at #valueStart; false when the text runs out first. */
  #scanValue(eof: boolean): boolean {
    const t = this.#text;
    const n = t.length;
    const start = this.#valueStart;
    let p = this.#pos;
    if (p === start) {
      while (p < n && isSpace(t.charCodeAt(p))) p++;
      this.#valueStart = p;
    }
    const first = t.charCodeAt(this.#valueStart);
    let end = -1;
    if (p >= n) {
      // nothing yet
    } else if (first === 123 || first === 91) {
      let depth = this.#depth;
      let inString = this.#inString;
      while (p < n) {
        if (inString) {
          const q = stringEnd(t, p);
          if (q === -1) {
            p = n;
            break;
          }
          p = q + 1;
          inString = false;
          continue;
        }
        const c = t.charCodeAt(p++);
        if (c === 34) inString = true;
        else if (c === 123 || c === 91) depth++;
        else if ((c === 125 || c === 93) && --depth === 0) {
          end = p;
          break;
        }
      }
      // Resuming inside a string is safe: stringEnd looks back at the kept text for escapes.
      this.#depth = depth;
      this.#inString = inString;
    } else {
      // A string, number, true, false or null: up to the next delimiter.
      if (first === 34) {
        const q = stringEnd(t, this.#valueStart + 1 + this.#searched);
        this.#searched = q === -1 ? n - this.#valueStart - 1 : 0;
        p = q === -1 ? n : q + 1;
      }
      const from = p;
      while (p < n) {
        const c = t.charCodeAt(p);
        if (c === 44 || c === 93 || c === 125 || isSpace(c)) break;
        p++;
      }
      if (p < n || eof) end = p;
      if (end === this.#valueStart) this.#fail(t.charCodeAt(end) === 93 ? 'has a "," before "]"' : 'expects a value', end);
      // Garbage such as `{"x": xxxx...` has no delimiter to wait for: refuse it as soon as it shows.
      if (end === -1 && first !== 34 && !couldBeScalar(t, this.#valueStart, from, p)) this.#fail('has a malformed value', this.#valueStart);
    }
    if ((end === -1 ? p : end) - this.#valueStart > MAX_VALUE_CHARS) {
      this.#fail(`has a ${this.#state === 'element' ? 'record' : 'value'} longer than ${MAX_VALUE_CHARS} characters`, this.#valueStart);
    }
    if (end === -1) {
      if (eof) this.#fail('ends inside a value');
      this.#pos = p;
      return false;
    }
    if (this.#state === 'element') {
      if (this.#batch.length === 0) this.#batchStart = this.#valueStart;
      this.#batch.push(this.#valueStart);
      this.#batchEnd = end;
      if (this.#batch.length >= BATCH) this.#flush();
      this.#state = 'elementNext';
    } else {
      try {
        JSON.parse(t.slice(this.#valueStart, end));
      } catch (err) {
        this.#fail(`has a malformed value: ${(err as Error).message}`, this.#valueStart);
      }
      this.#state = 'memberNext';
    }
    this.#pos = end;
    this.#valueStart = -1;
    return true;
  }

  /** Parses the records found so far (parseBatch) and hands them on. */
  #flush(): void {
    const starts = this.#batch;
    if (starts.length === 0) return;
    const fail = (what: string, start: number, k: number) => this.#fail(what, start, this.#index + k);
    const values = parseBatch(this.#text, starts, this.#batchStart, this.#batchEnd, fail);
    this.#batch = [];
    for (const value of values) this.onRecord(value, this.#index++);
  }

  #closeArray(): void {
    this.#flush();
    this.#state = this.#rootIsArray ? 'end' : 'memberNext';
  }

  #closeRoot(): void {
    if (!this.#foundRecords) this.#fail(`is an object without a "${RECORDS_KEY}" array`);
    this.#state = 'end';
  }
}
