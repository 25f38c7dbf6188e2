import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { courseJsonOf, DATASET_CSV, fullDataset } from './env.ts';

describe('the dataset the repository ships', () => {
  it("is NASA's CSV of 45,716 landings, inside the repository", () => {
    const text = readFileSync(DATASET_CSV, 'utf8');
    expect(text.startsWith('name,id,nametype,recclass,mass (g),fall,year,reclat,reclong,GeoLocation')).toBe(true);
    expect(text.trimEnd().split('\n')).toHaveLength(45_716 + 1);
  });

  it('derives the course JSON shape: CSV text values, empty fields left out, quotes undone', () => {
    const csv = 'name,id,mass (g),GeoLocation\nAachen,1,21,"(50.775, 6.08333)"\n"Say ""hi""",2,,\n';
    expect(JSON.parse(courseJsonOf(csv))).toEqual({
      meteorite_landings: [
        { name: 'Aachen', id: '1', 'mass (g)': '21', GeoLocation: '(50.775, 6.08333)' },
        { name: 'Say "hi"', id: '2' },
      ],
    });
  });

  it('writes the derived JSON beside the tests with every landing', () => {
    const { json } = fullDataset();
    const landings = (JSON.parse(readFileSync(json, 'utf8')) as { meteorite_landings: { id: string }[] }).meteorite_landings;
    expect(landings).toHaveLength(45_716);
    expect(landings[0]).toMatchObject({ name: 'Aachen', id: '1', recclass: 'L5' });
  });
});
