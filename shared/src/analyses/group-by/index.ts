/**
 * `group-by`: the general question. Groups the landings the filters select by one or two
 * dimensions and reports the measures asked for, as a tidy table (one field per dimension, then
 * the measures), on the engine every analysis shares (engine.ts); every per-dataset preparation
 * (dimension codes, the mass order) is made once and kept with the data.
 */
import Type from 'typebox';
import { SafeText } from '../../schemas.ts';
import { CLASS_TYPES } from '../classification.ts';
import { checkFilters, filterParams, hasYearFilter } from '../filters.ts';
import { resultHead } from '../result.ts';
import type { Analysis, AnalysisResult } from '../types.ts';
import { BAND_DEGREES, DIMENSIONS, dimensionCodes, REASONS, YEAR_BINS, type Dimension, type Reason } from './dimensions.ts';
import {
  byKey,
  byValueDesc,
  group,
  groupRows,
  hasBox,
  labelOf,
  mergeRows,
  release,
  stddevs,
  type FilterParams,
  type Grouping,
} from './engine.ts';
import { RowMasses } from './row-masses.ts';
import { DEFAULT_MEASURES, MEASURES, measureOf, quantileCount, type Measure } from './measures.ts';

export { DIMENSIONS, MEASURES, DEFAULT_MEASURES, type Dimension, type Measure };

export interface GroupByParams extends FilterParams {
  by: Dimension[];
  year_bin: number;
  band_deg: number;
  measures: Measure[];
  sort: Measure | 'key';
  limit: number;
}

const Text = (description: string) => Type.Optional(SafeText({ minLength: 1, maxLength: 200, description }));
const Degrees = (limit: number, description: string) => Type.Optional(Type.Number({ minimum: -limit, maximum: limit, description }));

const params = Type.Object(
  {
    by: Type.Array(Type.Enum([...DIMENSIONS]), {
      default: ['class_type'],
      minItems: 1,
      maxItems: 2,
      uniqueItems: true,
      description:
        'One or two dimensions (default class_type; a list, or one text with commas): recclass, class_group, class_type, fall, nametype, year (binned by year_bin), lat_band and lon_band (band_deg wide, keyed by their south or west edge), hemisphere (N or S; latitude 0 is N), mass_decade (floor(log10(mass_g)); 0 g has none).',
    }),
    year_bin: Type.Optional(
      Type.Enum([...YEAR_BINS], { default: 10, description: 'Width of a `year` bin in years; its key is the first year.' }),
    ),
    band_deg: Type.Optional(Type.Enum([...BAND_DEGREES], { default: 10, description: 'Width of a `lat_band` or `lon_band` in degrees.' })),
    measures: Type.Optional(
      Type.Array(Type.Enum([...MEASURES]), {
        minItems: 1,
        uniqueItems: true,
        default: DEFAULT_MEASURES,
        description:
          'What to report per group (a list, or one text with commas). Percentiles interpolate linearly between closest ranks (the median is p50); stddev_mass_g is the sample standard deviation (n − 1).',
      }),
    ),
    sort: Type.Optional(
      Type.Enum([...MEASURES, 'key'], {
        default: 'count',
        description: 'A measure (largest first) or `key` (the dimensions in ascending order).',
      }),
    ),
    limit: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 1000,
        default: 50,
        description: 'Rows to report; the rest are summed into one row whose dimensions read "other".',
      }),
    ),
    ...filterParams,
    class_group: Text('Only this class group (see docs/classification.md), e.g. "IIIAB" or "CM".'),
    class_type: Type.Optional(Type.Enum([...CLASS_TYPES], { description: 'Only this class type.' })),
    nametype: Text('Only this name type: "Valid" or "Relict".'),
    lat_min: Degrees(90, 'Only landings at or north of this latitude; landings without a location are counted in excluded.'),
    lat_max: Degrees(90, 'Only landings at or south of this latitude.'),
    lon_min: Degrees(180, 'Only landings at or east of this longitude.'),
    lon_max: Degrees(180, 'Only landings at or west of this longitude.'),
    name_contains: Type.Optional(
      SafeText({ minLength: 1, maxLength: 100, description: 'Only landings whose name contains this text, ignoring case.' }),
    ),
  },
  { additionalProperties: false },
);

function check(p: GroupByParams): string[] {
  const problems = checkFilters(p);
  for (const [low, high] of [
    ['lat_min', 'lat_max'],
    ['lon_min', 'lon_max'],
  ] as const) {
    if (p[low] !== undefined && p[high] !== undefined && p[low] > p[high]) {
      problems.push(`params.${low} (${p[low]}) must not be greater than params.${high} (${p[high]})`);
    }
  }
  return problems;
}

/** A list param may come as one text with commas (the CLI's `--param by=fall,year`). */
function coerce(given: Record<string, unknown>): Record<string, unknown> {
  const out = { ...given };
  for (const name of ['by', 'measures']) {
    const v = out[name];
    if (typeof v === 'string') out[name] = v.split(',').map((s) => s.trim());
  }
  return out;
}

/** Whether a group-by's order or rows need its min and max, percentiles or standard deviations. */
const wants = (p: GroupByParams, pick: (m: Measure) => boolean) => p.measures.some(pick) || (p.sort !== 'key' && pick(p.sort));
const isMinMax = (m: Measure) => m === 'min_mass_g' || m === 'max_mass_g';

/** Largest first, rows without a value last, ties by key; or by key. */
function order(g: Grouping, p: GroupByParams): Int32Array {
  if (p.sort === 'key') return byKey(g);
  const measure = p.sort;
  const rows = groupRows(g);
  const ordered = quantileCount([measure]) > 0 ? new RowMasses(g, rows, 2 * g.size) : undefined;
  const spread = measure === 'stddev_mass_g' ? stddevs(g, rows) : undefined;
  return byValueDesc(
    g,
    Float64Array.from({ length: g.size }, (_, k) => measureOf(measure, k, g.sums, ordered, spread) ?? NaN),
  );
}

/**
 * The rows in their final order, the groups past `limit` summed into one "other" row whose
 * percentiles come from its own records' masses (not from the groups' figures).
 */
function table(g: Grouping, p: GroupByParams, ranked: Int32Array): Record<string, unknown>[] {
  const shown = Math.min(ranked.length, p.limit);
  const size = ranked.length > shown ? shown + 1 : shown;
  const rowOf = new Int32Array(g.size);
  ranked.forEach((k, rank) => (rowOf[k] = Math.min(rank, shown)));
  const rows = mergeRows(g, rowOf, size);
  const quantiles = quantileCount(p.measures);
  const ordered = quantiles > 0 ? new RowMasses(g, rows, 2 * quantiles * size) : undefined;
  const spread = p.measures.includes('stddev_mass_g') ? stddevs(g, rows) : undefined;
  return Array.from({ length: size }, (_, r) => {
    const row: Record<string, unknown> = {};
    p.by.forEach((d, j) => (row[d] = r < shown ? labelOf(g, ranked[r]!, j) : 'other'));
    for (const m of p.measures) row[m] = measureOf(m, r, rows.sums, ordered, spread);
    return row;
  });
}

/** `excluded`: the reasons the dimensions and filters can give, then any other that occurred. */
function excludedOf(g: Grouping, p: GroupByParams): Record<string, number> {
  const excluded: Record<string, number> = {};
  const named = new Set<Reason>(g.dims.flatMap((d) => d.reasons));
  if (hasYearFilter(p)) named.add('missing_year');
  if (hasBox(p)) {
    named.add('missing_location');
    named.add('zero_location');
  }
  REASONS.forEach((r, k) => {
    if (named.has(r) || g.reasons[k]! > 0) excluded[r] = g.reasons[k]!;
  });
  return excluded;
}

export const groupBy: Analysis<GroupByParams> = {
  name: 'group-by',
  description:
    'Any question of the form "this measure per that dimension": landings grouped by one or two dimensions (class, class group or type, fall, name type, year, latitude or longitude band, hemisphere, mass decade), with the measures asked for, as a table.',
  params,
  coerce,
  check,
  async run(columns, p, ctx): Promise<AnalysisResult> {
    const dims = p.by.map((d) => dimensionCodes(columns, d, p.year_bin, p.band_deg));
    const g = await group(columns, { dims, filters: p, minMax: wants(p, isMinMax), dense: true }, ctx);
    try {
      const groups = table(g, p, order(g, p));
      return { ...resultHead('group-by', p, columns, ctx, g.matched, excludedOf(g, p)), groups: groups as never };
    } finally {
      release(g);
    }
  },
};
