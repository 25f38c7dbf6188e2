import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { describe, expect, it } from 'vitest';
import { analyses, validateJobRequest, type AnalysisResult, columnsFromRecords, type Columns, type Meteorite } from '@meteorites/shared';
import { CHART_WIDTH, renderChart, renderSvg, UnsupportedChartError } from './index.ts';

const ctx = { datasetVersion: 3, progress: async () => {}, now: () => new Date('2024-01-01T00:00:00Z') };

async function result(name: string, columns: Columns, params: Record<string, unknown> = {}): Promise<AnalysisResult> {
  const request = validateJobRequest(name, params);
  return request.analysis.run(columns, request.params, ctx);
}

type Node = { [tag: string]: Node[] } & { ':@'?: Record<string, string>; '#text'?: string };

/** The SVG as a tree of { tag, class, children, text } from a real XML parser. */
function parseSvg(svg: string) {
  expect(XMLValidator.validate(svg)).toBe(true);
  const tree = new XMLParser({ preserveOrder: true, ignoreAttributes: false, attributeNamePrefix: '' }).parse(svg) as Node[];
  const all: { tag: string; attrs: Record<string, string>; children: Node[] }[] = [];
  const walk = (nodes: Node[]) => {
    for (const node of nodes) {
      const tag = Object.keys(node).find((k) => k !== ':@');
      if (!tag || tag === '#text') continue;
      all.push({ tag, attrs: node[':@'] ?? {}, children: node[tag]! });
      walk(node[tag]!);
    }
  };
  walk(tree);
  const text = (nodes: Node[]): string =>
    nodes
      .map((n) => {
        if (n['#text'] !== undefined) return String(n['#text']);
        const tag = Object.keys(n).find((k) => k !== ':@');
        return tag ? text(n[tag]!) : '';
      })
      .join(' ');
  const groups = (cls: string) => all.filter((e) => e.tag === 'g' && (e.attrs.class ?? '').split(' ').includes(cls));
  return {
    svg: all[0]!,
    /** marks drawn by a mark group, e.g. bars: `path` children of g.mark-rect.role-mark */
    marks: (type: string) =>
      groups('role-mark')
        .filter((g) => g.attrs.class!.includes(`mark-${type}`))
        .map((g) => g.children.filter((c) => !(':@' in c && Object.keys(c).length === 1)).length),
    texts: (cls: string) => groups(cls).map((g) => text(g.children).replace(/\s+/g, ' ').trim()),
  };
}

const sample = columnsFromRecords([
  { id: '1', name: 'Aachen', recclass: 'L5', fall: 'Fell', year: 1880, mass_g: 21, reclat: 50.775, reclong: 6.08333 },
  { id: '2', name: 'Aarhus', recclass: 'H6', fall: 'Fell', year: 1951, mass_g: 720, reclat: 56.18333, reclong: 10.23333 },
  { id: '3', name: 'Abee <&"\'> Ωmega', recclass: 'L5', fall: 'Found', year: 1999, mass_g: 100, reclat: -33.5, reclong: -70.25 },
  { id: '4', name: 'Acapulco', recclass: 'L5', fall: 'Found', year: 2000, reclat: 0, reclong: 0 },
  { id: '5', name: 'Achiras', recclass: 'H6', fall: 'Found', mass_g: 5 },
  { id: '6', name: 'Adhi Kot', fall: 'Fell', year: 1990, mass_g: 1000, reclat: -89.9, reclong: -180 },
  { id: '7', name: 'Adzhi-Bogdo', recclass: 'L5', year: 1901, mass_g: 50, reclat: 90, reclong: 180 },
  { id: '8', name: 'Agen', recclass: 'H6', fall: 'Found', year: 1900, mass_g: 15, reclat: -0.05, reclong: 0.05 },
]);

describe('charts', () => {
  it('mass-by-class: one bar per class, title and axis titles with units', async () => {
    const svg = parseSvg(await renderSvg(await result('mass-by-class', sample)));
    expect(svg.svg.attrs.width).toBe(String(CHART_WIDTH));
    expect(svg.marks('rect')).toEqual([2]);
    expect(svg.texts('role-title-text')).toEqual(['Total mass by meteorite class']);
    expect(svg.texts('role-title-subtitle')[0]).toContain('Dataset v3 · all landings · 8 landings matched');
    expect(svg.texts('role-title-subtitle')[0]).toContain('Left out: 1 without a class');
    expect(svg.texts('role-axis-title').sort()).toEqual(['Class (landings)', 'Total mass (g)']);
    expect(svg.texts('role-axis-label').join(' ')).toContain('H6 (3)');
  });

  it('mass-by-class: the top 25 and one "other" bar, log scale when totals span orders of magnitude', async () => {
    const records = Array.from({ length: 30 }, (_, i) => ({ recclass: `C${i}`, mass_g: 10 ** (i / 5) }));
    const svg = parseSvg(await renderSvg(await result('mass-by-class', columnsFromRecords(records))));
    expect(svg.marks('rect')).toEqual([26]);
    expect(svg.texts('role-axis-label').join(' ')).toContain('other 5 classes (5)');
    expect(svg.texts('role-axis-title')).toContain('Total mass (g, log scale)');
    expect(svg.texts('role-title-subtitle')[0]).toContain('The 25 heaviest of 30 classes');
  });

  it('mass-by-year: a count bar per bin and a mass bar per bin with a mass', async () => {
    const svg = parseSvg(await renderSvg(await result('mass-by-year', sample, { year_from: 1850 })));
    expect(svg.marks('rect')).toEqual([5, 4]);
    expect(svg.texts('role-title-text')).toEqual(['Landings and total mass per decade']);
    expect(svg.texts('role-title-subtitle')[0]).toContain('years from 1850');
    expect(svg.texts('role-axis-title')).toEqual(expect.arrayContaining(['Landings', 'Total mass (g)', 'Year (bars span one decade)']));
    expect(svg.texts('role-axis-label').join(' ')).not.toMatch(/1,9/);
  });

  it('mass-by-fall: three panels of one bar per fall value', async () => {
    const svg = parseSvg(await renderSvg(await result('mass-by-fall', sample)));
    expect(svg.marks('rect')).toEqual([2, 2, 2]);
    expect(svg.texts('role-title-text')[0]).toMatch(/^Landings and mass by fall/);
    expect(svg.texts('role-axis-title')).toEqual(expect.arrayContaining(['Landings', 'Total mass (g)', 'Median mass (g)', 'Fall']));
  });

  it('heaviest: ranked bars labelled with names, escaped in the XML', async () => {
    const raw = await renderSvg(await result('heaviest', sample, { n: 3 }));
    const svg = parseSvg(raw);
    expect(svg.marks('rect')).toEqual([3]);
    expect(svg.texts('role-title-text')).toEqual(['The 3 heaviest meteorites']);
    expect(svg.texts('role-axis-title')).toEqual(['Mass (g)']);
    const labels = svg.texts('role-axis-label').join(' | ');
    expect(labels).toContain('1. Adhi Kot');
    expect(labels).toContain('2. Aarhus (H6, 1951)');
    expect(raw).toContain('3. Abee &lt;&amp;');
  });

  it('heaviest: at most 50 bars, and says so', async () => {
    const records: Partial<Meteorite>[] = Array.from({ length: 60 }, (_, i) => ({ name: `M${i}`, mass_g: 1000 + i }));
    const svg = parseSvg(await renderSvg(await result('heaviest', columnsFromRecords(records), { n: 100 })));
    expect(svg.marks('rect')).toEqual([50]);
    expect(svg.texts('role-title-subtitle')[0]).toContain('Showing the top 50 of 60');
  });

  it('geo-grid: one rect per cell over a world map', async () => {
    const svg = parseSvg(await renderSvg(await result('geo-grid', sample)));
    expect(svg.marks('rect')).toEqual([6]);
    expect(svg.marks('shape')).toHaveLength(3);
    expect(svg.texts('role-title-text')).toEqual(['Landings per 10° × 10° cell of latitude and longitude']);
    expect(svg.texts('role-title-subtitle')[0]).toContain('1 without coordinates, 1 at exactly 0,0');
    expect(svg.texts('role-legend-title')).toEqual(['Landings']);
    expect(svg.texts('role-mark').join(' ')).toContain('30°N');
  });

  it.each([
    [{ by: ['recclass'], limit: 1 }, 'rect', 2, 'Landings by class'],
    [{ by: ['year'], year_bin: 100, sort: 'key' }, 'rect', 3, 'Landings by year'],
    [{ by: ['fall', 'class_type'], measures: ['median_mass_g'] }, 'rect', 2, 'Median mass by fall and class type'],
    [{ by: ['recclass', 'year'], year_bin: 1, sort: 'key' }, 'rect', 6, 'Landings by class and year'],
  ])('group-by %j: a chart of its shape', async (params, mark, marks, heading) => {
    const svg = parseSvg(await renderSvg(await result('group-by', sample, params)));
    expect(svg.texts('role-title-text')).toEqual([heading]);
    expect(svg.marks(mark)).toEqual([marks]);
  });

  it('group-by latitude × longitude bands: the world map of geo-grid', async () => {
    const svg = parseSvg(await renderSvg(await result('group-by', sample, { by: ['lat_band', 'lon_band'], band_deg: 30 })));
    expect(svg.texts('role-title-text')).toEqual([
      'Landings by latitude band and longitude band per 30° × 30° cell of latitude and longitude',
    ]);
    expect(svg.texts('role-mark').join(' ')).toContain('30°N');
  });

  it.each([...analyses.keys()])('%s: renders an empty result', async (name) => {
    const svg = parseSvg(await renderSvg(await result(name, columnsFromRecords([]))));
    expect(svg.texts('role-title-text')).toHaveLength(1);
  });

  it('makes a PNG CHART_WIDTH wide with the SVG’s aspect ratio', async () => {
    for (const name of analyses.keys()) {
      const chart = await renderChart(await result(name, sample));
      const png = Buffer.from(chart.png);
      expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
      expect(png.toString('latin1', 12, 16)).toBe('IHDR');
      const [width, height] = [png.readUInt32BE(16), png.readUInt32BE(20)];
      expect([width, height]).toEqual([chart.width, chart.height]);
      expect(width).toBe(CHART_WIDTH);
      const { attrs } = parseSvg(chart.svg).svg;
      expect(height).toBe(Math.round((Number(attrs.height) * CHART_WIDTH) / Number(attrs.width)));
    }
  });

  it('refuses a result it has no chart for', async () => {
    const bogus = { ...(await result('heaviest', sample)), analysis: 'nope' };
    await expect(renderChart(bogus)).rejects.toBeInstanceOf(UnsupportedChartError);
  });
});
