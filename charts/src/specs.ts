/**
 * One vega-lite spec per analysis, built from a finished result. Pure data in, spec out: the
 * renderer in index.ts turns it into SVG and PNG.
 */
import { ServiceError, type AnalysisResult, type Cell, type Meteorite } from '@meteorites/shared';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { TopLevelSpec } from 'vega-lite';
import { FONT_FAMILY } from './fonts.ts';
import { groupByChart } from './group-by.ts';

export const CHART_WIDTH = 800;
/** Bars drawn for mass-by-class before the rest are summed into "other". */
export const TOP_CLASSES = 25;
/** Bars drawn for heaviest: a ranking of 1000 bars would be a poster, not a chart. */
export const MAX_RANKED = 50;

export class UnsupportedChartError extends ServiceError {
  override name = 'UnsupportedChartError';
  override readonly code = 'no_chart';
  override readonly statusCode = 404;
  constructor(readonly analysis: string) {
    super(`the analysis ${analysis} has no chart`, { details: { analysis } });
  }
}

const land = JSON.parse(readFileSync(createRequire(import.meta.url).resolve('world-atlas/land-110m.json'), 'utf8')) as object;

const fmt = new Intl.NumberFormat('en-US');
const count = (n: number) => fmt.format(n);
const plural = (n: number, one: string, many = `${one}s`) => `${count(n)} ${n === 1 ? one : many}`;

/** A log scale once the positive values span two orders of magnitude; linear otherwise. */
function massScale(values: (number | null)[]): 'log' | 'linear' {
  let min = Infinity;
  let max = 0;
  for (const v of values) {
    if (v === null || v <= 0) continue;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return max / min >= 100 ? 'log' : 'linear';
}

// Every bar chart draws one series: `stack: null` also lets log-scale bars start at the axis instead of at log(0).

/** Grams with SI prefixes (1k, 20M); the zero of a linear axis is plain 0, not "0M". */
const massAxis = (label: string, scale: 'log' | 'linear') => ({
  title: `${label} (g${scale === 'log' ? ', log scale' : ''})`,
  format: '~s',
  labelExpr: "datum.value === 0 ? '0' : datum.label",
});

/** "Dataset v3 · class L6, fall Found, years 1900–2000" */
function scope(result: AnalysisResult): string {
  const p = result.params as { recclass?: string; fall?: string; year_from?: number; year_to?: number };
  const filters = [
    p.recclass !== undefined && `class ${p.recclass}`,
    p.fall !== undefined && `fall ${p.fall}`,
    p.year_from !== undefined && p.year_to !== undefined && `years ${p.year_from}–${p.year_to}`,
    p.year_from !== undefined && p.year_to === undefined && `years from ${p.year_from}`,
    p.year_from === undefined && p.year_to !== undefined && `years up to ${p.year_to}`,
  ].filter(Boolean);
  return `Dataset v${result.dataset_version} · ${filters.length ? filters.join(', ') : 'all landings'} · ${plural(result.matched, 'landing')} matched`;
}

const REASONS: Record<string, string> = {
  missing_year: 'without a year',
  missing_class: 'without a class',
  missing_fall: 'without a fall value',
  missing_mass: 'without a mass',
  missing_location: 'without coordinates',
  zero_location: 'at exactly 0,0',
};

/** "Left out: 291 without a year", or "" when nothing was. */
function leftOut(result: AnalysisResult): string {
  const parts = Object.entries(result.excluded)
    .filter(([, n]) => n > 0)
    .map(([reason, n]) => `${count(n)} ${REASONS[reason] ?? reason.replaceAll('_', ' ')}`);
  return parts.length ? `Left out: ${parts.join(', ')}` : '';
}

const title = (text: string, ...subtitle: string[]) => ({ text, subtitle: subtitle.filter(Boolean), anchor: 'start' as const, offset: 12 });

const config = {
  font: FONT_FAMILY,
  background: 'white',
  padding: 12,
  title: { fontSize: 17, subtitleFontSize: 12, subtitleColor: '#555', subtitlePadding: 6 },
  axis: { labelFontSize: 11, titleFontSize: 12, titleFontWeight: 'normal' as const, labelLimit: 260 },
  legend: { labelFontSize: 11, titleFontSize: 12, titleFontWeight: 'normal' as const },
  view: { stroke: null },
  bar: { color: '#4c78a8' },
};

/** A single view whose whole drawing, axes and padding included, is CHART_WIDTH wide; its height is the plot's. */
const fitted = { width: CHART_WIDTH, autosize: { type: 'fit-x' as const, contains: 'padding' as const } };

function massByClass(result: AnalysisResult): TopLevelSpec {
  const groups = result.groups ?? [];
  const top = groups.slice(0, TOP_CLASSES);
  const rest = groups.slice(TOP_CLASSES);
  const rows = top.map((g) => ({ label: `${g.key} (${count(g.count)})`, total: g.total_mass_g, other: false }));
  if (rest.length > 0) {
    rows.push({
      label: `other ${plural(rest.length, 'class', 'classes')} (${count(rest.reduce((s, g) => s + g.count, 0))})`,
      total: rest.some((g) => g.total_mass_g !== null) ? rest.reduce((s, g) => s + (g.total_mass_g ?? 0), 0) : null,
      other: true,
    });
  }
  const scale = massScale(rows.map((r) => r.total));
  const bars = rows.filter((r) => r.total !== null && (scale === 'linear' || r.total > 0)).map((r, rank) => ({ ...r, rank }));
  return {
    ...fitted,
    height: Math.max(60, bars.length * 20),
    config,
    title: title(
      'Total mass by meteorite class',
      `${rest.length ? `The ${TOP_CLASSES} heaviest of ${count(groups.length)} classes; the rest summed as “other”` : `${plural(groups.length, 'class', 'classes')}`}. Landings per class in brackets.`,
      scope(result),
      leftOut(result),
    ),
    data: { values: bars },
    mark: 'bar',
    encoding: {
      y: { field: 'label', type: 'nominal', sort: { field: 'rank' }, title: 'Class (landings)' },
      x: { field: 'total', type: 'quantitative', stack: null, scale: { type: scale }, axis: massAxis('Total mass', scale) },
      color: { condition: { test: 'datum.other', value: '#9aa3ad' }, value: '#4c78a8' },
    },
  };
}

const BIN_NAMES: Record<number, string> = { 1: 'year', 10: 'decade', 100: 'century' };

function massByYear(result: AnalysisResult): TopLevelSpec {
  const bin = Number(result.params.bin ?? 10);
  const groups = result.groups ?? [];
  const values = groups.map((g) => ({ start: g.key, end: Number(g.key) + bin, count: g.count, total: g.total_mass_g }));
  const scale = massScale(values.map((v) => v.total));
  const domain = groups.length ? [Number(groups[0]!.key), Number(groups.at(-1)!.key) + bin] : [1800, 2000];
  const per = BIN_NAMES[bin] ?? `${bin} years`;
  const x = {
    field: 'start',
    type: 'quantitative' as const,
    bin: 'binned' as const,
    scale: { domain, nice: false, zero: false },
    axis: { title: `Year (bars span one ${per})`, format: 'd', tickCount: 12 },
  };
  const x2 = { field: 'end' };
  const panel = { width: CHART_WIDTH - 100, height: 200 };
  return {
    config,
    title: title(`Landings and total mass per ${per}`, scope(result), leftOut(result)),
    data: { values },
    vconcat: [
      { ...panel, mark: 'bar', encoding: { x, x2, y: { field: 'count', type: 'quantitative', stack: null, title: 'Landings' } } },
      {
        ...panel,
        transform: [{ filter: scale === 'log' ? 'datum.total > 0' : 'datum.total !== null' }],
        mark: { type: 'bar', color: '#e45756' },
        encoding: {
          x,
          x2,
          y: { field: 'total', type: 'quantitative', stack: null, scale: { type: scale }, axis: massAxis('Total mass', scale) },
        },
      },
    ],
    resolve: { scale: { x: 'shared' } },
  };
}

function massByFall(result: AnalysisResult): TopLevelSpec {
  const groups = result.groups ?? [];
  const values = groups.map((g) => ({ key: String(g.key), count: g.count, total: g.total_mass_g, median: g.median_mass_g }));
  const panel = (field: 'count' | 'total' | 'median', label: string, color: string) => {
    const scale = field === 'count' ? 'linear' : massScale(values.map((v) => v[field]));
    return {
      width: 190,
      height: 260,
      transform: [{ filter: scale === 'log' ? `datum.${field} > 0` : `datum.${field} !== null` }],
      mark: { type: 'bar' as const, color },
      encoding: {
        x: { field: 'key', type: 'nominal' as const, title: 'Fall', axis: { labelAngle: 0 } },
        y: {
          field,
          type: 'quantitative' as const,
          stack: null,
          scale: { type: scale },
          axis: field === 'count' ? { title: label } : massAxis(label, scale),
        },
      },
    };
  };
  return {
    config,
    title: title('Landings and mass by fall: seen falling (Fell) or found later (Found)', scope(result), leftOut(result)),
    data: { values },
    hconcat: [panel('count', 'Landings', '#4c78a8'), panel('total', 'Total mass', '#e45756'), panel('median', 'Median mass', '#72b7b2')],
  };
}

function heaviest(result: AnalysisResult): TopLevelSpec {
  const items = (result.items ?? []) as Meteorite[];
  const shown = items.slice(0, MAX_RANKED);
  const scale = massScale(shown.map((m) => m.mass_g));
  const values = shown.map((m, rank) => ({
    rank,
    label: `${rank + 1}. ${m.name}${m.recclass ? ` (${m.recclass}${m.year !== null ? `, ${m.year}` : ''})` : ''}`,
    mass: m.mass_g,
  }));
  return {
    ...fitted,
    height: Math.max(60, values.length * 20),
    config,
    title: title(
      `The ${plural(items.length, 'heaviest meteorite', 'heaviest meteorites')}`,
      items.length > shown.length ? `Showing the top ${shown.length} of ${count(items.length)}` : '',
      scope(result),
      leftOut(result),
    ),
    data: { values },
    mark: 'bar',
    encoding: {
      y: { field: 'label', type: 'nominal', sort: { field: 'rank' }, title: null },
      x: { field: 'mass', type: 'quantitative', stack: null, scale: { type: scale }, axis: massAxis('Mass', scale) },
    },
  };
}

function geoGrid(result: AnalysisResult): TopLevelSpec {
  return worldGrid(result, Number(result.params.cell_deg ?? 10), (result.cells ?? []) as Cell[], 'Landings');
}

/** Cells over a world map; `measure` names what a cell's `count` holds. */
function worldGrid(result: AnalysisResult, cell: number, cells: Cell[], measure: string): TopLevelSpec {
  const values = cells.map((c) => ({ lat: c.lat, lon: c.lon, lat2: c.lat + cell, lon2: c.lon + cell, count: c.count }));
  const colorScale = cells.some((c) => c.count >= 100) ? 'log' : 'linear';
  const latitudes = [-60, -30, 0, 30, 60].map((lat) => ({
    lon: -179,
    lat,
    text: lat === 0 ? '0°' : `${Math.abs(lat)}°${lat < 0 ? 'S' : 'N'}`,
  }));
  const longitudes = [-120, -60, 0, 60, 120].map((lon) => ({
    lon,
    lat: 89.5,
    text: lon === 0 ? '0°' : `${Math.abs(lon)}°${lon < 0 ? 'W' : 'E'}`,
  }));
  const gridLabels = (values: object[], align: 'left' | 'center') => ({
    data: { values },
    mark: {
      type: 'text' as const,
      fontSize: 10,
      color: '#666',
      align,
      baseline: align === 'left' ? ('bottom' as const) : ('top' as const),
      dx: align === 'left' ? 2 : 0,
      dy: align === 'left' ? -2 : 0,
    },
    encoding: {
      longitude: { field: 'lon', type: 'quantitative' as const },
      latitude: { field: 'lat', type: 'quantitative' as const },
      text: { field: 'text' },
    },
  });
  return {
    ...fitted,
    height: CHART_WIDTH / 2,
    config,
    title: title(
      `${measure} per ${cell}° × ${cell}° cell of latitude and longitude`,
      `${plural(cells.length, 'cell')} with landings; colour: ${measure.toLowerCase()} per cell${colorScale === 'log' ? ' (log scale)' : ''}`,
      scope(result),
      leftOut(result),
    ),
    projection: { type: 'equirectangular' },
    layer: [
      { data: { sphere: true }, mark: { type: 'geoshape', fill: '#eef3f7', stroke: null } },
      {
        data: { values: land, format: { type: 'topojson', feature: 'land' } },
        mark: { type: 'geoshape', fill: '#d9d9d9', stroke: '#b5b5b5', strokeWidth: 0.5 },
      },
      { data: { graticule: { step: [30, 30] } }, mark: { type: 'geoshape', stroke: '#ffffff', strokeWidth: 0.6, fill: null } },
      {
        data: { values },
        mark: { type: 'rect', opacity: 0.9 },
        encoding: {
          longitude: { field: 'lon', type: 'quantitative' },
          latitude: { field: 'lat', type: 'quantitative' },
          longitude2: { field: 'lon2' },
          latitude2: { field: 'lat2' },
          color: {
            field: 'count',
            type: 'quantitative',
            scale: { type: colorScale, scheme: 'yelloworangered' },
            legend: { title: measure, orient: 'right', format: '~s' },
          },
        },
      },
      gridLabels(latitudes, 'left'),
      gridLabels(longitudes, 'center'),
    ],
  };
}

const builders: Record<string, (result: AnalysisResult) => TopLevelSpec> = {
  'mass-by-class': massByClass,
  'mass-by-year': massByYear,
  'mass-by-fall': massByFall,
  heaviest,
  'geo-grid': geoGrid,
  'group-by': (result) => groupByChart(result, { config, fitted, title, scope, leftOut, massScale, worldGrid }),
};

/** The vega-lite spec of a result's chart. */
export function chartSpec(result: AnalysisResult): TopLevelSpec {
  const build = builders[result.analysis];
  if (!build) throw new UnsupportedChartError(result.analysis);
  return build(result);
}
