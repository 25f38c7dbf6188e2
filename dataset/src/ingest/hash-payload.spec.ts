import { describe, expect, it } from 'vitest';
import { columnsFromRecords, keys, type Meteorite } from '@meteorites/shared';
import { crc64 } from './crc64.ts';
import { dumpRdbVersion, HashPayloadEncoder, MAX_PAYLOAD_BYTES, MAX_RESTORE_BYTES } from './hash-payload.ts';

const AACHEN: Partial<Meteorite> = {
  id: '1',
  name: 'Aachen',
  nametype: 'Valid',
  recclass: 'L5',
  mass_g: 21,
  fall: 'Fell',
  year: 1880,
  reclat: 50.775,
  reclong: 6.08333,
};
/** What Redis 7.0 answers to DUMP after `HSET meteorite:1 name Aachen id 1 nametype Valid ... reclong 6.08333`. */
const AACHEN_DUMP =
  '10407b7b0000001200846e616d65058641616368656e07826964030101886e616d6574797065098556616c69640688726563636c61737309824c35' +
  '03866d6173735f670715018466616c6c058446656c6c05847965617205c75802867265636c6174078635302e37373507877265636c6f6e6708873' +
  '62e303833333308ff0a001ec10589bfe29aa6';

const encode = (record: Partial<Meteorite>, version = 10) => {
  const encoder = new HashPayloadEncoder(version);
  const length = encoder.encode(columnsFromRecords([record]), 0);
  return encoder.bytes.subarray(0, length);
};

/** The listpack entries of a payload (made by encode()), decoded: strings as text, integers as numbers. */
function entries(payload: Buffer): (string | number)[] {
  const long = payload[1]! >= 0x40;
  let o = 1 + (long ? 2 : 1);
  const end = o + payload.readUInt32LE(o) - 1;
  const count = payload.readUInt16LE(o + 4);
  o += 6;
  const out: (string | number)[] = [];
  while (o < end) {
    const b = payload[o]!;
    let size: number;
    if (b < 0x80) {
      out.push(b);
      size = 1;
    } else if ((b & 0xc0) === 0x80) {
      out.push(payload.toString('utf8', o + 1, o + 1 + (b & 0x3f)));
      size = 1 + (b & 0x3f);
    } else if ((b & 0xe0) === 0xc0) {
      const u = ((b & 0x1f) << 8) | payload[o + 1]!;
      out.push(u >= 4096 ? u - 8192 : u);
      size = 2;
    } else if (b >= 0xf1 && b <= 0xf3) {
      out.push(payload.readIntLE(o + 1, b - 0xef));
      size = b - 0xee;
    } else if (b === 0xf4) {
      out.push(Number(payload.readBigInt64LE(o + 1)));
      size = 9;
    } else throw new Error(`unexpected listpack encoding ${b.toString(16)}`);
    expect(payload[o + size], 'backlen').toBe(size);
    o += size + 1;
  }
  expect(out.length).toBe(count);
  expect(payload[end]).toBe(0xff);
  return out;
}

describe('crc64', () => {
  it('is CRC-64/Jones as Redis computes it', () => {
    const buf = Buffer.alloc(17);
    buf.write('123456789');
    crc64(buf, 0, 9, 9);
    expect(buf.readBigUInt64LE(9)).toBe(0xe9c6d914c4b8d9can);
  });

  it('gives the same on every length and offset (the 8-byte steps and the byte-wise tail)', () => {
    const data = Buffer.from(Array.from({ length: 40 }, (_, i) => (i * 37 + 11) & 0xff));
    // Bit by bit, straight from the definition.
    const slow = (bytes: Uint8Array) => {
      let crc = 0n;
      for (const byte of bytes) {
        crc ^= BigInt(byte);
        for (let b = 0; b < 8; b++) crc = crc & 1n ? (crc >> 1n) ^ 0x95ac9329ac4bc9b5n : crc >> 1n;
      }
      return crc;
    };
    for (let start = 0; start < 9; start++) {
      for (let end = start; end <= 30; end++) {
        const buf = Buffer.concat([data, Buffer.alloc(8)]);
        crc64(buf, start, end, 40);
        expect(buf.readBigUInt64LE(40)).toBe(slow(data.subarray(start, end)));
      }
    }
  });
});

describe('HashPayloadEncoder', () => {
  it('makes exactly the payload Redis DUMPs for the hash HSET makes', () => {
    expect(encode(AACHEN).toString('hex')).toBe(AACHEN_DUMP);
    expect(dumpRdbVersion(Buffer.from(AACHEN_DUMP, 'hex'))).toBe(10);
  });

  it('writes the server RDB version into the footer', () => {
    const payload = encode(AACHEN, 11);
    expect(dumpRdbVersion(payload)).toBe(11);
    expect(payload.toString('hex')).not.toBe(AACHEN_DUMP);
  });

  it('stores integers, and texts that are canonical integers, in the narrowest listpack integer', () => {
    const record = {
      id: '123456789012345',
      name: '-4096',
      nametype: '4095',
      recclass: '-32768',
      mass_g: 8388607,
      fall: '-2147483648',
      year: 2147483648,
      reclat: 0,
      reclong: 127,
    };
    expect(entries(encode(record))).toEqual([
      'name',
      -4096,
      'id',
      123456789012345,
      'nametype',
      4095,
      'recclass',
      -32768,
      'mass_g',
      8388607,
      'fall',
      -2147483648,
      'year',
      2147483648,
      'reclat',
      0,
      'reclong',
      127,
    ]);
    const bytes = encode(record);
    // -4096 and 4095: 13-bit; -32768: 16-bit; 8388607: 24-bit; -2^31: 32-bit; 2^31 and the id: 64-bit.
    expect(bytes.includes(Buffer.from([0xd0, 0x00, 0x02]))).toBe(true);
    expect(bytes.includes(Buffer.from([0xcf, 0xff, 0x02]))).toBe(true);
    expect(bytes.includes(Buffer.from([0xf1, 0x00, 0x80, 0x03]))).toBe(true);
    expect(bytes.includes(Buffer.from([0xf2, 0xff, 0xff, 0x7f, 0x04]))).toBe(true);
    expect(bytes.includes(Buffer.from([0xf3, 0x00, 0x00, 0x00, 0x80, 0x05]))).toBe(true);
  });

  it('keeps as text what listpack.c does not read as an integer', () => {
    const record = {
      id: '7',
      name: '007',
      nametype: '-0',
      recclass: '+5',
      fall: '1 ',
      year: 2001,
      mass_g: 0.5,
      reclat: -0.000001,
      reclong: 1e-7,
    };
    expect(entries(encode(record))).toEqual([
      'name',
      '007',
      'id',
      7,
      'nametype',
      '-0',
      'recclass',
      '+5',
      'mass_g',
      '0.5',
      'fall',
      '1 ',
      'year',
      2001,
      'reclat',
      '-0.000001',
      'reclong',
      '1e-7',
    ]);
  });

  it('spells fractions exactly as String() does', () => {
    const values = [50.775, -33.16667, 179.999999, 0.01, 0.15, 1234.56, -0.5, 2147483646.5, 354.47333, 1e-6, 21.000001];
    values.push(999999999.999999, 123456789.000001, -987654321.5, 1e9 + 0.5, 0.1 + 0.2);
    // Random decimals with one to six places, and plain random doubles (which take String()'s own path).
    let seed = 7;
    const random = () => ((seed = (seed * 16807) % 2147483647) - 1) / 2147483646;
    for (let k = 0; k < 1000; k++) {
      const places = 1 + (k % 6);
      values.push(
        Math.round((random() - 0.5) * 2 * 10 ** (3 + places)) / 10 ** places,
        Math.round(random() * 1e15) / 1e6,
        (random() - 0.5) * 1e4,
      );
    }
    for (const v of values) {
      if (Number.isInteger(v)) continue;
      expect(entries(encode({ id: '1', name: 'X', mass_g: v })).at(-1), String(v)).toBe(String(v));
    }
  });

  it('encodes UTF-8 names up to 63 bytes, and leaves longer ones, 16-digit integers and huge numbers to HSET', () => {
    const name = `Château ☄ ${'x'.repeat(50)}`;
    expect(Buffer.byteLength(name)).toBe(63);
    expect(entries(encode({ id: '1', name }))).toEqual(['name', name, 'id', 1]);
    expect(encode({ id: '1', name: `${name}x` }).length).toBe(0);
    expect(encode({ id: '1', name: 'A', recclass: 'é'.repeat(32) }).length).toBe(0);
    expect(encode({ id: '1', name: '1234567890123456' }).length).toBe(0);
    expect(encode({ id: '1', name: 'A', mass_g: 2 ** 53 }).length).toBe(0);
  });

  it('uses the one-byte RDB length for a listpack under 64 bytes', () => {
    const payload = encode({ id: '0', name: 'A' });
    expect(payload[1]).toBe(payload.readUInt32LE(2));
    expect(entries(payload)).toEqual(['name', 'A', 'id', 0]);
  });

  it('writes the RESTORE command around the payload as RESP, whatever the payload length', () => {
    const encoder = new HashPayloadEncoder(10);
    const records = [
      AACHEN,
      { id: '0', name: 'A' },
      { id: '2', name: 'B', recclass: 'x'.repeat(40) },
      { id: '3', name: 'Long', nametype: 'y'.repeat(60), recclass: 'z'.repeat(60), fall: 'w'.repeat(60) },
      { id: '123456789012345', name: 'Largest id' },
    ];
    const columns = columnsFromRecords(records);
    records.forEach((record, i) => {
      const payload = Buffer.from(encode(record));
      const buf = Buffer.alloc(MAX_RESTORE_BYTES + 10, 0xaa);
      const length = encoder.restoreCommand(columns, i, buf, 3);
      const key = keys.meteorite(record.id!);
      const expected = Buffer.concat([
        Buffer.from(`*5\r\n$7\r\nRESTORE\r\n$${key.length}\r\n${key}\r\n$1\r\n0\r\n$${payload.length}\r\n`),
        payload,
        Buffer.from('\r\n$7\r\nREPLACE\r\n'),
      ]);
      expect(buf.subarray(3, 3 + length).toString('hex')).toBe(expected.toString('hex'));
    });
    // Payload lengths of two digits (moved left) and of three.
    expect([...new Set(records.map((r) => String(encode(r).length).length))].sort()).toEqual([2, 3]);
    expect(encoder.restoreCommand(columnsFromRecords([{ id: '9', name: 'n'.repeat(64) }]), 0, Buffer.alloc(MAX_RESTORE_BYTES), 0)).toBe(0);
  });

  it('writes into a caller buffer at an offset, leaving the rest alone', () => {
    const encoder = new HashPayloadEncoder(10);
    const buf = Buffer.alloc(MAX_PAYLOAD_BYTES + 20, 0xaa);
    const length = encoder.encode(columnsFromRecords([AACHEN]), 0, buf, 7);
    expect(buf.subarray(7, 7 + length).toString('hex')).toBe(AACHEN_DUMP);
    expect([...buf.subarray(0, 7), ...buf.subarray(7 + length)].every((b) => b === 0xaa)).toBe(true);
  });
});
