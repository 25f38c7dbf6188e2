import Type from 'typebox';
import { checkFilters, filterParams, hasYearFilter, type Filters } from './filters.ts';
import { cachedCodes, locatedBins, REASONS } from './group-by/dimensions.ts';
import { byKey, group, labelOf, release } from './group-by/engine.ts';
import { resultHead } from './result.ts';
import type { Analysis, Cell } from './types.ts';

/** Cell sizes whose per-record cell codes a dataset keeps (4 bytes a record each); older ones are dropped and remade on demand. */
const KEPT_CELL_SIZES = 8;

export interface GeoGridParams extends Filters {
  cell_deg: number;
}

/**
 * The cell size as a whole number of hundredths of a degree, or null when it is not a valid size:
 * at most two decimals, and dividing 90 so the grid lines fall on the equator, the poles,
 * the prime meridian and the antimeridian.
 */
function hundredths(cellDeg: number): number | null {
  const h = Math.round(cellDeg * 100);
  return Math.abs(h - cellDeg * 100) < 1e-6 && h > 0 && 9000 % h === 0 ? h : null;
}

/**
 * Counts landings per cell. Cell k spans [k·cell, (k+1)·cell): corners are computed as k·h/100
 * (an exact integer divided once, so the double nearest the decimal corner) and a coordinate is
 * compared against them rather than trusting floor(v / cell), which misplaces values that sit on
 * a grid line (-89.9 / 0.1 is 0.99999...). Latitude 90 joins the northernmost row, longitude 180
 * the easternmost column.
 */
function grid(h: number) {
  const cell = h / 100;
  const corner = (k: number) => (k * h) / 100;
  const index = (v: number, lowest: number, highest: number) => {
    let k = Math.floor(v / cell);
    if (v < corner(k)) k--;
    else if (v >= corner(k + 1)) k++;
    return k < lowest ? lowest : k > highest ? highest : k;
  };
  // Cells per hemisphere: north/south of the equator, east/west of the prime meridian.
  const half = { rows: 9000 / h, columns: 18000 / h };
  const width = 2 * half.columns;
  return {
    /** row-major from the south-west, so sorted keys run south to north, then west to east */
    key: (lat: number, lon: number) =>
      (index(lat, -half.rows, half.rows - 1) + half.rows) * width + index(lon, -half.columns, half.columns - 1) + half.columns,
    cell: (key: number, count: number): Cell => ({
      lat: corner(Math.floor(key / width) - half.rows),
      lon: corner((key % width) - half.columns),
      count,
    }),
  };
}

export const geoGrid: Analysis<GeoGridParams> = {
  name: 'geo-grid',
  description:
    'Landings counted per latitude/longitude cell; landings without coordinates or at exactly 0,0 (a placeholder, not a find) are left out and counted.',
  params: Type.Object(
    {
      cell_deg: Type.Optional(
        Type.Number({
          minimum: 0.1,
          maximum: 90,
          default: 10,
          description:
            'Cell size in degrees, 0.1..90, with at most two decimals and dividing 90 exactly (e.g. 0.1, 0.25, 0.5, 1, 2, 2.5, 5, 10, 15, 30, 45, 90), so cells line up with the equator and the prime meridian.',
        }),
      ),
      ...filterParams,
    },
    { additionalProperties: false },
  ),
  check(params) {
    const problems = checkFilters(params);
    if (hundredths(params.cell_deg) === null) {
      problems.push(
        `params.cell_deg must have at most two decimals and divide 90 exactly (e.g. 0.1, 0.25, 1, 5, 10, 15); got ${params.cell_deg}`,
      );
    }
    return problems;
  },
  async run(columns, params, ctx) {
    const h = hundredths(params.cell_deg)!;
    const g = grid(h);
    // Each record's cell, prepared once per dataset and cell size: a query then counts per cell code.
    const cells = cachedCodes(columns, `geo_cell:${h}`, () => locatedBins(columns, g.key), KEPT_CELL_SIZES);
    const grouping = await group(columns, { dims: [cells], filters: params, minMax: false }, ctx);
    try {
      const count = (reason: (typeof REASONS)[number]) => grouping.reasons[REASONS.indexOf(reason)]!;
      const excluded: Record<string, number> = { missing_location: count('missing_location'), zero_location: count('zero_location') };
      if (hasYearFilter(params)) excluded.missing_year = count('missing_year');
      const found = Array.from(byKey(grouping), (k) => g.cell(labelOf(grouping, k, 0) as number, grouping.sums.count[k]!));
      return { ...resultHead('geo-grid', params, columns, ctx, grouping.matched, excluded), cells: found };
    } finally {
      release(grouping);
    }
  },
};
