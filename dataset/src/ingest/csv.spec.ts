import { describe, expect, it } from 'vitest';
import { CsvReader, MAX_ROW_BYTES, plainDecimal } from './csv.ts';
import { DatasetFormatError } from './errors.ts';
import type { RawRecord } from './normalise.ts';

const HEADER = 'name,id,nametype,recclass,mass (g),fall,year,reclat,reclong,GeoLocation';

interface Read {
  records: [RawRecord, number][];
  bad: [number, string | null, string][];
}

/** Feeds `input` in chunks of `size` bytes (all of it at once by default). */
function read(input: string | Buffer, size = Infinity): Read {
  const out: Read = { records: [], bad: [] };
  const reader = new CsvReader(
    (raw, index) => out.records.push([raw, index]),
    (index, id, reason) => out.bad.push([index, id, reason]),
  );
  const bytes = typeof input === 'string' ? Buffer.from(input) : input;
  for (let i = 0; i < bytes.length; i += size) reader.push(bytes.subarray(i, Math.min(bytes.length, i + size)));
  reader.end();
  return out;
}

const fieldsOf = (r: Read) => r.records.map(([raw]) => [raw.name, raw.id, raw.recclass, raw.mass, raw.geolocation]);

const SAMPLE = [
  HEADER,
  'Aachen,1,Valid,L5,21,Fell,1880,50.775000,6.083330,"(50.775, 6.08333)"',
  'Akyumak,433,Valid,"Iron, IVA",50000,Fell,1981,39.916670,42.816670,"(39.91667, 42.81667)"',
  '"Quote ""The"" Rock",2,Valid,"multi',
  'line",,Found,,,,',
  'Aïr,424,Valid,L6,24000,Fell,1925,19.083330,8.383330,"(19.08333, 8.38333)"',
].join('\n');

// Plain decimals arrive as numbers; GeoLocation only where reclat and reclong are empty.
const EXPECTED = [
  ['Aachen', '1', 'L5', 21, undefined],
  ['Akyumak', '433', 'Iron, IVA', 50000, undefined],
  ['Quote "The" Rock', '2', 'multi\nline', null, ''],
  ['Aïr', '424', 'L6', 24000, undefined],
];

describe('CsvReader', () => {
  it('reads NASA rows: quoted commas, doubled quotes, line breaks inside quotes, UTF-8', () => {
    const r = read(SAMPLE);
    expect(fieldsOf(r)).toEqual(EXPECTED);
    expect(r.records.map(([, index]) => index)).toEqual([0, 1, 2, 3]);
    expect(r.bad).toEqual([]);
  });

  it('reads the same whatever the chunk boundaries (every split of the input)', () => {
    const bytes = Buffer.from(`\uFEFF${SAMPLE}\n`);
    for (let size = 1; size <= 40; size++) expect(fieldsOf(read(bytes, size)), `chunks of ${size}`).toEqual(EXPECTED);
    for (let cut = 1; cut < bytes.length; cut++) {
      const out: Read = { records: [], bad: [] };
      const reader = new CsvReader(
        (raw, i) => out.records.push([raw, i]),
        () => {},
      );
      reader.push(bytes.subarray(0, cut));
      reader.push(bytes.subarray(cut));
      reader.end();
      expect(fieldsOf(out), `cut at ${cut}`).toEqual(EXPECTED);
    }
  });

  it('keeps a CRLF inside quotes as it is', () => {
    const crlf = fieldsOf(read(SAMPLE.replaceAll('\n', '\r\n'), 7));
    expect(crlf[2]![2]).toBe('multi\r\nline');
    expect(crlf.map((f) => f[0])).toEqual(EXPECTED.map((f) => f[0]));
  });

  it('accepts a BOM, CRLF, blank lines, no final newline and a final newline', () => {
    const rows = [HEADER, 'A,1,Valid,L5,1,Fell,1880,,,', '', 'B,2,Valid,L5,1,Fell,1880,,,'];
    for (const text of [`\uFEFF${rows.join('\r\n')}`, `${rows.join('\n')}\n`, `${rows.join('\r\n')}\r\n\r\n`]) {
      expect(read(text).records.map(([raw, i]) => [raw.name, i])).toEqual([
        ['A', 0],
        ['B', 1],
      ]);
    }
  });

  it('maps columns by name, in any order and any case, ignores unknown ones and the first of a repeat wins', () => {
    const r = read('ID,extra,Name,reclong,reclat,year,fall,mass,recclass,nametype,name\n5,zzz,Five,1,2,2000,Fell,3,L6,Valid,ignored\n');
    expect(r.records[0]![0]).toEqual({
      id: '5',
      name: 'Five',
      nametype: 'Valid',
      recclass: 'L6',
      mass: 3,
      fall: 'Fell',
      year: 2000,
      reclat: 2,
      reclong: 1,
      geolocation: undefined,
    });
  });

  it('hands numbers that are not plain decimals over as text, and GeoLocation when the coordinates are blank', () => {
    const r = read(`${HEADER}\nA,1,Valid,L5,1e3,Fell," 1880 ",+5,"",\nB,2,Valid,L5,,Fell,,  ,,"(1.5, -2)"\n`);
    expect(r.records.map(([raw]) => [raw.mass, raw.year, raw.reclat, raw.reclong, raw.geolocation])).toEqual([
      ['1e3', ' 1880 ', '+5', null, undefined],
      [null, null, '  ', null, '(1.5, -2)'],
    ]);
  });

  it('reports rows with the wrong number of fields as bad rows, not a broken file', () => {
    const r = read(`${HEADER}\nA,1,Valid,L5,1,Fell,1880,,,\nB,2,Valid,L5\nC,3,Valid,L5,1,Fell,1880,,,,extra\n,,\n`);
    expect(r.records.map(([raw]) => raw.name)).toEqual(['A']);
    expect(r.bad).toEqual([
      [1, '2', 'wrong number of fields'],
      [2, '3', 'wrong number of fields'],
      [3, null, 'wrong number of fields'],
    ]);
  });

  it.each([
    ['a header without the required columns', 'a,b,c\n1,2,3\n', /lacks the columns name, id, nametype/],
    ['a header missing one column', 'name,id,nametype,recclass,mass (g),fall,year,reclat\n', /lacks the column reclong \(/],
    ['an unterminated quote', `${HEADER}\n"Aachen,1,Valid,L5,21,Fell,1880,,,\n`, /unterminated quoted field/],
    ['text after a closing quote', `${HEADER}\n"Aachen"x,1,Valid,L5,21,Fell,1880,,,\n`, /text after a closing quote/],
    ['a quote inside an unquoted field', `${HEADER}\nAa"chen,1,Valid,L5,21,Fell,1880,,,\n`, /quote inside an unquoted field/],
    ['nothing at all', '', /no header row/],
    ['only blank lines', '\n\r\n\n', /no header row/],
  ])('throws a format error for %s', (_name, text, message) => {
    expect(() => read(text)).toThrow(DatasetFormatError);
    expect(() => read(text)).toThrow(message);
    expect(() => read(text, 3)).toThrow(message);
  });

  it('gives each row its own class, nametype and fall, however many distinct ones repeat', () => {
    // More distinct values than the reader's cache of repeated texts has slots, in shuffled order.
    const classes = Array.from({ length: 9000 }, (_, i) => (i % 3 === 0 ? `C${i}` : i % 3 === 1 ? `${i}C` : `Ç${i}`));
    const rows = Array.from({ length: 30_000 }, (_, i) => {
      const c = classes[(i * 7919) % classes.length]!;
      return `N${i},${i + 1},${i % 2 ? 'Valid' : 'Relict'},${c},1,${i % 5 ? 'Found' : 'Fell'},2000,,,`;
    });
    const { records } = read([HEADER, ...rows].join('\n'), 65_536);
    records.forEach(([raw], i) => {
      expect(raw.recclass).toBe(classes[(i * 7919) % classes.length]);
      expect(raw.nametype).toBe(i % 2 ? 'Valid' : 'Relict');
      expect(raw.fall).toBe(i % 5 ? 'Found' : 'Fell');
    });
    expect(records.length).toBe(30_000);
  });

  it('gives the byte position of a syntax error', () => {
    expect(() => read(`${HEADER}\nA,1,Valid,L5,1,Fell,1880,,,\nB"\n`)).toThrow(/at byte 101 \(record 1\)/);
  });
});

describe('CsvReader on long lines', () => {
  const MIB = 1 << 20;
  const ROW_END = ',1,Valid,L5,21,Fell,1880,,,\n';

  /** Pushes `text` in chunks of `size` bytes, then ends; the reader, and the error if one was thrown. */
  function feed(text: string, size: number, opts?: { maxRowBytes: number }) {
    const names: string[] = [];
    const reader = new CsvReader(
      (raw) => names.push(raw.name as string),
      () => {},
      opts,
    );
    const bytes = Buffer.from(text);
    let pushed = 0;
    let error: unknown;
    try {
      for (; pushed < bytes.length; pushed += size) reader.push(bytes.subarray(pushed, pushed + size));
      reader.end();
    } catch (err) {
      error = err;
    }
    return { reader, names, error, pushed, bytes: bytes.length };
  }

  // Counting work rather than timing it: the count cannot be flaky. Chunk sizes not dividing the
  // input put boundaries everywhere, between a doubled quote's two halves too.
  it.each([
    ['one long plain field', `${HEADER}\n${'a'.repeat(MIB)}${ROW_END}`],
    ['one long quoted field with doubled quotes and line breaks', `${HEADER}\n"${'a""\n'.repeat(MIB / 4)}"${ROW_END}`],
    ['a row of nothing but commas', `${HEADER}\n${','.repeat(MIB)}\n`],
    ['a header of one line with no end', 'a'.repeat(MIB)],
  ])('scans each byte of %s (1 MiB, the row cap lifted) a bounded number of times, whatever the chunks', (_name, text) => {
    for (const size of [4097, 65_536]) {
      const { reader, pushed, bytes } = feed(text, size, { maxRowBytes: Infinity });
      expect(pushed).toBeGreaterThanOrEqual(bytes);
      expect(reader.scannedBytes, `chunks of ${size}`).toBeLessThanOrEqual(2 * bytes);
    }
  });

  it('reads a long field right across chunks, plain or quoted', () => {
    const plain = feed(`${HEADER}\n${'x'.repeat(300_000)}${ROW_END}`, 4097, { maxRowBytes: Infinity });
    expect(plain.error).toBeUndefined();
    expect(plain.names).toEqual(['x'.repeat(300_000)]);
    const quoted = feed(`${HEADER}\n"${'a""b,\r\n'.repeat(50_000)}"${ROW_END}`, 4097, { maxRowBytes: Infinity });
    expect(quoted.error).toBeUndefined();
    expect(quoted.names).toEqual(['a"b,\r\n'.repeat(50_000)]);
  });

  it.each([
    ['a long data row', `${HEADER}\nA,1,Valid,L5,21,Fell,1880,,,\n\n${'a'.repeat(MIB)}${ROW_END}`, 3],
    ['a long quoted field', `${HEADER}\n"${'a'.repeat(MIB)}"${ROW_END}`, 2],
    ['a row of commas', `${HEADER}\n${','.repeat(MIB)}\n`, 2],
    ['a header with no end', 'a'.repeat(MIB), 1],
  ])(`refuses %s over ${MAX_ROW_BYTES} bytes as soon as it gets there, naming its row`, (_name, text, row) => {
    const { error, pushed } = feed(text, 4096);
    expect(error).toBeInstanceOf(DatasetFormatError);
    expect((error as Error).message).toMatch(new RegExp(`^CSV row ${row} is longer than ${MAX_ROW_BYTES} bytes`));
    expect(pushed).toBeLessThanOrEqual(MAX_ROW_BYTES + 4096 + 200);
  });

  it('refuses a long row that arrives whole too, and reads one just under the cap', () => {
    expect(feed(`${HEADER}\n${'a'.repeat(MAX_ROW_BYTES)}${ROW_END}`, Infinity).error).toBeInstanceOf(DatasetFormatError);
    const under = `${'a'.repeat(MAX_ROW_BYTES - ROW_END.length)}${ROW_END}`;
    for (const size of [Infinity, 1000]) expect(feed(`${HEADER}\n${under}`, size).names).toHaveLength(1);
  });
});

describe('plainDecimal', () => {
  const of = (s: string) => plainDecimal(Buffer.from(s), 0, s.length);

  it('reads plain decimals exactly as Number() does', () => {
    const samples = [
      '0',
      '21',
      '0860',
      '50.775000',
      '-113.000000',
      '6.083330',
      '5.',
      '.5',
      '-0',
      '-0.0',
      '0.000000000000001',
      '999999999999999',
      '123456.789012345',
    ];
    for (const s of samples) expect(Object.is(of(s), Number(s) + 0), s).toBe(true);
    // Random decimals of up to 15 significant digits, positive and negative.
    for (let i = 0; i < 20_000; i++) {
      const digits = String(Math.floor(Math.random() * 10 ** (1 + (i % 15))));
      const cut = i % (digits.length + 1);
      const s = `${i % 2 ? '-' : ''}${digits.slice(0, cut)}.${digits.slice(cut)}`;
      if (s.replace(/[-.]/g, '') === '') continue;
      expect(of(s), s).toBe(Number(s) + 0);
    }
  });

  it.each(['', '-', '.', '1e3', '+5', ' 5', '5 ', '1.2.3', '0x10', '1234567890123456', '0.1234567890123456', '1,5', 'NaN'])(
    'leaves %j to the slow path',
    (s) => {
      expect(of(s)).toBeUndefined();
    },
  );
});
