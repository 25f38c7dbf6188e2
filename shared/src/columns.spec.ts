import { describe, expect, it } from 'vitest';
import {
  codeOf,
  CodedTextsBuilder,
  columnsFromRecords,
  emptyColumns,
  idsOf,
  meteoriteAt,
  textAt,
  textsOf,
  TextList,
  Utf8Texts,
} from './columns.ts';

describe('CodedTextsBuilder', () => {
  it('codes each distinct text once, 0 for missing, in the narrowest array', () => {
    const b = new CodedTextsBuilder();
    for (const v of ['L6', null, 'H5', 'L6', 'L6']) b.push(v);
    const c = b.finish();
    expect(c.codes).toBeInstanceOf(Uint8Array);
    expect([...c.codes]).toEqual([1, 0, 2, 1, 1]);
    expect(c.values).toEqual([null, 'L6', 'H5']);
    expect(textsOf(c)).toEqual(['L6', null, 'H5', 'L6', 'L6']);
    expect([codeOf(c, 'H5'), codeOf(c, 'nope'), textAt(c, 1)]).toEqual([2, -1, null]);
  });

  it('widens the codes with the number of distinct texts, past its initial capacity', () => {
    const b = new CodedTextsBuilder();
    for (let i = 0; i < 70_000; i++) b.push(`C${i % 300}`);
    expect(b.finish().codes).toBeInstanceOf(Uint16Array);
    const wide = new CodedTextsBuilder();
    for (let i = 0; i < 70_000; i++) wide.push(`C${i}`);
    const c = wide.finish();
    expect(c.codes).toBeInstanceOf(Uint32Array);
    expect(textAt(c, 69_999)).toBe('C69999');
  });

  it('finishes empty', () => {
    expect(new CodedTextsBuilder().finish()).toEqual({ codes: new Uint8Array(0), values: [null] });
  });
});

describe('Utf8Texts', () => {
  it('gives each text back from one buffer, non-ASCII and empty ones included', () => {
    const texts = ['Aachen', '', 'Aïr ☄', 'Ærøskøbing 𝄞'];
    const bytes = texts.map((t) => Buffer.from(t));
    const offsets = new Uint32Array(texts.length + 1);
    bytes.forEach((b, i) => (offsets[i + 1] = offsets[i]! + b.length));
    const u = new Utf8Texts(Buffer.concat(bytes), offsets);
    expect(u.length).toBe(4);
    expect(textsOf(u)).toEqual(texts);
    expect(textsOf(new TextList(texts))).toEqual(texts);
  });
});

describe('columnsFromRecords and meteoriteAt', () => {
  it('round-trips a record, missing values as null', () => {
    const full = {
      id: '123456789012345',
      name: 'Aïr ☄',
      nametype: 'Valid',
      recclass: 'L5',
      mass_g: 21,
      fall: 'Fell',
      year: 1880,
      reclat: 50.775,
      reclong: -6.08333,
    };
    const c = columnsFromRecords([full, { id: '2', name: 'Bare' }]);
    expect(meteoriteAt(c, 0)).toEqual({ ...full, class_type: 'Chondrite', class_group: 'L' });
    expect(meteoriteAt(c, 1)).toEqual({
      id: '2',
      name: 'Bare',
      nametype: null,
      recclass: null,
      mass_g: null,
      fall: null,
      year: null,
      reclat: null,
      reclong: null,
      class_type: null,
      class_group: null,
    });
    expect(idsOf(c)).toEqual(['123456789012345', '2']);
  });

  it('makes empty columns', () => {
    const c = columnsFromRecords([]);
    expect(c.length).toBe(0);
    expect(c).toEqual(emptyColumns());
  });
});
