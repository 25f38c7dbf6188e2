/**
 * Charts of analysis results: a vega-lite spec compiled by vega-lite, drawn by vega's
 * server-side SVG renderer (no browser, no canvas), and rasterised to PNG by resvg with fonts
 * shipped in node_modules, so a chart looks the same on every machine.
 */
import { renderAsync } from '@resvg/resvg-js';
import { parse, View } from 'vega';
import { compile } from 'vega-lite';
import type { AnalysisResult } from '@meteorites/shared';
import { FONT_FAMILY, fontFiles } from './fonts.ts';
import { CHART_WIDTH, chartSpec } from './specs.ts';
import { xmlSafe } from './xml.ts';

export { chartSpec, UnsupportedChartError, CHART_WIDTH } from './specs.ts';
export { xmlSafe } from './xml.ts';
export { FONT_FAMILY } from './fonts.ts';

export interface Chart {
  svg: string;
  png: Uint8Array;
  width: number;
  height: number;
}

/** The result's chart as an SVG document: well-formed XML whatever text the result holds. */
export async function renderSvg(result: AnalysisResult): Promise<string> {
  const view = new View(parse(compile(chartSpec(result)).spec), { renderer: 'none' });
  try {
    return xmlSafe(await view.toSVG());
  } finally {
    view.finalize();
  }
}

/**
 * Rasterises an SVG to a PNG CHART_WIDTH pixels wide (concatenated charts come out a little off
 * that width in SVG). Parsing, text layout and drawing run on libuv's thread pool, off the event loop.
 * The SVG passes through xmlSafe first: one stored before renderSvg made it safe still draws.
 */
export async function svgToPng(svg: string): Promise<{ png: Uint8Array; width: number; height: number }> {
  const image = await renderAsync(xmlSafe(svg), {
    fitTo: { mode: 'width', value: CHART_WIDTH },
    font: { fontFiles, loadSystemFonts: false, defaultFontFamily: FONT_FAMILY },
  });
  return { png: image.asPng(), width: image.width, height: image.height };
}

export async function renderChart(result: AnalysisResult): Promise<Chart> {
  const svg = await renderSvg(result);
  return { svg, ...(await svgToPng(svg)) };
}
