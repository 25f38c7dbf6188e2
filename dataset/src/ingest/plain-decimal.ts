/** Plain decimals read straight from a CSV field's bytes, without making a string first. */

const POW10 = Array.from({ length: 16 }, (_, i) => 10 ** i);

/**
 * The number a plain decimal like `-113.000000` spells, computed from its bytes; undefined for
 * anything else (exponents, signs other than `-`, spaces, over 15 digits), which then goes the
 * slow way as text. Exact: a mantissa under 2^53 divided by an exact power of ten rounds once,
 * correctly, to the same double Number() gives.
 */
export function plainDecimal(buf: Uint8Array, start: number, end: number): number | undefined {
  let i = start;
  const negative = buf[i] === 45;
  if (negative) i++;
  let mantissa = 0;
  let digits = 0;
  let significant = 0;
  let scale = 0;
  let dot = false;
  for (; i < end; i++) {
    const c = buf[i]!;
    if (c >= 48 && c <= 57) {
      digits++;
      if (mantissa > 0 || c !== 48) significant++;
      mantissa = mantissa * 10 + (c - 48);
      if (dot) scale++;
    } else if (c === 46 && !dot) dot = true;
    else return undefined;
  }
  if (digits === 0 || significant > 15 || scale > 15) return undefined;
  const value = scale === 0 ? mantissa : mantissa / POW10[scale]!;
  return negative && value !== 0 ? -value : value;
}
