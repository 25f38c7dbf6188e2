/**
 * The chart of a group-by result, chosen from its shape: one category → horizontal bars (the rows
 * in the result's order, "other" last and grey); `year` → bars over time; two dimensions → grouped
 * bars when one of them has at most five values, a heatmap otherwise; latitude × longitude bands →
 * the world map of geo-grid. The bars show the measure the rows were sorted by (else the first asked).
 */
import type { TopLevelSpec } from 'vega-lite';
import type { AnalysisResult } from '@meteorites/shared';

type Row = Record<string, string | number | null>;

export interface GroupByChartParts {
  config: object;
  fitted: object;
  title: (text: string, ...subtitle: string[]) => object;
  scope: (result: AnalysisResult) => string;
  leftOut: (result: AnalysisResult) => string;
  massScale: (values: (number | null)[]) => 'log' | 'linear';
  worldGrid: (
    result: AnalysisResult,
    cellDeg: number,
    cells: { lat: number; lon: number; count: number }[],
    heading: string,
  ) => TopLevelSpec;
}

const GROUPED_MAX = 5;

const LABELS: Record<string, string> = {
  count: 'Landings',
  with_mass: 'Landings with a mass',
  total_mass_g: 'Total mass',
  mean_mass_g: 'Mean mass',
  median_mass_g: 'Median mass',
  min_mass_g: 'Smallest mass',
  max_mass_g: 'Largest mass',
  p10_mass_g: '10th percentile of mass',
  p25_mass_g: '25th percentile of mass',
  p75_mass_g: '75th percentile of mass',
  p90_mass_g: '90th percentile of mass',
  stddev_mass_g: 'Standard deviation of mass',
  recclass: 'class',
  class_group: 'class group',
  class_type: 'class type',
  nametype: 'name type',
  lat_band: 'latitude band',
  lon_band: 'longitude band',
  mass_decade: 'mass decade (log10 g)',
};
const label = (name: string) => LABELS[name] ?? name.replaceAll('_', ' ');

export function groupByChart(result: AnalysisResult, parts: GroupByChartParts): TopLevelSpec {
  const p = result.params as { by: string[]; measures: string[]; sort: string; year_bin?: number; band_deg?: number };
  const rows = (result.groups ?? []) as unknown as Row[];
  const measure = p.measures.includes(p.sort) ? p.sort : p.measures[0]!;
  const massLike = measure.endsWith('_mass_g');
  const scale = massLike ? parts.massScale(rows.map((r) => r[measure] as number | null)) : 'linear';
  const heading = `${label(measure)} by ${p.by.map(label).join(' and ')}`;
  const dimensionTitle = (d: string) => label(d).replace(/^./, (c) => c.toUpperCase());
  const axis = { title: `${label(measure)}${massLike ? ` (g${scale === 'log' ? ', log scale' : ''})` : ''}`, format: '~s' };
  const y = { field: measure, type: 'quantitative' as const, stack: null, scale: { type: scale }, axis };
  const shown = rows.filter((r) => r[measure] !== null && (scale === 'linear' || (r[measure] as number) > 0));
  const titled = (spec: object): TopLevelSpec =>
    ({ config: parts.config, title: parts.title(heading, parts.scope(result), parts.leftOut(result)), ...spec }) as TopLevelSpec;
  const [first, second] = p.by as [string, string | undefined];

  if (second === undefined && first === 'year') {
    const bin = p.year_bin ?? 10;
    const values = shown.filter((r) => r.year !== 'other').map((r) => ({ ...r, end: Number(r.year) + bin }));
    return titled({
      width: 700,
      height: 300,
      data: { values },
      mark: 'bar',
      encoding: {
        x: { field: 'year', type: 'quantitative', bin: 'binned', axis: { title: 'Year', format: 'd' }, scale: { zero: false } },
        x2: { field: 'end' },
        y,
      },
    });
  }
  if (second === undefined) {
    const values = shown.map((r, rank) => ({ ...r, rank, label: String(r[first]), other: r[first] === 'other' }));
    return titled({
      ...parts.fitted,
      height: Math.max(60, values.length * 20),
      data: { values },
      mark: 'bar',
      encoding: {
        y: { field: 'label', type: 'nominal', sort: { field: 'rank' }, title: dimensionTitle(first) },
        x: y,
        color: { condition: { test: 'datum.other', value: '#9aa3ad' }, value: '#4c78a8' },
      },
    });
  }
  const bands = new Set([first, second]);
  if (bands.has('lat_band') && bands.has('lon_band')) {
    const cells = shown
      .filter((r) => r.lat_band !== 'other')
      .map((r) => ({ lat: Number(r.lat_band), lon: Number(r.lon_band), count: Number(r[measure]) }));
    return parts.worldGrid(result, p.band_deg ?? 10, cells, heading);
  }
  const distinct = (d: string) => new Set(shown.map((r) => r[d])).size;
  const [outer, inner] =
    distinct(second) <= GROUPED_MAX ? [first, second] : distinct(first) <= GROUPED_MAX ? [second, first] : [first, second];
  const nominal = (d: string) => ({ field: d, type: 'nominal' as const, title: dimensionTitle(d), sort: null });
  if (distinct(inner) <= GROUPED_MAX) {
    return titled({
      ...parts.fitted,
      height: 320,
      data: { values: shown },
      mark: 'bar',
      encoding: { x: nominal(outer), xOffset: { field: inner, sort: null }, color: nominal(inner), y },
    });
  }
  return titled({
    ...parts.fitted,
    height: Math.max(120, distinct(first) * 16),
    data: { values: shown },
    mark: 'rect',
    encoding: {
      y: nominal(first),
      x: nominal(second),
      color: {
        field: measure,
        type: 'quantitative',
        scale: { type: scale, scheme: 'yelloworangered' },
        legend: { title: label(measure), format: '~s' },
      },
    },
  });
}
