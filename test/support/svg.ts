/**
 * Reads a chart SVG the way a test wants it: validated and parsed by a real XML parser, then
 * queried by vega's scenegraph classes (`role-mark`, `mark-rect`, `role-axis-title`, ...).
 */
import { XMLParser, XMLValidator } from 'fast-xml-parser';

type Node = { [tag: string]: Node[] } & { ':@'?: Record<string, string>; '#text'?: string };

export class InvalidSvgError extends Error {
  override name = 'InvalidSvgError';
}

export interface ParsedSvg {
  /** The root element's attributes (`width`, `height`, ...). */
  root: Record<string, string>;
  /** Items drawn by each mark group of a type, e.g. bars: `marks('rect')` → [bars in group 1, ...]. */
  marks(type: string): number[];
  /** The text of every group with this class, whitespace collapsed. */
  texts(cls: string): string[];
}

const tagOf = (node: Node) => Object.keys(node).find((k) => k !== ':@');

/** A character outside XML 1.0's `Char` production: fast-xml-parser's validator lets these through, resvg and browsers do not. */
const NOT_XML_CHAR = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u;

export function parseSvg(svg: string): ParsedSvg {
  const valid = XMLValidator.validate(svg);
  if (valid !== true) throw new InvalidSvgError(`not well-formed XML: ${valid.err.msg} (line ${valid.err.line})`);
  const bad = NOT_XML_CHAR.exec(svg);
  if (bad)
    throw new InvalidSvgError(
      `not well-formed XML: U+${bad[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')} at offset ${bad.index}`,
    );
  const tree = new XMLParser({ preserveOrder: true, ignoreAttributes: false, attributeNamePrefix: '' }).parse(svg) as Node[];
  const all: { tag: string; attrs: Record<string, string>; children: Node[] }[] = [];
  const walk = (nodes: Node[]) => {
    for (const node of nodes) {
      const tag = tagOf(node);
      if (!tag || tag === '#text') continue;
      all.push({ tag, attrs: node[':@'] ?? {}, children: node[tag]! });
      walk(node[tag]!);
    }
  };
  walk(tree);
  const root = all.find((e) => e.tag === 'svg');
  if (!root) throw new InvalidSvgError('no <svg> element');
  const text = (nodes: Node[]): string =>
    nodes
      .map((n) => {
        if (n['#text'] !== undefined) return String(n['#text']);
        const tag = tagOf(n);
        return tag ? text(n[tag]!) : '';
      })
      .join(' ');
  const groups = (cls: string) => all.filter((e) => e.tag === 'g' && (e.attrs.class ?? '').split(' ').includes(cls));
  return {
    root: root.attrs,
    marks: (type) =>
      groups('role-mark')
        .filter((g) => g.attrs.class!.split(' ').includes(`mark-${type}`))
        .map((g) => g.children.filter((c) => tagOf(c) !== undefined && tagOf(c) !== '#text').length),
    texts: (cls) => groups(cls).map((g) => text(g.children).replace(/\s+/g, ' ').trim()),
  };
}
