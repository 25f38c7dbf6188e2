/**
 * Text an SVG document can hold. vega escapes `<&"'`, but XML 1.0 has no escape at all for most
 * C0 controls, lone surrogates, U+FFFE and U+FFFF (`&#0;` is as ill-formed as the raw character),
 * and one of them anywhere makes the whole document unreadable to resvg and to browsers. Landing
 * text comes from whatever a load was given, and results and charts already in Redis may hold
 * such text from before requests were checked: so every SVG passes through here, however it
 * was made, and what XML cannot hold becomes U+FFFD.
 */

/** Everything outside XML 1.0's `Char` production. */
const NOT_XML_CHAR = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu;
const HAS_NOT_XML_CHAR = new RegExp(NOT_XML_CHAR.source, 'u');

/** `text` with every character XML 1.0 cannot hold replaced by U+FFFD (the same string when there is none). */
export function xmlSafe(text: string): string {
  return HAS_NOT_XML_CHAR.test(text) ? text.replace(NOT_XML_CHAR, '\uFFFD') : text;
}
