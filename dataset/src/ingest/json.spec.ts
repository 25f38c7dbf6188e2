import { describe, expect, it } from 'vitest';
import { DatasetFormatError } from './errors.ts';
import { JsonReader, MAX_VALUE_CHARS } from './json.ts';

/** Every value the reader hands over, with its index; the input fed in chunks of `size` characters or bytes. */
function read(input: string, size = Infinity, asBytes = true): [unknown, number][] {
  const out: [unknown, number][] = [];
  const reader = new JsonReader((value, index) => out.push([value, index]));
  const data = asBytes ? Buffer.from(input) : input;
  for (let i = 0; i < data.length; i += size) reader.push(data.slice(i, Math.min(data.length, i + size)) as Buffer | string);
  reader.end();
  return out;
}

const values = (input: string, size?: number) => read(input, size).map(([v]) => v);

const RECORDS = [
  { name: 'Aachen', id: '1', 'mass (g)': '21', GeoLocation: '(50.775, 6.08333)' },
  { name: 'Quote "inside", a backslash \\ and one before a quote \\"', id: '2' },
  { name: 'Aïr – ☄ 𝛼', id: '424', geolocation: { type: 'Point', coordinates: [8.38333, 19.08333] } },
  { name: 'brackets ] } [ { in text', id: '3', nested: [[1, 2], { a: [] }] },
];

describe('JsonReader', () => {
  it('reads the course shape, pretty-printed or compact', () => {
    for (const text of [JSON.stringify({ meteorite_landings: RECORDS }, null, 2), JSON.stringify({ meteorite_landings: RECORDS })]) {
      const got = read(text);
      expect(got.map(([v]) => v)).toEqual(RECORDS);
      expect(got.map(([, i]) => i)).toEqual([0, 1, 2, 3]);
    }
  });

  it('reads a plain array, with a BOM and surrounding whitespace', () => {
    expect(values(`\uFEFF \n ${JSON.stringify(RECORDS, null, 1)} \n`)).toEqual(RECORDS);
  });

  it('reads the same whatever the chunk boundaries, as bytes (split UTF-8) or as text', () => {
    const text = JSON.stringify({ before: { x: ['"]}'] }, meteorite_landings: RECORDS, after: 1 }, null, 1);
    for (let size = 1; size <= 24; size++) {
      expect(values(text, size), `byte chunks of ${size}`).toEqual(RECORDS);
      expect(
        read(text, size, false).map(([v]) => v),
        `text chunks of ${size}`,
      ).toEqual(RECORDS);
    }
    for (let cut = 1; cut < text.length; cut++) {
      const out: unknown[] = [];
      const reader = new JsonReader((v) => out.push(v));
      reader.push(text.slice(0, cut));
      reader.push(text.slice(cut));
      reader.end();
      expect(out, `cut at ${cut}`).toEqual(RECORDS);
    }
  });

  it('reads string elements and member names with escaped quotes and backslashes across any chunk boundary', () => {
    const strings = ['s\\"t\\', '\\', '"', 'a"b"c'.repeat(5)];
    const text = JSON.stringify({ 'a"b\\': 'x"y\\"z', meteorite_landings: strings, 'k\\"': 1 });
    for (let size = 1; size <= 12; size++) expect(values(text, size), `chunks of ${size}`).toEqual(strings);
  });

  it('hands over elements that are not objects too (the caller skips them)', () => {
    expect(values('[1, "two", null, [3], {"id": "4"}, true]')).toEqual([1, 'two', null, [3], { id: '4' }, true]);
  });

  it('skips the other members of the top-level object, before and after the records', () => {
    expect(values('{"count": 2, "meta": {"a": [1, {"b": "}"}]}, "meteorite_landings": [{"id": "1"}], "tail": null}')).toEqual([
      { id: '1' },
    ]);
  });

  it('reads empty arrays', () => {
    expect(values('[]')).toEqual([]);
    expect(values('{"meteorite_landings": [ ]}')).toEqual([]);
  });

  it.each([
    ['a truncated record', '{"meteorite_landings": [{"id": "1", "name": ', /ends inside a value/],
    ['a truncated array', '[{"id": "1"}', /ends too early/],
    ['a missing comma', '[{"id": "1"} {"id": "2"}]', /expects "," or "]" after a record/],
    ['a trailing comma', '[{"id": "1"},]', /has a "," before "]"/],
    ['a broken record', '[{"id": "1",}]', /malformed record/],
    ['a record with a bad literal', '[{"id": tru}]', /malformed record/],
    ['an object of another shape', '{"hello": "world"}', /without a "meteorite_landings" array/],
    ['an empty object', '{}', /without a "meteorite_landings" array/],
    ['records that are not an array', '{"meteorite_landings": {"id": "1"}}', /not an array/],
    ['the records twice', '{"meteorite_landings": [], "meteorite_landings": []}', /twice/],
    ['a scalar document', '42', /neither an array of records nor an object/],
    ['a string document', '"meteorite_landings"', /neither an array/],
    ['text after the end', '[{"id": "1"}] [{"id": "2"}]', /more text after its end/],
    ['a broken member value', '{"x": [1,, 2], "meteorite_landings": []}', /malformed value/],
    ['nothing', '', /ends too early/],
    ['only spaces', '   \n ', /ends too early/],
    ['a member without a colon', '{"meteorite_landings" []}', /expects ":"/],
    ['a member name that is not a string', '{meteorite_landings: []}', /member name missing/],
  ])('throws a format error for %s', (_name, text, message) => {
    for (const size of [Infinity, 1, 5]) {
      expect(() => read(text, size)).toThrow(DatasetFormatError);
      expect(() => read(text, size)).toThrow(message);
    }
  });

  it('reads numbers and literals split across chunks', () => {
    const text = '{"count": -12345.5e+3, "ok": true, "no": false, "none": null, "meteorite_landings": [1e2, true, null, -0.5]}';
    for (let size = 1; size <= 8; size++) expect(values(text, size), `chunks of ${size}`).toEqual([100, true, null, -0.5]);
  });

  it.each([
    ['a garbage member value', '{"broken": ', 'x'],
    ['a garbage record', '[', 'x'],
    ['a misspelt literal', '{"ok": ', 'trux'],
    ['letters after digits', '[', '12ab'],
  ])('refuses %s as soon as it shows, not when the body ends', (_name, head, garbage) => {
    const reader = new JsonReader(() => {});
    reader.push(head);
    expect(() => {
      for (let i = 0; i < 1000; i++) reader.push(garbage.repeat(64));
    }).toThrow(/malformed value \(at character \d+, record 0\)/);
  });

  it(`refuses a value longer than ${MAX_VALUE_CHARS} characters as soon as it gets there`, () => {
    for (const [head, kind] of [
      ['[{"name": "', 'record'],
      ['{"meta": {"a": [', 'value'],
      ['{"meta": "', 'value'],
    ] as const) {
      const reader = new JsonReader(() => {});
      reader.push(head);
      let pushed = 0;
      expect(() => {
        for (; pushed < MAX_VALUE_CHARS + 2 ** 16; pushed += 2 ** 12) reader.push('a'.repeat(2 ** 12));
      }).toThrow(new RegExp(`has a ${kind} longer than ${MAX_VALUE_CHARS} characters`));
      expect(pushed).toBeLessThanOrEqual(MAX_VALUE_CHARS);
    }
    expect(() => read(`[{"name": "${'a'.repeat(MAX_VALUE_CHARS)}"}]`)).toThrow(/has a record longer than/);
    expect(values(`[{"name": "${'a'.repeat(MAX_VALUE_CHARS - 20)}"}]`, 4096)).toHaveLength(1);
  });

  it(`refuses a member name longer than ${MAX_VALUE_CHARS} characters as soon as it gets there`, () => {
    const reader = new JsonReader(() => {});
    reader.push('{"');
    let pushed = 0;
    expect(() => {
      for (; pushed < 4 * MAX_VALUE_CHARS; pushed += 2 ** 16) reader.push('a'.repeat(2 ** 16));
    }).toThrow(new RegExp(`has a member name longer than ${MAX_VALUE_CHARS} characters \\(at character 1,`));
    expect(pushed).toBeLessThanOrEqual(MAX_VALUE_CHARS);
  });

  it('names the position and record of a syntax error', () => {
    expect(() => read('[{"id": "1"}, {"id": "2" "x": 1}]')).toThrow(/at character 14, record 1/);
    expect(() => read('[{"id": "1"}, {"id": "2"}, {"id": "3"} {"id": "4"}]')).toThrow(/at character 39, record 3/);
  });
});
