/**
 * A record's `meteorite:<id>` hash as a DUMP payload, so that the loader can write it with
 * RESTORE: Redis then takes one finished listpack instead of building it an HSET argument at a
 * time (growing it 18 times). That halves the CPU Redis spends per record, which is most of a
 * load's time.
 *
 * The payload is byte for byte what `DUMP` answers for the hash HSET makes (uncompressed): RDB
 * type 16 (hash as listpack), the listpack as a length-prefixed string, the server's RDB version,
 * CRC-64/Jones. The listpack follows listpack.c: strings that are canonical integers are stored as
 * integers, in the narrowest of its integer encodings. Fields are in the HSET order the store
 * uses. A record this encoder does not cover (a value of 64 bytes or more, where Redis may choose
 * another encoding, or an integer beyond 2^53) gets 0 from encode() and is written with HSET.
 * The store checks the encoder against the server before trusting it (see store/record-writes.ts).
 */
import { textAt, type Columns, keyPrefixes } from '@meteorites/shared';
import { crc64 } from './crc64.ts';

/** RDB type byte of a hash stored as a listpack (Redis 7.0 and later). */
export const RDB_TYPE_HASH_LISTPACK = 16;

/** The hash fields in the order the store writes them (DESIGN.md names). */
export const HASH_FIELDS = ['name', 'id', 'nametype', 'recclass', 'mass_g', 'fall', 'year', 'reclat', 'reclong'] as const;

/** Longest string value (bytes) encoded here: below Redis' default hash-max-listpack-value (64), with a one-byte header. */
const MAX_STRING_BYTES = 63;
const LP_HEADER_BYTES = 6;
const LP_EOF = 0xff;

/** The listpack entries of the field names: 6-bit string header, the name, backlen. */
const FIELD_ENTRIES = HASH_FIELDS.map((f) => Uint8Array.from([0x80 | f.length, ...Buffer.from(f, 'latin1'), f.length + 1]));

/** The integer a string spells when listpack.c would store it as one (canonical, no sign but `-`, no leading 0); else NaN. */
function canonicalInteger(s: string): number {
  const n = s.length;
  // listpack.c reads at most 20 characters as an integer.
  if (n === 0 || n > 20) return NaN;
  const sign = s.charCodeAt(0) === 45 ? 1 : 0;
  if (sign === n) return NaN;
  const first = s.charCodeAt(sign);
  if (first === 48) return n === 1 ? 0 : NaN;
  if (first < 49 || first > 57) return NaN;
  for (let k = sign + 1; k < n; k++) {
    const c = s.charCodeAt(k);
    if (c < 48 || c > 57) return NaN;
  }
  // Up to 15 digits a double holds it exactly; longer ones (Infinity here) the caller leaves to HSET.
  return n - sign > 15 ? Infinity : Number(s);
}

/** Most decimal places of a fraction written directly (String() switches to exponent form below 1e-6). */
const MAX_PLACES = 6;
const POW10 = Array.from({ length: 16 }, (_, i) => 10 ** i);

/** Digits of a non-negative integer below 10^15. */
function digitCount(v: number): number {
  let d = 1;
  while (v >= POW10[d]!) d++;
  return d;
}

/** Writes the `width` last decimal digits of v (a non-negative integer below 2^53, zero-padded) ending before `end`. */
function writeDigits(b: Uint8Array, end: number, v: number, width: number): void {
  for (let k = 1; k <= width; k++) {
    const q = Math.floor(v / 10);
    b[end - k] = 48 + (v - 10 * q);
    v = q;
  }
}

/** Longest payload encode() writes: nine fields of at most 10 + 65 bytes, with the RDB framing. */
export const MAX_PAYLOAD_BYTES = 3 + 6 + 9 * 75 + 1 + 10;
/** Longest command restoreCommand() writes: the payload, a key of up to 64 bytes, and RESP framing. */
export const MAX_RESTORE_BYTES = MAX_PAYLOAD_BYTES + 64 + 64;

/** `meteorite:` as keys.meteorite begins every record's key (with the hash tag in cluster mode); the id's digits follow. */
let keyPrefix = { text: '', bytes: Buffer.alloc(0) };
function keyPrefixBytes(): Buffer {
  // Read per command, not once at import: cluster mode puts its hash tag on after the imports (keys.ts useHashTag).
  if (keyPrefix.text !== keyPrefixes.meteorite)
    keyPrefix = { text: keyPrefixes.meteorite, bytes: Buffer.from(keyPrefixes.meteorite, 'latin1') };
  return keyPrefix.bytes;
}
/** Ids are at most 15 digits (keys.ts). */
const ID_LIMIT = 1e15;

const RESTORE_HEAD = Buffer.from('*5\r\n$7\r\nRESTORE\r\n$');
const RESTORE_TTL = Buffer.from('\r\n$1\r\n0\r\n$');
const RESTORE_TAIL = Buffer.from('\r\n$7\r\nREPLACE\r\n');

function copy(b: Uint8Array, o: number, src: Uint8Array): number {
  for (let k = 0; k < src.length; k++) b[o + k] = src[k]!;
  return o + src.length;
}

/** Writes a RESP length (below 10,000) and CRLF at o. */
function respLength(b: Uint8Array, o: number, n: number): number {
  const digits = n < 10 ? 1 : n < 100 ? 2 : n < 1000 ? 3 : 4;
  writeDigits(b, o + digits, n, digits);
  b[o + digits] = 13;
  b[o + digits + 1] = 10;
  return o + digits + 2;
}

export class HashPayloadEncoder {
  /** A buffer for callers that have none of their own to encode into. */
  readonly bytes = Buffer.allocUnsafe(MAX_PAYLOAD_BYTES);
  readonly #version: number;

  /** `rdbVersion`: the server's, as the footer of one of its DUMPs gives it (dumpRdbVersion). */
  constructor(rdbVersion: number) {
    this.#version = rdbVersion;
  }

  /**
   * Writes record `i` of `c` as a payload into `b` at `at` (room for MAX_PAYLOAD_BYTES needed);
   * returns its length, or 0 when the record needs HSET.
   */
  encode(c: Columns, i: number, b: Uint8Array = this.bytes, at = 0): number {
    // The type byte, then room for the listpack's RDB length: two bytes (listpacks here are 22 to ~700 bytes).
    b[at] = RDB_TYPE_HASH_LISTPACK;
    const lp = at + 3;
    let o = lp + LP_HEADER_BYTES;
    let pairs = 2;
    o = this.#text(b, field(b, o, 0), c.name.at(i));
    o = this.#integer(b, field(b, o, 1), c.id[i]!);
    const nametype = textAt(c.nametype, i);
    if (nametype != null) {
      o = this.#text(b, field(b, o, 2), nametype);
      pairs++;
    }
    const recclass = textAt(c.recclass, i);
    if (recclass != null) {
      o = this.#text(b, field(b, o, 3), recclass);
      pairs++;
    }
    const mass = c.mass[i]!;
    if (!Number.isNaN(mass)) {
      o = this.#number(b, field(b, o, 4), mass);
      pairs++;
    }
    const fall = textAt(c.fall, i);
    if (fall != null) {
      o = this.#text(b, field(b, o, 5), fall);
      pairs++;
    }
    const year = c.year[i]!;
    if (!Number.isNaN(year)) {
      o = this.#number(b, field(b, o, 6), year);
      pairs++;
    }
    const lat = c.lat[i]!;
    if (!Number.isNaN(lat)) {
      o = this.#number(b, field(b, o, 7), lat);
      pairs++;
    }
    const lon = c.lon[i]!;
    if (!Number.isNaN(lon)) {
      o = this.#number(b, field(b, o, 8), lon);
      pairs++;
    }
    if (o < 0) return 0;
    b[o++] = LP_EOF;
    const lpBytes = o - lp;
    b[lp] = lpBytes & 0xff;
    b[lp + 1] = lpBytes >> 8;
    b[lp + 2] = 0;
    b[lp + 3] = 0;
    b[lp + 4] = 2 * pairs;
    b[lp + 5] = 0;
    if (lpBytes < 64) {
      // RDB's one-byte length form: the listpack moves left by one.
      b.copyWithin(lp - 1, lp, o);
      o--;
      b[at + 1] = lpBytes;
    } else {
      b[at + 1] = 0x40 | (lpBytes >> 8);
      b[at + 2] = lpBytes & 0xff;
    }
    b[o++] = this.#version & 0xff;
    b[o++] = this.#version >> 8;
    crc64(b, at, o, o);
    return o + 8 - at;
  }

  /**
   * Writes `RESTORE meteorite:<id> 0 <record i's payload> REPLACE` as RESP into `b` at `at` (room
   * for MAX_RESTORE_BYTES needed); returns its length, or 0 when the record needs HSET. The key is
   * spelt from the numeric id as keys.meteorite spells it, without making a string per record
   * (a tenth of the loader's own time at a million records went on building and checking them).
   */
  restoreCommand(c: Columns, i: number, b: Uint8Array, at: number): number {
    const id = c.id[i]!;
    if (!(Number.isInteger(id) && id >= 0 && id < ID_LIMIT)) return 0;
    const digits = digitCount(id);
    let o = copy(b, at, RESTORE_HEAD);
    const prefix = keyPrefixBytes();
    o = respLength(b, o, prefix.length + digits);
    o = copy(b, o, prefix);
    writeDigits(b, o + digits, id, digits);
    o = copy(b, o + digits, RESTORE_TTL);
    // The payload goes where a three-digit length would leave it (most are 100 to 999 bytes), and moves when it has not.
    const payloadAt = o + 5;
    const n = this.encode(c, i, b, payloadAt);
    if (n === 0) return 0;
    const end = respLength(b, o, n);
    if (end !== payloadAt) b.copyWithin(end, payloadAt, payloadAt + n);
    return copy(b, end + n, RESTORE_TAIL) - at;
  }

  /** A string value: as an integer when listpack.c would make it one; -1 when it is too long or a 16+ digit integer. */
  #text(b: Uint8Array, o: number, s: string): number {
    if (o < 0) return o;
    const v = canonicalInteger(s);
    if (!Number.isNaN(v)) return Number.isFinite(v) ? this.#integer(b, o, v) : -1;
    const n = s.length;
    if (n > MAX_STRING_BYTES) return -1;
    let k = 0;
    for (; k < n; k++) {
      const ch = s.charCodeAt(k);
      if (ch >= 0x80) break;
      b[o + 1 + k] = ch;
    }
    let len = n;
    if (k < n) {
      const utf8 = Buffer.from(s, 'utf8');
      len = utf8.length;
      if (len > MAX_STRING_BYTES) return -1;
      b.set(utf8, o + 1);
    }
    b[o] = 0x80 | len;
    b[o + 1 + len] = len + 1;
    return o + len + 2;
  }

  /**
   * A number value as the store spells it, String(v): an integer entry for an integer; a fraction
   * with up to six decimals written digit by digit, anything else through String(). A double that
   * is the nearest to m / 10^p for p <= 6 is also the nearest to m·10^(6-p) / 10^6, so one test at
   * six places finds them all; with the trailing zeros of that integer dropped, its digits are the
   * shortest that read back as v, which are String()'s.
   */
  #number(b: Uint8Array, o: number, v: number): number {
    if (o < 0) return o;
    if (Number.isInteger(v)) return Math.abs(v) <= Number.MAX_SAFE_INTEGER ? this.#integer(b, o, v) : -1;
    const a = Math.abs(v);
    // Below 1e9, a·10^6 is off its integer by well under 0.5, so rounding finds it.
    const m = Math.round(a * 1e6);
    if (a >= 1e9 || m / 1e6 !== a) return this.#text(b, o, String(v));
    const whole = Math.floor(a);
    // In millionths, 1 to 999,999 (a is no integer); its trailing zeros are not written.
    let frac = (m - whole * 1e6) | 0;
    let places = MAX_PLACES;
    while (frac % 10 === 0) {
      frac = (frac / 10) | 0;
      places--;
    }
    const wholeDigits = digitCount(whole);
    const len = (v < 0 ? 1 : 0) + wholeDigits + 1 + places;
    b[o] = 0x80 | len;
    let d = o + 1;
    if (v < 0) b[d++] = 45; // -
    writeDigits(b, d + wholeDigits, whole, wholeDigits);
    d += wholeDigits;
    b[d++] = 46; // .
    writeDigits(b, d + places, frac, places);
    b[d + places] = len + 1;
    return d + places + 1;
  }

  /** An integer entry in listpack.c's narrowest encoding, and its backlen. */
  #integer(b: Uint8Array, o: number, v: number): number {
    if (o < 0) return o;
    let size: number;
    if (v >= 0 && v <= 127) {
      b[o] = v;
      size = 1;
    } else if (v >= -4096 && v <= 4095) {
      const u = v < 0 ? v + 8192 : v;
      b[o] = 0xc0 | (u >> 8);
      b[o + 1] = u & 0xff;
      size = 2;
    } else if (v >= -2147483648 && v <= 2147483647) {
      // 16, 24 or 32 bits, two's complement, little-endian.
      size = v >= -32768 && v <= 32767 ? 3 : v >= -8388608 && v <= 8388607 ? 4 : 5;
      b[o] = 0xf0 + size - 2;
      for (let k = 1; k < size; k++) b[o + k] = (v >> (8 * (k - 1))) & 0xff;
    } else {
      b[o] = 0xf4;
      const u = BigInt.asUintN(64, BigInt(v));
      for (let k = 0; k < 8; k++) b[o + 1 + k] = Number((u >> BigInt(8 * k)) & 0xffn);
      size = 9;
    }
    b[o + size] = size;
    return o + size + 1;
  }
}

/** Writes field name f's entry at o (when o is not already a failure). */
function field(b: Uint8Array, o: number, f: number): number {
  if (o < 0) return o;
  const entry = FIELD_ENTRIES[f]!;
  for (let k = 0; k < entry.length; k++) b[o + k] = entry[k]!;
  return o + entry.length;
}

/** The RDB version a DUMP payload was made with; undefined when it is too short to be one. */
export function dumpRdbVersion(payload: Uint8Array): number | undefined {
  if (payload.length < 11) return undefined;
  return payload[payload.length - 10]! | (payload[payload.length - 9]! << 8);
}
