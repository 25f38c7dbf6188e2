/**
 * Just enough Markdown reading to check a repository's docs the way GitHub renders them: the
 * headings a file offers as anchors (GitHub's slugs) and the relative links it makes.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative, sep } from 'node:path';

/** Lines outside fenced code blocks, with their 1-based line numbers. */
function proseLines(text: string): { line: string; no: number }[] {
  const out: { line: string; no: number }[] = [];
  let fence: string | null = null;
  text.split('\n').forEach((line, i) => {
    const m = /^\s{0,3}(`{3,}|~{3,})/.exec(line);
    if (m) {
      if (fence === null) fence = m[1]![0]!.repeat(m[1]!.length);
      else if (m[1]!.startsWith(fence)) fence = null;
      return;
    }
    if (fence === null) out.push({ line, no: i + 1 });
  });
  return out;
}

/**
 * GitHub's anchor for a heading (as github-slugger makes it): the rendered text lower-cased,
 * every character that is not a letter, mark, digit, connector, space or hyphen dropped, each
 * space turned into a hyphen.
 */
export function slug(heading: string): string {
  const text = heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1') // links and images: their text
    .replace(/<[^>]+>/g, '') // inline HTML tags
    .replace(/[*`]/g, ''); // emphasis and code marks
  return text
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
    .replace(/ /g, '-');
}

/** Every anchor a Markdown text offers: its headings' slugs, repeated ones numbered as GitHub does. */
export function anchors(text: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const { line } of proseLines(text)) {
    const m = /^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!m) continue;
    const base = slug(m[1]!);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

export interface Link {
  target: string;
  line: number;
}

/** Link and image targets in a Markdown text (inline, reference definitions, HTML href/src), code left out. */
export function links(text: string): Link[] {
  const out: Link[] = [];
  for (const { line, no } of proseLines(text)) {
    const prose = line.replace(/(`+)(?:(?!\1).)*?\1/g, ''); // inline code spans
    for (const m of prose.matchAll(/\]\(\s*<?([^)\s>]*)>?(?:\s+"[^"]*")?\s*\)/g)) out.push({ target: m[1]!, line: no });
    const def = /^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)/.exec(prose);
    if (def) out.push({ target: def[1]!, line: no });
    for (const m of prose.matchAll(/\b(?:href|src)="([^"]*)"/g)) out.push({ target: m[1]!, line: no });
  }
  return out;
}

export interface BrokenLink extends Link {
  file: string;
  problem: string;
}

const isExternal = (target: string) => /^[a-z][a-z0-9+.-]*:/i.test(target);

/**
 * The relative links of one file (a path under `root`) that do not resolve: a missing file or
 * directory, or an anchor no heading of the target offers. `absentOk` lists repository paths
 * whose absence is reported elsewhere (their anchors are still checked once they exist).
 */
export function brokenLinks(root: string, file: string, absentOk: ReadonlySet<string> = new Set()): BrokenLink[] {
  const text = readFileSync(join(root, file), 'utf8');
  const broken: BrokenLink[] = [];
  for (const link of links(text)) {
    if (isExternal(link.target)) continue;
    const hash = link.target.indexOf('#');
    const pathPart = decodeURIComponent(hash < 0 ? link.target : link.target.slice(0, hash));
    const anchor = hash < 0 ? null : decodeURIComponent(link.target.slice(hash + 1));
    const resolved = pathPart === '' ? file : normalize(pathPart.startsWith('/') ? pathPart.slice(1) : join(dirname(file), pathPart));
    const repoPath = resolved.split(sep).join('/').replace(/\/$/, '');
    const fail = (problem: string) => broken.push({ ...link, file, problem });
    if (relative(root, join(root, resolved)).startsWith('..')) {
      fail(`${link.target} points outside the repository`);
      continue;
    }
    if (!existsSync(join(root, resolved))) {
      if (!absentOk.has(repoPath)) fail(`${repoPath} does not exist`);
      continue;
    }
    if (anchor === null) continue;
    if (!repoPath.endsWith('.md')) {
      fail(`#${anchor}: anchors are only checked in Markdown files, and ${repoPath} is none`);
      continue;
    }
    const offered = anchors(readFileSync(join(root, resolved), 'utf8'));
    if (!offered.has(anchor)) fail(`${repoPath} has no heading for #${anchor} (it has: ${[...offered].map((a) => `#${a}`).join(' ')})`);
  }
  return broken;
}
