/**
 * The one font charts use, DejaVu Sans from an npm package: resvg draws with these files (no
 * system fonts, so a PNG is the same on every machine), and vega lays text out with their real
 * advance widths instead of its rough estimate (0.8 em a character), which wasted space and
 * cut long labels short.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import opentype from 'opentype.js';
import * as vega from 'vega';

export const FONT_FAMILY = 'DejaVu Sans';

const require = createRequire(import.meta.url);
const path = (file: string) => require.resolve(`dejavu-fonts-ttf/ttf/${file}`);
export const fontFiles = [path('DejaVuSans.ttf'), path('DejaVuSans-Bold.ttf')];

function load(file: string): opentype.Font {
  const bytes = readFileSync(file);
  return opentype.parse(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
}
const [regular, bold] = fontFiles.map(load) as [opentype.Font, opentype.Font];

/** Width in px of one line: advances plus kerning, per character (no shaping: opentype.js 2 trips over DejaVu's GSUB). */
function measure(font: opentype.Font, text: string, size: number): number {
  let units = 0;
  let previous: opentype.Glyph | undefined;
  for (const ch of text) {
    const glyph = font.charToGlyph(ch);
    units += glyph.advanceWidth ?? 0;
    if (previous) units += font.getKerningValue(previous, glyph);
    previous = glyph;
  }
  return (units * size) / font.unitsPerEm;
}

interface TextItem {
  fontSize?: number;
  fontWeight?: string | number;
  limit?: number;
  text?: unknown;
}

/**
 * vega calls this for label bounds and for truncation to `limit`; answering at most the limit
 * makes both behave as with its own metrics: a label longer than its limit is cut to fit.
 */
// vega exports textMetrics at run time but not in its typings.
(vega as unknown as { textMetrics: { width: (item: TextItem, text?: unknown) => number } }).textMetrics.width = (item, text) => {
  const line = String(text ?? item.text ?? '').trim();
  const size = item.fontSize ?? 11;
  const weight = item.fontWeight;
  const font = weight === 'bold' || (typeof weight === 'number' && weight >= 600) || Number(weight) >= 600 ? bold : regular;
  const width = measure(font, line, size);
  return item.limit && item.limit > 0 ? Math.min(width, item.limit) : width;
};
