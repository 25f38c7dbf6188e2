import { describe, expect, it } from 'vitest';
import type { Meteorite } from '@meteorites/shared';
import { NASA_CSV_HEADER, csvField, nasaCsvRow } from './nasa-csv.ts';

const aachen: Meteorite = {
  id: '1',
  name: 'Aachen',
  nametype: 'Valid',
  recclass: 'L5',
  mass_g: 21,
  fall: 'Fell',
  year: 1880,
  reclat: 50.775,
  reclong: 6.08333,
  class_type: 'Chondrite',
  class_group: 'L',
};

describe('NASA CSV', () => {
  it('writes the header and a row in NASA column order, GeoLocation quoted', () => {
    expect(NASA_CSV_HEADER).toBe('name,id,nametype,recclass,mass (g),fall,year,reclat,reclong,GeoLocation\n');
    expect(nasaCsvRow(aachen)).toBe('Aachen,1,Valid,L5,21,Fell,1880,50.775,6.08333,"(50.775, 6.08333)"\n');
  });

  it('writes whole coordinates Python-style in GeoLocation', () => {
    expect(nasaCsvRow({ ...aachen, reclat: 54.21667, reclong: -113 })).toContain(',54.21667,-113,"(54.21667, -113.0)"\n');
    expect(nasaCsvRow({ ...aachen, reclat: 0, reclong: 0 })).toContain('"(0.0, 0.0)"');
  });

  it('leaves missing values empty and GeoLocation empty unless both coordinates exist', () => {
    const row = nasaCsvRow({ ...aachen, nametype: null, recclass: null, mass_g: null, fall: null, year: null, reclat: null, reclong: 6 });
    expect(row).toBe('Aachen,1,,,,,,,6,\n');
  });

  it('quotes fields holding commas, quotes, line breaks or edge spaces', () => {
    expect(csvField('Iron, IVA')).toBe('"Iron, IVA"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvField('a\nb')).toBe('"a\nb"');
    expect(csvField(' x')).toBe('" x"');
    expect(csvField('plain')).toBe('plain');
    expect(csvField(null)).toBe('');
    expect(csvField(0)).toBe('0');
  });
});
