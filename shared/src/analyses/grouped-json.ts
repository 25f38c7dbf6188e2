/**
 * A grouped analysis' result written as JSON text straight from its figures, with the same text
 * JSON.stringify gives for the result object (a unit test holds them equal). The worker stores
 * this text, and writing it costs more than the analysis: hundreds of objects to build and walk,
 * and thousands of numbers to print, most of them masses of the dataset's records (the minima,
 * maxima and odd medians), printed again by every job. Here no object is built, each label's
 * `{"key":...,"count":` is made once per dataset, and each record's mass is printed once per
 * dataset, when a result first needs it.
 */
import type { Columns } from '../columns.ts';
import type { DimensionCodes } from './group-by/dimensions.ts';
import type { GroupedFigures } from './grouped.ts';

const keyPrefixes = new WeakMap<DimensionCodes, string[]>();

/** `{"key":<label>,"count":` per label of a dimension. */
function prefixesOf(dim: DimensionCodes): string[] {
  let prefixes = keyPrefixes.get(dim);
  if (!prefixes) keyPrefixes.set(dim, (prefixes = dim.labels.map((label) => `{"key":${JSON.stringify(label)},"count":`)));
  return prefixes;
}

const massTexts = new WeakMap<Columns, (string | undefined)[]>();

/** Per record, its mass as JSON text, filled in as results need them. */
function massTextsOf(columns: Columns): (string | undefined)[] {
  let texts = massTexts.get(columns);
  if (!texts) massTexts.set(columns, (texts = new Array<string | undefined>(columns.length).fill(undefined)));
  return texts;
}

/** A number as JSON.stringify writes it: non-finite ones are null. */
const num = (x: number): string => (Number.isFinite(x) ? `${x}` : 'null');

const NO_MASS = ',"total_mass_g":null,"mean_mass_g":null,"median_mass_g":null,"min_mass_g":null,"max_mass_g":null}';

/** The result (its head, then `groups`) as JSON text. */
export function groupsJson(columns: Columns, f: GroupedFigures): string {
  const { sums, order, rows } = f;
  const { count, withMass, sum } = sums;
  const { mass, index } = order;
  const prefixes = prefixesOf(f.dim);
  const texts = massTextsOf(columns);
  const text = (j: number): string => {
    const i = index[j]!;
    return texts[i] ?? (texts[i] = num(mass[j]!));
  };
  const head = JSON.stringify(f.head);
  let out = `${head.slice(0, -1)},"groups":[`;
  for (let r = 0; r < rows.length; r++) {
    const c = rows[r]!;
    const n = withMass[c]!;
    out += `${r === 0 ? '' : ','}${prefixes[c]!}${count[c]!},"with_mass":${n}`;
    if (n === 0) {
      out += NO_MASS;
      continue;
    }
    const lo = f.midLo[r]!;
    const hi = f.midHi[r]!;
    const median = lo === hi ? text(lo) : num((mass[lo]! + mass[hi]!) / 2);
    out += `,"total_mass_g":${num(sum[c]!)},"mean_mass_g":${num(sum[c]! / n)},"median_mass_g":${median},"min_mass_g":${text(f.min[r]!)},"max_mass_g":${text(f.max[r]!)}}`;
  }
  return `${out}]}`;
}
