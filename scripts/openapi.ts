/**
 * Writes openapi.json at the project root from the app itself (no Redis needed).
 * `--check` writes nothing and exits 1 when the committed file differs from a fresh one.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '@meteorites/shared/config';
import { buildApp } from '@meteorites/api/app';
import type {} from '@fastify/swagger';

const target = fileURLToPath(new URL('../openapi.json', import.meta.url));

export async function generateOpenApi(): Promise<string> {
  const app = await buildApp({ config: { ...loadConfig({}), LOG_LEVEL: 'silent' }, connectRedis: false });
  try {
    return `${JSON.stringify(app.swagger(), null, 2)}\n`;
  } finally {
    await app.close();
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const fresh = await generateOpenApi();
  if (process.argv.includes('--check')) {
    let committed = '';
    try {
      committed = readFileSync(target, 'utf8');
    } catch {
      // missing counts as stale
    }
    if (committed !== fresh) {
      console.error('openapi.json is stale: run `npm run openapi` and commit the result');
      process.exit(1);
    }
    console.log('openapi.json is fresh');
  } else {
    writeFileSync(target, fresh);
    console.log("wrote openapi.json");
  }
}
