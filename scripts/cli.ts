/**
 * `npm run cli -- <command>` (or the `meteorites` bin): the service from a terminal, over HTTP to
 * API_URL through the client generated from openapi.json, with `Authorization: Bearer` when
 * API_KEY is set. Exit codes: 0 done, 1 an error (the API's message is printed) or a job that
 * failed or was cancelled, 2 a usage error, 124 `wait` ran out of time, 130 `fetch` interrupted.
 */
import { loadConfig } from '@meteorites/shared';
import { ApiRequestError, createApiClient } from '@meteorites/client';
import { commandHelp, parseCommand, UsageError, USAGE } from './cli/args.ts';
import { run } from './cli/commands.ts';
import { InterruptedError } from './cli/fetch.ts';

async function main(argv: string[]): Promise<number> {
  let apiUrl = '';
  try {
    const command = parseCommand(argv);
    const config = loadConfig();
    apiUrl = config.API_URL;
    // The service's own setting names the key; of several (a rotation), any one will do.
    const key = config.API_KEY?.split(',')[0];
    return await run(createApiClient(apiUrl, key ? { authorization: `Bearer ${key}` } : {}), command);
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`${err.message}\n\n${err.command ? commandHelp(err.command) : USAGE}`);
      return 2;
    }
    if (err instanceof InterruptedError) {
      console.error('interrupted: the download was removed, the old file is as it was');
      return 130;
    }
    if (err instanceof ApiRequestError) console.error(`error: ${err.message} (HTTP ${err.status}${err.code ? `, ${err.code}` : ''})`);
    else if (err instanceof TypeError && err.message === 'fetch failed') {
      const cause = (err.cause as Error | undefined)?.message ?? 'no answer';
      console.error(`error: cannot reach the API at ${apiUrl} (${cause}): is it running? Set API_URL to point elsewhere.`);
    } else console.error(`error: ${(err as Error).message}`);
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
