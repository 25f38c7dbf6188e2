import Value from 'typebox/value';
import { XMLValidator } from 'fast-xml-parser';
import { describe, expect, it } from 'vitest';
import { analyses, type AnalysisResult, columnsFromRecords, type Meteorite } from '@meteorites/shared';
import { renderSvg, svgToPng } from './index.ts';
import { xmlSafe } from './xml.ts';

/** XML 1.0's `Char` production, written out as numbers: what a document may hold. */
const isXmlChar = (cp: number) =>
  cp === 0x9 ||
  cp === 0xa ||
  cp === 0xd ||
  (cp >= 0x20 && cp <= 0xd7ff) ||
  (cp >= 0xe000 && cp <= 0xfffd) ||
  (cp >= 0x10000 && cp <= 0x10ffff);

const hex = (cp: number) => `U+${cp.toString(16).toUpperCase().padStart(4, '0')}`;

/** Every code point of the BMP that XML cannot hold (C0 but tab/LF/CR, the 2048 surrogates, U+FFFE, U+FFFF), and DEL and C1, which it can. */
const NOT_XML = Array.from({ length: 0x10000 }, (_, cp) => cp).filter((cp) => !isXmlChar(cp));
const CONTROLS = [...NOT_XML.filter((cp) => cp < 0xd800 || cp > 0xdfff), 0x7f, 0x85, 0x9f, 0xd800, 0xdbff, 0xdc00, 0xdfff];
/** One string holding each of them once (surrogates alone: a high one followed by a letter, a low one after a letter). */
const HOSTILE = CONTROLS.map((cp) => `${String.fromCharCode(cp)}x`).join('');

/** The first character of `text` outside XML's Char production, or undefined. */
function firstNotXml(text: string): string | undefined {
  for (const ch of text) {
    const cp = ch.codePointAt(0)!;
    if (!isXmlChar(cp)) return `${hex(cp)} at ${text.indexOf(ch)}`;
  }
  return undefined;
}

const ctx = { datasetVersion: 1, progress: async () => {}, now: () => new Date('2024-01-01T00:00:00Z') };

/** A result of `name` over landings whose every text field holds every bad character, with filters holding them too (as a job stored before requests were checked). */
async function hostileResult(name: string): Promise<AnalysisResult> {
  const records: Partial<Meteorite>[] = CONTROLS.slice(0, 12).map((cp, i) => ({
    id: String(i + 1),
    name: `N${HOSTILE}${i}`,
    nametype: 'Valid',
    recclass: `C${String.fromCharCode(cp)}${i}`,
    fall: i % 2 ? `Fell${String.fromCharCode(cp)}` : 'Found',
    year: 1900 + i,
    mass_g: 10 ** (i % 6) + i,
    reclat: -60 + i * 10,
    reclong: -170 + i * 25,
  }));
  const analysis = analyses.get(name)!;
  const params = { ...(Value.Default(analysis.params, {}) as object), n: 20, bin: 10, cell_deg: 10 };
  const result = await analysis.run(columnsFromRecords(records), params, ctx);
  return { ...result, params: { ...result.params, recclass: `class${HOSTILE}`, fall: `fall${HOSTILE}` } };
}

describe('xmlSafe', () => {
  it('replaces exactly the code points XML 1.0 cannot hold, over the whole of Unicode', () => {
    const wrong: string[] = [];
    for (let cp = 0; cp <= 0x10ffff; cp++) {
      const ch = cp >= 0xd800 && cp <= 0xdfff ? String.fromCharCode(cp) : String.fromCodePoint(cp);
      const expected = isXmlChar(cp) ? ch : '\uFFFD';
      if (xmlSafe(`a${ch}b`) !== `a${expected}b`) wrong.push(hex(cp));
    }
    expect(wrong.slice(0, 20)).toEqual([]);
  });

  it('keeps surrogate pairs, and returns the very string when there is nothing to replace', () => {
    expect(xmlSafe('☄️ 𝔏6 Ωmega <&>')).toBe('☄️ 𝔏6 Ωmega <&>');
    expect(xmlSafe('\ud835\udd0f\ud835')).toBe('\ud835\udd0f\uFFFD');
    expect(NOT_XML.length).toBe(29 + 2048 + 2);
  });
});

describe('charts of text XML cannot hold', () => {
  it.each([...analyses.keys()])('%s: a well-formed SVG and a PNG, whatever the landings and filters hold', async (name) => {
    const svg = await renderSvg(await hostileResult(name));
    expect(firstNotXml(svg)).toBeUndefined();
    expect(XMLValidator.validate(svg)).toBe(true);
    const png = Buffer.from((await svgToPng(svg)).png);
    expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
  });

  it('draws an SVG stored before charts were made safe', async () => {
    const stored = `<svg xmlns="http://www.w3.org/2000/svg" width="100" height="50"><text x="5" y="20">a${String.fromCharCode(0)}b\u0001\uFFFE\uFFFF\ud800</text></svg>`;
    const png = Buffer.from((await svgToPng(stored)).png);
    expect(png.toString('latin1', 1, 4)).toBe('PNG');
  });
});
