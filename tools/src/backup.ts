/**
 * Backups of the whole Redis as an RDB snapshot, and restores of one into a data directory.
 *
 * A backup speaks Redis' replication handshake, as `redis-cli --rdb` does: SYNC makes the server
 * fork and serialise every key as of one instant (consistent across keys, like BGSAVE) and stream
 * that snapshot down the connection. So it works against a remote Redis, over TLS and with a
 * password, without access to the server's disk or a redis-cli binary. The user needs the right to
 * run SYNC (managed Redis services often forbid it; use their own snapshots there). The server
 * waits `repl-diskless-sync-delay` (5 s by default) before it starts sending.
 *
 * A restore cannot be done over the network without rewriting every key, so it writes a data
 * directory for a stopped redis-server instead: it loads the RDB into a temporary redis-server,
 * has it write an AOF of it, and swaps that directory in. Starting Redis on it serves the backup.
 */
import { ServiceError, openRawConnection, closeRedis, connectRedis, type Redis } from '@meteorites/shared';
import { once } from 'node:events';
import {
  closeSync,
  copyFileSync,
  createWriteStream,
  existsSync,
  fstatSync,
  mkdirSync,
  openSync,
  readSync,
  renameSync,
  rmSync,
} from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { RedisServer } from './redis-server.ts';

export class BackupError extends ServiceError {
  override name = 'BackupError';
  override readonly code = 'backup_failed';
}

/** How long the server may stay silent (it sends a newline a second while it prepares). */
const IDLE_TIMEOUT_MS = 30_000;
/** The RDB's last opcode, followed by an 8-byte checksum. */
const RDB_EOF = 0xff;

/** `meteorites-2024-05-01T12-00-00Z.rdb`: sorts by time, no characters file systems dislike. */
export function backupFileName(at: Date = new Date()): string {
  return `meteorites-${at
    .toISOString()
    .replace(/\.\d+Z$/, 'Z')
    .replaceAll(':', '-')}.rdb`;
}

/** Checks a file looks like a whole RDB: the `REDIS` magic at the start, the EOF opcode before the checksum. */
export function checkRdb(file: string): number {
  const fd = openSync(file, 'r');
  try {
    const size = fstatSync(fd).size;
    const head = Buffer.alloc(9);
    const tail = Buffer.alloc(1);
    readSync(fd, head, 0, 9, 0);
    if (size >= 18) readSync(fd, tail, 0, 1, size - 9);
    if (size < 18 || !/^REDIS\d{4}$/.test(head.toString('latin1')) || tail[0] !== RDB_EOF) {
      throw new BackupError(`${file} is not a complete RDB snapshot`);
    }
    return size;
  } finally {
    closeSync(fd);
  }
}

function encode(args: string[]): string {
  return `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;
}

/**
 * Streams a snapshot of the Redis `client` talks to into `file` (written as `file.partial`, renamed
 * when complete and checked). Returns its size in bytes.
 */
export async function backupRdb(client: Redis, file: string): Promise<number> {
  let raw;
  try {
    raw = await openRawConnection(client);
  } catch (err) {
    throw new BackupError(`cannot connect to Redis for the backup: ${(err as Error).message}`);
  }
  const { socket } = raw;
  const partial = `${file}.partial`;
  mkdirSync(dirname(resolve(file)), { recursive: true });
  const out = createWriteStream(partial);
  socket.setTimeout(IDLE_TIMEOUT_MS);

  // SYNC only once every setup reply has been read (Redis refuses it with replies pending).
  // `rdb-only` (Redis 7+: no replication stream after the snapshot) may be refused by older servers: harmless.
  const setup = [...raw.handshake, ['REPLCONF', 'capa', 'eof'], ['REPLCONF', 'rdb-only', '1']];
  const optional = setup.length - 1;
  socket.write(setup.map(encode).join(''));

  try {
    await new Promise<void>((resolveP, reject) => {
      let pending: Buffer = Buffer.alloc(0);
      let replies = 0;
      /** Bytes of payload still to come (`$<n>`), or the end marker to look for (`$EOF:<mark>`). */
      let remaining = -1;
      let mark: Buffer | undefined;
      let done = false;

      const finish = (err?: Error) => {
        if (done) return;
        done = true;
        socket.removeAllListeners('data');
        socket.destroy();
        if (err) reject(err);
        else resolveP();
      };
      const write = (chunk: Buffer) => {
        if (chunk.length > 0 && !out.write(chunk)) {
          socket.pause();
          out.once('drain', () => socket.resume());
        }
      };

      socket.on('timeout', () => finish(new BackupError(`Redis sent nothing for ${IDLE_TIMEOUT_MS / 1000} s during the backup`)));
      socket.on('error', (err) => finish(new BackupError(`the backup connection failed: ${err.message}`)));
      socket.on('close', () => finish(new BackupError('Redis closed the connection before the snapshot was complete')));
      socket.on('data', (data: Buffer) => {
        let buf: Buffer = pending.length > 0 ? Buffer.concat([pending, data]) : data;
        pending = Buffer.alloc(0);
        // Header part: setup replies, keep-alive newlines, then `$<n>\r\n` or `$EOF:<40 bytes>\r\n`.
        while (remaining < 0 && mark === undefined) {
          if (buf[0] === 0x0a) {
            buf = buf.subarray(1);
            continue;
          }
          const eol = buf.indexOf('\r\n');
          if (eol < 0) {
            pending = buf;
            return;
          }
          const line = buf.subarray(0, eol).toString('latin1');
          buf = buf.subarray(eol + 2);
          if (replies < setup.length) {
            if (line.startsWith('-') && replies < optional)
              return finish(new BackupError(`Redis refused ${setup[replies]![0]}: ${line.slice(1)}`));
            if (++replies === setup.length) socket.write(encode(['SYNC']));
          } else if (line.startsWith('-')) {
            return finish(new BackupError(`Redis refused SYNC: ${line.slice(1)}`));
          } else if (line.startsWith('$EOF:')) {
            mark = Buffer.from(line.slice(5), 'latin1');
          } else if (/^\$\d+$/.test(line)) {
            remaining = Number(line.slice(1));
          } else {
            return finish(new BackupError(`unexpected reply to SYNC: ${line.slice(0, 80)}`));
          }
        }
        if (mark) {
          // Hold back a marker's length: the marker may be split across chunks.
          const end = buf.indexOf(mark);
          if (end >= 0) {
            write(buf.subarray(0, end));
            return finish();
          }
          const keep = Math.max(0, buf.length - mark.length);
          write(buf.subarray(0, keep));
          pending = buf.subarray(keep);
          return;
        }
        const take = Math.min(remaining, buf.length);
        write(buf.subarray(0, take));
        remaining -= take;
        if (remaining === 0) finish();
      });
    });
    out.end();
    await once(out, 'close');
    const size = checkRdb(partial);
    renameSync(partial, file);
    return size;
  } catch (err) {
    out.destroy();
    rmSync(partial, { force: true });
    throw err;
  }
}

export interface RestoreResult {
  /** Keys in the restored database. */
  keys: number;
  /** Where the directory that was replaced now is (kept until you delete it), if there was one. */
  previous: string | undefined;
}

/** Waits for the AOF rewrite that `CONFIG SET appendonly yes` starts, and checks it succeeded. */
async function aofWritten(client: Redis, timeoutMs = 600_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const info = Object.fromEntries(
      (await client.info('persistence'))
        .split('\r\n')
        .filter((l) => l.includes(':'))
        .map((l) => l.split(':') as [string, string]),
    );
    if (info.aof_rewrite_in_progress === '0' && info.aof_rewrite_scheduled === '0') {
      if (info.aof_enabled !== '1' || info.aof_last_bgrewrite_status !== 'ok') {
        throw new BackupError(
          `Redis could not write the restored data as an AOF (aof_last_bgrewrite_status: ${info.aof_last_bgrewrite_status})`,
        );
      }
      return;
    }
    if (Date.now() > deadline) throw new BackupError('Redis did not finish writing the restored data in time');
    await sleep(50);
  }
}

/**
 * Makes `dataDir` a Redis data directory holding the snapshot in `rdbFile`, persisted as an AOF
 * (what `npm start`, compose and the tests run Redis with). Nothing may be running on `dataDir`:
 * stop its redis-server first and start it again afterwards. The directory it replaces is moved
 * aside to `<dataDir>.before-restore-<time>`, not deleted.
 */
export async function restoreRdb(rdbFile: string, dataDir: string): Promise<RestoreResult> {
  checkRdb(rdbFile);
  const target = resolve(dataDir);
  const stamp = new Date()
    .toISOString()
    .replace(/\.\d+Z$/, 'Z')
    .replaceAll(':', '-');
  const staging = `${target}.restoring-${stamp}`;
  mkdirSync(staging, { recursive: true });
  copyFileSync(rdbFile, join(staging, 'dump.rdb'));
  // Later arguments win: load the RDB (AOF off), then switch the AOF on, which writes the whole dataset to it.
  const server = new RedisServer({ dataDir: staging, extraArgs: ['--appendonly', 'no', '--dbfilename', 'dump.rdb'] });
  let keys: number;
  try {
    await server.start();
    const client = await connectRedis(server.url, { name: 'restore' });
    try {
      keys = await client.dbSize();
      await client.configSet('appendonly', 'yes');
      await aofWritten(client);
    } finally {
      await closeRedis(client);
    }
    await server.stop();
  } catch (err) {
    await server.stop();
    rmSync(staging, { recursive: true, force: true });
    throw err;
  }
  // With the AOF on, Redis ignores dump.rdb; left there it would only confuse whoever turns the AOF off.
  rmSync(join(staging, 'dump.rdb'));
  let previous: string | undefined;
  if (existsSync(target)) {
    previous = `${target}.before-restore-${stamp}`;
    renameSync(target, previous);
  }
  renameSync(staging, target);
  return { keys, previous };
}
