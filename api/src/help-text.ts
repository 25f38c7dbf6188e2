/**
 * The plain-text help at `/help`: every documented route with its method, path and summary,
 * read from the OpenAPI document the routes' schemas generate (so a new route appears here by
 * being declared, and one without a summary shows up as such), and a worked example with curl.
 */

interface Operation {
  summary?: string;
  tags?: string[];
}

export interface OpenApiLike {
  info: { title: string; description?: string };
  tags?: { name: string; description?: string }[];
  paths?: Record<string, Record<string, Operation>>;
}

export interface HelpRoute {
  method: string;
  path: string;
  summary: string;
  tag: string;
}

const METHODS = ['get', 'post', 'put', 'patch', 'delete'];
/** Shown instead of a summary a route does not declare: the help test refuses it. */
export const NO_SUMMARY = '(no summary)';

/** Every operation of the document, in its order (the order routes were registered). */
export function helpRoutes(doc: OpenApiLike): HelpRoute[] {
  return Object.entries(doc.paths ?? {}).flatMap(([path, item]) =>
    Object.entries(item)
      .filter(([method]) => METHODS.includes(method))
      .map(([method, op]) => ({
        method: method.toUpperCase(),
        path,
        // Markdown's code marks mean nothing on a terminal.
        summary: op.summary?.replace(/`/g, '') || NO_SUMMARY,
        tag: op.tags?.[0] ?? 'other',
      })),
  );
}

/** The routes grouped under their tags, in the document's tag order, in aligned columns. */
export function routeTable(doc: OpenApiLike): string {
  const routes = helpRoutes(doc);
  const width = Math.max(...routes.map((r) => r.path.length));
  const tags = [...(doc.tags ?? [])];
  for (const r of routes) if (!tags.some((t) => t.name === r.tag)) tags.push({ name: r.tag });
  return tags
    .map((tag) => {
      const lines = routes.filter((r) => r.tag === tag.name).map((r) => `  ${r.method.padEnd(7)}${r.path.padEnd(width + 2)}${r.summary}`);
      return lines.length === 0 ? '' : `${tag.name}${tag.description ? `: ${tag.description}` : ''}\n${lines.join('\n')}\n`;
    })
    .filter(Boolean)
    .join('\n');
}

/**
 * Submit, wait, result, download: a script that runs as it is in a POSIX shell against the
 * service at `origin` (the test runs it). curl and sed only, no jq.
 */
export function workedExample(origin: string): string {
  return `API=${origin}
# Behind a proxy, API is the address the proxy serves this service at (with its path prefix).
# With API_KEY set, add  -H "authorization: Bearer $KEY"  to POST and DELETE (to every GET too
# with API_KEY_PROTECT_READS).

# 1. Submit: run mass-by-class (GET /analyses lists the others and their params).
#    202 and the job; 200 and the same job when it was asked for on this dataset before.
ID=$(curl -sS -X POST "$API/jobs" -H 'content-type: application/json' \\
  -d '{"analysis":"mass-by-class","params":{}}' | sed -E 's/.*"id":"([^"]+)".*/\\1/')
echo "job $ID"

# 2. Wait: long-polls up to 30 s and answers the job as soon as it ends ("status":"finished").
curl -sS "$API/jobs/$ID?wait=30"; echo

# 3. Result: the analysis' JSON.
curl -sS "$API/results/$ID"; echo

# 4. Download: the chart as a PNG file, named <analysis>-<id>.png by the service.
curl -sS -OJ "$API/download/$ID"
`;
}

export function helpText(doc: OpenApiLike, origin: string): string {
  const intro = (doc.info.description ?? '').replace(/`/g, '');
  return `${doc.info.title}
${intro}

Every route (Swagger UI at /docs, the OpenAPI document at /openapi.json):

${routeTable(doc)}
Worked example (copy into a shell; npm start has loaded the dataset):

${workedExample(origin).replace(/^(?=.)/gm, '  ')}`;
}
