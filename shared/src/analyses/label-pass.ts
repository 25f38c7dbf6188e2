/**
 * The pass of the grouped analyses (mass-by-class, mass-by-fall, mass-by-year): one coded
 * dimension, each label a group, the four common filters. Their question is narrower than
 * group-by's, and what one of their jobs costs is what a worker spends per job
 * (bench/worker-cpu.ts), so they get a pass of their own, on what is prepared once per dataset
 * and dimension (LabelRecords):
 * - each label's records in record order, with their years and masses laid out the same way: a
 *   label's sums are a sequential read into local variables, still added in record order (no
 *   other label's records come between), and no per-record array is written;
 * - per label, as a column store's zone map, the span of its years and its sums over all its
 *   records and over those with a year: a label whose years lie wholly inside (or outside) a
 *   year filter takes them without reading its records, and they are the very sums its records
 *   would give, added in the same order.
 */
import { codeOf, type Codes, type Columns } from '../columns.ts';
import { classMask } from './classification.ts';
import { hasYearFilter, type Filters } from './filters.ts';
import { REASONS, type DimensionCodes } from './group-by/dimensions.ts';
import { BLOCK } from './group-by/engine.ts';
import type { AnalysisContext } from './types.ts';

/** The filters as tests over codes; a class or fall no record has matches nothing. */
export interface Kept {
  classOn: number;
  classAllowed: Uint8Array;
  fallOn: number;
  fall: number;
  yearOn: number;
  from: number;
  to: number;
}

const NO_CLASSES = new Uint8Array(0);

export function keptBy(columns: Columns, p: Filters): Kept {
  const classAllowed = classMask(columns.recclass.values, p);
  return {
    classOn: classAllowed ? 1 : 0,
    classAllowed: classAllowed ?? NO_CLASSES,
    fallOn: p.fall === undefined ? 0 : 1,
    fall: p.fall === undefined ? -1 : codeOf(columns.fall, p.fall),
    yearOn: hasYearFilter(p) ? 1 : 0,
    from: p.year_from ?? -Infinity,
    to: p.year_to ?? Infinity,
  };
}

/** Which of a label's records the filters kept, when that is known without reading them (else SOME). */
export const SOME = 0;
export const ALL = 1;
export const DATED = 2;
export const NONE = 3;

/** Per label, in record order. */
export interface LabelSums {
  count: Float64Array;
  withMass: Float64Array;
  sum: Float64Array;
  /** Per label: ALL its records kept, only and all its DATED ones (those with a year), NONE, or SOME. */
  kept: Uint8Array;
  /** Matched records left out, per index into REASONS. */
  reasons: Float64Array;
  matched: number;
}

/** Count, with_mass and sum per label. */
interface Sums {
  count: Float64Array;
  withMass: Float64Array;
  sum: Float64Array;
}

const sums = (labels: number): Sums => ({
  count: new Float64Array(labels),
  withMass: new Float64Array(labels),
  sum: new Float64Array(labels),
});

/** A dimension's records by label, and each label's zone map. About 20 bytes a record. */
interface LabelRecords {
  /** Label c's records are [start[c], start[c + 1]); the unlabelled ones (negative codes) [start[labels], end). */
  start: Int32Array;
  index: Int32Array;
  year: Float64Array;
  mass: Float64Array;
  /** The masses with 0 for none, and 1 where there is one: what the year-only loop adds without a jump. */
  massOrZero: Float64Array;
  hasMass: Uint8Array;
  /** Per label, the span of its years (records with one); Infinity, -Infinity without any. */
  yearMin: Float64Array;
  yearMax: Float64Array;
  all: Sums;
  dated: Sums;
}

const labelRecords = new WeakMap<DimensionCodes, LabelRecords>();

function recordsByLabel(columns: Columns, dim: DimensionCodes): LabelRecords {
  let by = labelRecords.get(dim);
  if (by) return by;
  const labels = dim.labels.length;
  const { codes } = dim;
  const slot = (c: number) => (c < 0 ? labels : c);
  const start = new Int32Array(labels + 2);
  for (let i = 0; i < codes.length; i++) start[slot(codes[i]!) + 1]! += 1;
  for (let c = 0; c <= labels; c++) start[c + 1]! += start[c]!;
  const next = start.slice(0, labels + 1);
  const index = new Int32Array(codes.length);
  const year = new Float64Array(codes.length);
  const mass = new Float64Array(codes.length);
  for (let i = 0; i < codes.length; i++) {
    const at = next[slot(codes[i]!)]!++;
    index[at] = i;
    year[at] = columns.year[i]!;
    mass[at] = columns.mass[i]!;
  }
  const hasMass = Uint8Array.from(mass, (m) => (Number.isNaN(m) ? 0 : 1));
  const massOrZero = Float64Array.from(mass, (m) => (Number.isNaN(m) ? 0 : m));
  const yearMin = new Float64Array(labels).fill(Infinity);
  const yearMax = new Float64Array(labels).fill(-Infinity);
  const all = sums(labels);
  const dated = sums(labels);
  for (let c = 0; c < labels; c++) {
    // The same loop and order as a pass: the very sums a pass over the label would give.
    const [from, to] = [start[c]!, start[c + 1]!];
    sumLabel(c, from, to, index, year, mass, NO_CODES, 0, NO_CLASSES, NO_CODES, 0, -1, 0, 0, 0, all.count, all.withMass, all.sum);
    // prettier-ignore
    sumLabel(
      c, from, to, index, year, mass, NO_CODES, 0, NO_CLASSES, NO_CODES, 0, -1, 1, -Infinity, Infinity, dated.count, dated.withMass,
      dated.sum,
    );
    for (let j = start[c]!; j < start[c + 1]!; j++) {
      const y = year[j]!;
      if (y < yearMin[c]!) yearMin[c] = y;
      if (y > yearMax[c]!) yearMax[c] = y;
    }
  }
  labelRecords.set(dim, (by = { start, index, year, mass, massOrZero, hasMass, yearMin, yearMax, all, dated }));
  return by;
}

const NO_CODES = new Uint8Array(0);

/**
 * Adds the kept records among label c's [from, to) to its count, withMass and sum (continuing
 * them, so a label read in parts adds in record order all the same); returns how many records
 * the other filters selected that have no year, under a year filter (matched, left out as
 * missing_year). Arguments, not an object's fields: see kernel.ts.
 */
function sumLabel(
  c: number,
  from: number,
  to: number,
  index: Int32Array,
  year: Float64Array,
  mass: Float64Array,
  classCodes: Codes,
  classOn: number,
  classAllowed: Uint8Array,
  fallCodes: Codes,
  fallOn: number,
  fall: number,
  yearOn: number,
  yearFrom: number,
  yearTo: number,
  count: Float64Array,
  withMass: Float64Array,
  sum: Float64Array,
): number {
  let noYear = 0;
  let n = count[c]!;
  let known = withMass[c]!;
  let s = sum[c]!;
  for (let j = from; j < to; j++) {
    if (classOn !== 0 && classAllowed[classCodes[index[j]!]!] !== 1) continue;
    if (fallOn !== 0 && fallCodes[index[j]!] !== fall) continue;
    if (yearOn !== 0) {
      const y = year[j]!;
      if (y !== y) {
        noYear++;
        continue;
      }
      if (y < yearFrom || y > yearTo) continue;
    }
    n++;
    const m = mass[j]!;
    if (m === m) {
      known++;
      s += m;
    }
  }
  count[c] = n;
  withMass[c] = known;
  sum[c] = s;
  return noYear;
}

/**
 * sumLabel under a year filter alone, the common case ("since 1950"): a range that cuts through a
 * label's years keeps its records at random, and a jump on each mispredicts half the time, so each
 * test is a 0/1 value that is added instead. Adding a 0 leaves a sum as it was, so the sums are
 * sumLabel's to the bit. Years are finite or NaN: `y <= Infinity` is 0 for NaN alone.
 */
function sumLabelYears(
  c: number,
  from: number,
  to: number,
  year: Float64Array,
  massOrZero: Float64Array,
  hasMass: Uint8Array,
  yearFrom: number,
  yearTo: number,
  count: Float64Array,
  withMass: Float64Array,
  sum: Float64Array,
): number {
  let noYear = 0;
  let n = count[c]!;
  let known = withMass[c]!;
  let s = sum[c]!;
  for (let j = from; j < to; j++) {
    const y = year[j]!;
    const inside = +(y >= yearFrom) & +(y <= yearTo);
    noYear += +(y <= Infinity) ^ 1;
    n += inside;
    const keep = inside & hasMass[j]!;
    known += keep;
    s += massOrZero[j]! * keep;
  }
  count[c] = n;
  withMass[c] = known;
  sum[c] = s;
  return noYear;
}

/** The records without a label that the filters select: matched, counted per reason; returns how many. */
function countUnlabelled(r: LabelRecords, codes: Int32Array, kept: Kept, columns: Columns, reasons: Float64Array): number {
  let matched = 0;
  const classCodes = columns.recclass.codes;
  const fallCodes = columns.fall.codes;
  for (let j = r.start[r.start.length - 2]!; j < r.index.length; j++) {
    const i = r.index[j]!;
    if (kept.classOn !== 0 && kept.classAllowed[classCodes[i]!] !== 1) continue;
    if (kept.fallOn !== 0 && fallCodes[i] !== kept.fall) continue;
    let reason = -1 - codes[i]!;
    if (kept.yearOn !== 0) {
      const y = r.year[j]!;
      if (y !== y) reason = MISSING_YEAR;
      else if (y < kept.from || y > kept.to) continue;
    }
    matched++;
    reasons[reason]! += 1;
  }
  return matched;
}

const MISSING_YEAR = REASONS.indexOf('missing_year');

/** Copies label c's sums from a zone map's. */
function take(out: LabelSums, from: Sums, c: number): void {
  out.count[c] = from.count[c]!;
  out.withMass[c] = from.withMass[c]!;
  out.sum[c] = from.sum[c]!;
}

/** Label c's kept records as its zone map tells them: ALL, DATED, NONE, or -1 when its records must be read. */
function zoneOf(r: LabelRecords, kept: Kept, c: number): number {
  if (kept.classOn !== 0 || kept.fallOn !== 0) return -1;
  if (kept.yearOn === 0) return ALL;
  if (r.yearMin[c]! >= kept.from && r.yearMax[c]! <= kept.to) return DATED;
  return r.yearMax[c]! < kept.from || r.yearMin[c]! > kept.to ? NONE : -1;
}

/**
 * The pass over the records in label order, with a checkpoint before each BLOCK of them, read or
 * taken from a zone map alike (so a job reports progress and can be cancelled as the group-by
 * engine's do). A label larger than a block is read in parts.
 */
export async function labelSums(columns: Columns, dim: DimensionCodes, kept: Kept, ctx: AnalysisContext): Promise<LabelSums> {
  const labels = dim.labels.length;
  const out: LabelSums = { ...sums(labels), kept: new Uint8Array(labels), reasons: new Float64Array(REASONS.length), matched: 0 };
  const r = recordsByLabel(columns, dim);
  const n = columns.length;
  for (let pos = 0, c = 0; pos < n; pos += BLOCK) {
    await ctx.progress(pos / n);
    c = sumBlock(columns, r, kept, out, c, pos, Math.min(n, pos + BLOCK));
  }
  // Until here `matched` held the records without a year the filters selected.
  const noYear = out.matched;
  out.reasons[MISSING_YEAR]! += noYear;
  out.matched = noYear + countUnlabelled(r, dim.codes, kept, columns, out.reasons);
  for (let c = 0; c < labels; c++) out.matched += out.count[c]!;
  return out;
}

/**
 * The labels from c on whose records start in [pos, end); returns the label to go on with. Out of
 * the async function that awaits between blocks: inlined there, the loops ran slower (as group-by's).
 */
function sumBlock(columns: Columns, r: LabelRecords, kept: Kept, out: LabelSums, c: number, pos: number, end: number): number {
  const { start } = r;
  const labels = start.length - 2;
  const yearsOnly = kept.classOn === 0 && kept.fallOn === 0 && kept.yearOn !== 0;
  let noYear = 0;
  for (; c < labels && start[c]! < end; c++) {
    const zone = zoneOf(r, kept, c);
    if (zone >= 0) {
      // The whole label where it starts; the parts in later blocks are done.
      if (start[c]! >= pos) {
        out.kept[c] = zone;
        if (zone === ALL) take(out, r.all, c);
        else {
          noYear += r.all.count[c]! - r.dated.count[c]!;
          if (zone === DATED) take(out, r.dated, c);
        }
      }
    } else if (yearsOnly) {
      // prettier-ignore
      noYear += sumLabelYears(
        c, Math.max(pos, start[c]!), Math.min(end, start[c + 1]!), r.year, r.massOrZero, r.hasMass, kept.from, kept.to,
        out.count, out.withMass, out.sum,
      );
    } else {
      // prettier-ignore
      noYear += sumLabel(
        c, Math.max(pos, start[c]!), Math.min(end, start[c + 1]!), r.index, r.year, r.mass, columns.recclass.codes,
        kept.classOn, kept.classAllowed, columns.fall.codes, kept.fallOn, kept.fall, kept.yearOn, kept.from, kept.to,
        out.count, out.withMass, out.sum,
      );
    }
    if (start[c + 1]! > end) break; // the rest of it in the next block
  }
  out.matched += noYear;
  return c;
}
