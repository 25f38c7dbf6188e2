/**
 * A write-only Redis connection for bulk loads, in the spirit of `redis-cli --pipe`: commands are
 * encoded as RESP straight into a large buffer and written a chunk at a time; replies are
 * counted, not decoded into objects. A general client spends several microseconds per command
 * on promises and queue entries, which at a million records is most of a load's time.
 *
 * Only commands whose reply is one line (an integer, `+OK` or an error) may be sent: HSET,
 * RESTORE, DEL, UNLINK, SADD, SET, AUTH, SELECT... The first error reply or connection failure is
 * thrown by the next settle(), and so is a stall: with the client's command timeout
 * (connectRedis), a settle() that sees no reply and no drain for that long fails with
 * RedisTimeoutError and drops the connection.
 */
import { ServiceError, afterPendingIo, commandTimeoutOf, openRawConnection, RedisTimeoutError, type Redis } from '@meteorites/shared';
import type { Socket } from 'node:net';
import { once } from 'node:events';
import { SocketClosedUnexpectedlyError } from 'redis';

export class BulkWriteError extends ServiceError {
  override name = 'BulkWriteError';
  override readonly code = 'bulk_write_failed';
}

/** Encoded commands are handed to the socket in chunks of about this size (small enough for Redis to start early). */
const CHUNK_BYTES = 64 * 1024;
/**
 * settle() lets this much wait in the socket's own buffer before it waits for it to drain: enough
 * for Redis to work on while this process does something else (a loader's snapshot, say).
 */
const MAX_BUFFERED_BYTES = 16 * 1024 * 1024;
/** Binary arguments from this size on go to the socket as they are instead of being copied. */
const DIRECT_BYTES = 64 * 1024;
const CR = 13;
const LF = 10;
const MINUS = 45;

interface Waiter {
  until: number;
  resolve: () => void;
  reject: (err: Error) => void;
}

export class BulkWriter {
  readonly #socket: Socket;
  #buf = Buffer.allocUnsafe(CHUNK_BYTES);
  #len = 0;
  /** Commands begun so far (written or still in #buf). */
  #queued = 0;
  #replied = 0;
  #error: Error | undefined;
  #waiters: Waiter[] = [];
  #atLineStart = true;
  #inError = false;
  #errorText = '';
  readonly #timeoutMs: number | undefined;
  /** When Redis last showed it is working: a reply read, the socket drained. */
  #progressAt = 0;

  private constructor(socket: Socket, timeoutMs: number | undefined) {
    this.#socket = socket;
    this.#timeoutMs = timeoutMs;
    socket.setNoDelay(true);
    socket.on('data', (data: Buffer) => {
      this.#progressAt = Date.now();
      this.#onData(data);
    });
    socket.on('drain', () => {
      this.#progressAt = Date.now();
    });
    // Wrapped with their cause, so isRedisUnavailable() sees the connection failure under them.
    socket.on('error', (err) => this.#fail(new BulkWriteError(`the bulk connection to Redis failed: ${err.message}`, { cause: err })));
    socket.on('close', () =>
      this.#fail(new BulkWriteError('the bulk connection to Redis closed', { cause: new SocketClosedUnexpectedlyError() })),
    );
  }

  /** Opens a connection to the Redis `client` talks to (same host, TLS, user, password, database). */
  static async open(client: Redis, name = 'loader'): Promise<BulkWriter> {
    let raw;
    try {
      raw = await openRawConnection(client);
    } catch (err) {
      throw new BulkWriteError(`cannot open a bulk connection to Redis: ${(err as Error).message}`, { cause: err });
    }
    const { socket, handshake } = raw;
    const writer = new BulkWriter(socket, commandTimeoutOf(client));
    for (const command of handshake) writer.command(...command);
    writer.command('CLIENT', 'SETNAME', name);
    await writer.settle(0);
    return writer;
  }

  /** Commands that have been answered. */
  get replied(): number {
    return this.#replied;
  }

  command(...args: string[]): void {
    this.begin(args.length);
    for (const arg of args) this.arg(arg);
  }

  /** Starts a command of `argc` arguments; exactly `argc` arg() calls must follow. */
  begin(argc: number): void {
    if (this.#len >= CHUNK_BYTES) this.#send();
    this.#reserve(16);
    this.#buf[this.#len++] = 42; // *
    this.#number(argc);
    this.#queued++;
  }

  /**
   * Appends one argument. ASCII text (nearly everything in this dataset) is copied by a plain
   * loop: at a dozen arguments per record, a native call per argument would cost more than
   * Redis spends on the whole command.
   */
  arg(s: string): void {
    const n = s.length;
    this.#reserve(3 * n + 16);
    const buf = this.#buf;
    const start = this.#len;
    buf[this.#len++] = 36; // $
    this.#number(n);
    let o = this.#len;
    let k = 0;
    for (; k < n; k++) {
      const ch = s.charCodeAt(k);
      if (ch >= 0x80) break;
      buf[o++] = ch;
    }
    if (k < n) {
      // Not ASCII: the byte count differs from the length, so the header is written again.
      this.#len = start;
      buf[this.#len++] = 36;
      this.#number(Buffer.byteLength(s));
      o = this.#len + buf.write(s, this.#len, 'utf8');
    }
    buf[o++] = CR;
    buf[o++] = LF;
    this.#len = o;
  }

  /**
   * Appends `commands` whole commands that `write` encodes itself, as RESP, into `buf` from `at`
   * (at most `maxBytes`); it returns how many bytes it wrote, or 0 to write nothing, and then
   * this returns false. For encoders that would spend more building arguments apart than writing
   * the command where it goes.
   */
  raw(maxBytes: number, commands: number, write: (buf: Buffer, at: number) => number): boolean {
    if (this.#len >= CHUNK_BYTES) this.#send();
    this.#reserve(maxBytes);
    const n = write(this.#buf, this.#len);
    if (n <= 0) return false;
    this.#len += n;
    this.#queued += commands;
    return true;
  }

  /**
   * Appends one binary argument, bytes [start, end) of `src`. A large one is handed to the socket
   * as it is, so `src` must stay unchanged until the next settle().
   */
  bytes(src: Uint8Array, start = 0, end = src.length): void {
    const n = end - start;
    const direct = n >= DIRECT_BYTES;
    this.#reserve(direct ? 16 : n + 16);
    this.#buf[this.#len++] = 36; // $
    this.#number(n);
    if (direct) {
      this.#send();
      this.#socket.write(src.subarray(start, end));
    } else {
      this.#buf.set(src.subarray(start, end), this.#len);
      this.#len += n;
    }
    this.#reserve(2);
    this.#buf[this.#len++] = CR;
    this.#buf[this.#len++] = LF;
  }

  /**
   * Sends what is encoded and waits until at most `maxPending` commands are unanswered (and the
   * socket has taken most of what was sent); throws the first failure.
   */
  async settle(maxPending: number): Promise<void> {
    this.#send();
    if (this.#error) throw this.#error;
    if (this.#socket.writableLength > MAX_BUFFERED_BYTES) await this.#watched(once(this.#socket, 'drain'));
    const until = this.#queued - maxPending;
    if (this.#replied < until) {
      await this.#watched(new Promise<void>((resolve, reject) => this.#waiters.push({ until, resolve, reject })));
    }
    if (this.#error) throw this.#error;
  }

  /** `wait`, failed with RedisTimeoutError (and the connection dropped) once Redis shows no progress for the timeout. */
  #watched<T>(wait: Promise<T>): Promise<T> {
    const ms = this.#timeoutMs;
    if (!ms) return wait;
    // Idle time counts from now: replies that stopped while this process was busy encoding are no stall.
    const since = Date.now();
    return new Promise<T>((resolve, reject) => {
      let timer: NodeJS.Timeout;
      const check = () => {
        const idle = Date.now() - Math.max(since, this.#progressAt);
        if (idle < ms) {
          timer = setTimeout(() => afterPendingIo(check), ms - idle);
          return;
        }
        const err = new RedisTimeoutError(ms);
        this.#fail(err);
        this.#socket.destroy();
        reject(err);
      };
      // Through afterPendingIo: replies that came while the event loop was held up count first.
      timer = setTimeout(() => afterPendingIo(check), ms);
      wait.then(
        (value) => {
          clearTimeout(timer);
          resolve(value);
        },
        (err: unknown) => {
          clearTimeout(timer);
          reject(err);
        },
      );
    });
  }

  close(): void {
    this.#waiters = [];
    this.#socket.removeAllListeners('close');
    this.#socket.on('error', () => {});
    this.#socket.destroy();
  }

  /** Writes a non-negative integer and CRLF. */
  #number(v: number): void {
    const buf = this.#buf;
    let o = this.#len;
    if (v < 10000) {
      const digits = v < 10 ? 1 : v < 100 ? 2 : v < 1000 ? 3 : 4;
      for (let k = digits - 1; k >= 0; k--) {
        buf[o + k] = 48 + (v % 10);
        v = Math.floor(v / 10);
      }
      o += digits;
    } else {
      const digits = String(v);
      for (let k = 0; k < digits.length; k++) buf[o++] = digits.charCodeAt(k);
    }
    buf[o++] = CR;
    buf[o++] = LF;
    this.#len = o;
  }

  #reserve(bytes: number): void {
    if (this.#len + bytes <= this.#buf.length) return;
    // A command may straddle two chunks: Redis reads the stream, not the writes.
    this.#send();
    if (bytes > this.#buf.length) this.#buf = Buffer.allocUnsafe(bytes);
  }

  #send(): void {
    if (this.#len === 0) return;
    // The socket holds on to the chunk until it is written, so the next commands go to a fresh buffer.
    this.#socket.write(this.#buf.subarray(0, this.#len));
    this.#buf = Buffer.allocUnsafe(Math.max(CHUNK_BYTES, this.#buf.length));
    this.#len = 0;
  }

  #onData(data: Buffer): void {
    let i = 0;
    while (i < data.length) {
      if (this.#atLineStart) {
        this.#inError = data[i] === MINUS;
        this.#atLineStart = false;
      }
      const end = data.indexOf(LF, i);
      const stop = end === -1 ? data.length : end;
      if (this.#inError && !this.#error) this.#errorText += data.toString('utf8', i, stop);
      if (end === -1) break;
      i = end + 1;
      this.#atLineStart = true;
      this.#replied++;
      if (this.#inError && !this.#error) {
        this.#error = new BulkWriteError(`Redis refused a write: ${this.#errorText.replace(/^-|\r$/g, '')}`);
      }
    }
    this.#waiters = this.#waiters.filter((w) => {
      if (this.#error) w.reject(this.#error);
      else if (this.#replied >= w.until) w.resolve();
      else return true;
      return false;
    });
  }

  #fail(err: Error): void {
    this.#error ??= err;
    for (const w of this.#waiters) w.reject(this.#error);
    this.#waiters = [];
  }
}
