/**
 * The dashboard's script and stylesheet, built from api/web/ by esbuild when first asked for and
 * kept in memory for the life of the process.
 *
 * Why at run time and not in `npm run build`: `npm run api` and the tests run the TypeScript
 * sources through tsx with no build step; a bundle made here needs none either, cannot go stale
 * against the sources, and writes nothing to disk (the image runs as an unprivileged user). The
 * compiled module (api/dist/) finds the same api/web/ as the source: both sit one level below api/. esbuild (an API dependency; tsx uses it too) bundles Preact, htm and the
 * page in about 100 ms, once per process. The output is one ES module with no eval and no inline
 * code, which the CSP (scripts from this origin only) allows as it is.
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

export interface DashboardAssets {
  script: string;
  style: string;
}

const WEB = fileURLToPath(new URL('../web/', import.meta.url));

async function bundle(): Promise<DashboardAssets> {
  const [out, css] = await Promise.all([
    build({
      entryPoints: [`${WEB}main.ts`],
      bundle: true,
      format: 'esm',
      target: 'es2022',
      minify: true,
      write: false,
      legalComments: 'none',
      logLevel: 'silent',
      tsconfig: `${WEB}tsconfig.json`,
    }),
    readFile(`${WEB}style.css`, 'utf8'),
  ]);
  return { script: out.outputFiles[0]!.text, style: css };
}

let built: Promise<DashboardAssets> | undefined;

/** The bundle, built once per process; a failed build is retried on the next call. */
export function dashboardAssets(): Promise<DashboardAssets> {
  built ??= bundle().catch((err: unknown) => {
    built = undefined;
    throw err;
  });
  return built;
}
