import { classify } from './analyses/classification.ts';
import type { Meteorite } from './schemas.ts';

/**
 * The in-memory form of a loaded dataset: one typed column per field instead of one object per
 * record, and no JavaScript string per record for the fields analyses scan. A million landings
 * cost about 65 MB (ids and numbers as doubles, texts with few distinct values as small integer
 * codes, names as one UTF-8 buffer), and grouping by class or fall is an array index.
 * Missing numbers are NaN; a missing coded text is code 0.
 *
 * The loader produces it (parsed input, validated before anything is written), the snapshot
 * reader rebuilds it from Redis for the worker and the API, and every analysis takes it as input.
 */
export interface Columns {
  length: number;
  /** Ids are decimal integers of at most 15 digits (keys.ts), so a double holds each exactly; `idAt` gives the text. */
  id: Float64Array;
  name: Texts;
  nametype: CodedTexts;
  recclass: CodedTexts;
  fall: CodedTexts;
  /** grams; NaN where the source had no mass. */
  mass: Float64Array;
  /** the integer year; NaN where missing. */
  year: Float64Array;
  /** degrees; NaN where missing. */
  lat: Float64Array;
  lon: Float64Array;
}

export type Codes = Uint8Array<ArrayBuffer> | Uint16Array<ArrayBuffer> | Uint32Array<ArrayBuffer>;

/** A text column with few distinct values: record i's value is `values[codes[i]]`; `values[0]` is null (missing). */
export interface CodedTexts {
  codes: Codes;
  values: readonly (string | null)[];
}

/** A text per record, made into a JavaScript string only when asked for. */
export interface Texts {
  readonly length: number;
  at(i: number): string;
}

/** Texts held as JavaScript strings: what the parser has anyway. */
export class TextList implements Texts {
  constructor(readonly list: readonly string[]) {}

  get length(): number {
    return this.list.length;
  }

  at(i: number): string {
    return this.list[i]!;
  }
}

/** Texts held as one UTF-8 buffer: text i is bytes [offsets[i], offsets[i + 1]). A string costs ~3× its UTF-8. */
export class Utf8Texts implements Texts {
  constructor(
    readonly bytes: Buffer,
    readonly offsets: Uint32Array,
  ) {}

  get length(): number {
    return this.offsets.length - 1;
  }

  at(i: number): string {
    return this.bytes.toString('utf8', this.offsets[i], this.offsets[i + 1]);
  }
}

/** The smallest unsigned array holding codes up to `max`. */
export function codesFor(max: number, length: number): Codes {
  return max <= 0xff ? new Uint8Array(length) : max <= 0xffff ? new Uint16Array(length) : new Uint32Array(length);
}

/** Builds a CodedTexts a value at a time; each distinct text is kept once. */
export class CodedTextsBuilder {
  #codes = new Uint32Array(1024);
  #length = 0;
  readonly #values: (string | null)[] = [null];
  readonly #index = new Map<string, number>();

  push(v: string | null): void {
    let code = 0;
    if (v !== null) {
      const known = this.#index.get(v);
      if (known === undefined) {
        code = this.#values.length;
        this.#values.push(v);
        this.#index.set(v, code);
      } else code = known;
    }
    if (this.#length === this.#codes.length) {
      const codes = new Uint32Array(2 * this.#length);
      codes.set(this.#codes);
      this.#codes = codes;
    }
    this.#codes[this.#length++] = code;
  }

  finish(): CodedTexts {
    const codes = codesFor(this.#values.length - 1, this.#length);
    codes.set(this.#codes.subarray(0, this.#length));
    this.#codes = new Uint32Array(0);
    return { codes, values: this.#values };
  }
}

/** Record i's value of a coded column, null where missing. */
export const textAt = (column: CodedTexts, i: number): string | null => column.values[column.codes[i]!]!;

/** The code of `value` in a coded column, -1 when no record has it. */
export const codeOf = (column: CodedTexts, value: string): number => column.values.indexOf(value, 1);

/** Record i's id as text (the form in keys and JSON). */
export const idAt = (columns: Columns, i: number): string => String(columns.id[i]);

export function emptyColumns(): Columns {
  const none = (): CodedTexts => ({ codes: new Uint8Array(0), values: [null] });
  return {
    length: 0,
    id: new Float64Array(0),
    name: new TextList([]),
    nametype: none(),
    recclass: none(),
    fall: none(),
    mass: new Float64Array(0),
    year: new Float64Array(0),
    lat: new Float64Array(0),
    lon: new Float64Array(0),
  };
}

/** Record `i` in the API's JSON shape (numbers, null for missing). */
export function meteoriteAt(columns: Columns, i: number): Meteorite {
  const num = (v: number) => (Number.isNaN(v) ? null : v);
  const recclass = textAt(columns.recclass, i);
  const classified = classify(recclass);
  return {
    id: idAt(columns, i),
    name: columns.name.at(i),
    nametype: textAt(columns.nametype, i),
    recclass,
    mass_g: num(columns.mass[i]!),
    fall: textAt(columns.fall, i),
    year: num(columns.year[i]!),
    reclat: num(columns.lat[i]!),
    reclong: num(columns.lon[i]!),
    class_type: classified?.class_type ?? null,
    class_group: classified?.class_group ?? null,
  };
}

/** Columns from record objects, for tests: a missing id becomes the 1-based position, a missing name the id. */
export function columnsFromRecords(records: Partial<Meteorite>[]): Columns {
  const n = records.length;
  const id = new Float64Array(n);
  const names: string[] = [];
  const coded = { nametype: new CodedTextsBuilder(), recclass: new CodedTextsBuilder(), fall: new CodedTextsBuilder() };
  const [mass, year, lat, lon] = [0, 0, 0, 0].map(() => new Float64Array(n)) as [Float64Array, Float64Array, Float64Array, Float64Array];
  records.forEach((r, i) => {
    const key = r.id ?? String(i + 1);
    id[i] = Number(key);
    names.push(r.name ?? key);
    coded.nametype.push(r.nametype ?? null);
    coded.recclass.push(r.recclass ?? null);
    coded.fall.push(r.fall ?? null);
    mass[i] = r.mass_g ?? NaN;
    year[i] = r.year ?? NaN;
    lat[i] = r.reclat ?? NaN;
    lon[i] = r.reclong ?? NaN;
  });
  return {
    length: n,
    id,
    name: new TextList(names),
    nametype: coded.nametype.finish(),
    recclass: coded.recclass.finish(),
    fall: coded.fall.finish(),
    mass,
    year,
    lat,
    lon,
  };
}

/** Every id as text, in record order (for tests and tools; analyses read `id` directly). */
export const idsOf = (columns: Columns): string[] => Array.from(columns.id, String);

/** Every value of a text column, in record order (for tests and tools). */
export const textsOf = (column: Texts | CodedTexts): (string | null)[] =>
  'codes' in column
    ? Array.from(column.codes, (code) => column.values[code]!)
    : Array.from({ length: column.length }, (_, i) => column.at(i));
