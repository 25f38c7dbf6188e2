/**
 * The checksum that ends every DUMP payload, fast enough to run once per record of a load.
 */

// CRC-64/Jones, reflected (polynomial 0xad93d23594c935a9), initial value 0, as Redis' crc64.c.
// Slicing by 8: table t holds the CRC of byte i followed by t zero bytes; 64-bit values are kept
// as two 32-bit halves, CRC_LO[256 t + i] and CRC_HI[256 t + i].
const CRC_LO = new Uint32Array(8 * 256);
const CRC_HI = new Uint32Array(8 * 256);
{
  const poly = 0x95ac9329ac4bc9b5n; // the polynomial, bit-reversed
  const table: bigint[] = [];
  for (let i = 0; i < 256; i++) {
    let crc = BigInt(i);
    for (let b = 0; b < 8; b++) crc = crc & 1n ? (crc >> 1n) ^ poly : crc >> 1n;
    table.push(crc);
  }
  for (let i = 0; i < 256; i++) {
    let crc = table[i]!;
    for (let t = 0; t < 8; t++) {
      CRC_LO[256 * t + i] = Number(crc & 0xffffffffn);
      CRC_HI[256 * t + i] = Number(crc >> 32n);
      crc = (crc >> 8n) ^ table[Number(crc & 0xffn)]!;
    }
  }
}

/** CRC-64/Jones of bytes [start, end), written little-endian at `out` (the DUMP footer's form). */
export function crc64(buf: Uint8Array, start: number, end: number, out: number): void {
  let lo = 0;
  let hi = 0;
  let k = start;
  for (; k + 8 <= end; k += 8) {
    lo ^= buf[k]! | (buf[k + 1]! << 8) | (buf[k + 2]! << 16) | (buf[k + 3]! << 24);
    hi ^= buf[k + 4]! | (buf[k + 5]! << 8) | (buf[k + 6]! << 16) | (buf[k + 7]! << 24);
    const l =
      CRC_LO[1792 + (lo & 0xff)]! ^
      CRC_LO[1536 + ((lo >>> 8) & 0xff)]! ^
      CRC_LO[1280 + ((lo >>> 16) & 0xff)]! ^
      CRC_LO[1024 + (lo >>> 24)]! ^
      CRC_LO[768 + (hi & 0xff)]! ^
      CRC_LO[512 + ((hi >>> 8) & 0xff)]! ^
      CRC_LO[256 + ((hi >>> 16) & 0xff)]! ^
      CRC_LO[hi >>> 24]!;
    hi =
      CRC_HI[1792 + (lo & 0xff)]! ^
      CRC_HI[1536 + ((lo >>> 8) & 0xff)]! ^
      CRC_HI[1280 + ((lo >>> 16) & 0xff)]! ^
      CRC_HI[1024 + (lo >>> 24)]! ^
      CRC_HI[768 + (hi & 0xff)]! ^
      CRC_HI[512 + ((hi >>> 8) & 0xff)]! ^
      CRC_HI[256 + ((hi >>> 16) & 0xff)]! ^
      CRC_HI[hi >>> 24]!;
    lo = l;
  }
  for (; k < end; k++) {
    const idx = (lo ^ buf[k]!) & 0xff;
    lo = ((lo >>> 8) | (hi << 24)) ^ CRC_LO[idx]!;
    hi = (hi >>> 8) ^ CRC_HI[idx]!;
  }
  for (let b = 0; b < 4; b++) buf[out + b] = (lo >>> (8 * b)) & 0xff;
  for (let b = 0; b < 4; b++) buf[out + 4 + b] = (hi >>> (8 * b)) & 0xff;
}
