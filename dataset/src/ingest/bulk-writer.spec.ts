import { createServer, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import type { Redis } from '@meteorites/shared';
import { BulkWriter } from './bulk-writer.ts';

/**
 * A stand-in for Redis that decodes the RESP commands it receives and answers each with `:1`,
 * or with an error for a command named FAIL. Enough to check what the writer puts on the wire.
 */
class FakeRedis {
  readonly commands: string[][] = [];
  /** The same commands, arguments as the bytes received. */
  readonly binary: Buffer[][] = [];
  readonly sockets: Socket[] = [];
  readonly server: Server;
  #pending = Buffer.alloc(0);

  constructor() {
    this.server = createServer((socket) => {
      this.sockets.push(socket);
      socket.on('data', (data: Buffer) => socket.write(this.#decode(data)));
    });
  }

  async start(): Promise<number> {
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    return (this.server.address() as { port: number }).port;
  }

  /** Decodes every complete command in the stream so far; returns the replies for them. */
  #decode(data: Buffer): string {
    let buf = Buffer.concat([this.#pending, data]);
    let replies = '';
    for (;;) {
      const parsed = this.#command(buf);
      if (!parsed) break;
      this.commands.push(parsed.args.map((a) => a.toString('utf8')));
      this.binary.push(parsed.args);
      replies += parsed.args[0]!.toString() === 'FAIL' ? '-ERR told to fail\r\n' : ':1\r\n';
      buf = buf.subarray(parsed.end);
    }
    this.#pending = buf;
    return replies;
  }

  #command(buf: Buffer): { args: Buffer[]; end: number } | undefined {
    const line = (at: number) => {
      const end = buf.indexOf('\r\n', at);
      return end === -1 ? undefined : { text: buf.toString('latin1', at, end), next: end + 2 };
    };
    const head = line(0);
    if (!head) return undefined;
    if (head.text[0] !== '*') throw new Error(`not a command: ${head.text}`);
    const args: Buffer[] = [];
    let at = head.next;
    for (let i = 0; i < Number(head.text.slice(1)); i++) {
      const size = line(at);
      if (!size) return undefined;
      if (size.text[0] !== '$') throw new Error(`not a bulk string: ${size.text}`);
      const bytes = Number(size.text.slice(1));
      if (buf.length < size.next + bytes + 2) return undefined;
      args.push(Buffer.from(buf.subarray(size.next, size.next + bytes)));
      if (buf.toString('latin1', size.next + bytes, size.next + bytes + 2) !== '\r\n') throw new Error('a bulk string of the wrong length');
      at = size.next + bytes + 2;
    }
    return { args, end: at };
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    this.server.close();
    await once(this.server, 'close');
  }
}

const clientFor = (port: number, extra: Record<string, unknown> = {}) =>
  ({ options: { socket: { host: '127.0.0.1', port }, ...extra } }) as unknown as Redis;

describe('BulkWriter', () => {
  let fake: FakeRedis;
  let writer: BulkWriter | undefined;
  afterEach(async () => {
    writer?.close();
    writer = undefined;
    await fake.close();
  });

  it('authenticates, selects the database and names itself before anything else', async () => {
    fake = new FakeRedis();
    const port = await fake.start();
    writer = await BulkWriter.open(clientFor(port, { username: 'u', password: 'p w', database: 3 }), 'loader-test');
    expect(fake.commands).toEqual([
      ['AUTH', 'u', 'p w'],
      ['SELECT', '3'],
      ['CLIENT', 'SETNAME', 'loader-test'],
    ]);
  });

  it('encodes ASCII, UTF-8, empty and long arguments exactly, across chunk boundaries', async () => {
    fake = new FakeRedis();
    writer = await BulkWriter.open(clientFor(await fake.start()));
    const sent: string[][] = [];
    const long = 'x'.repeat(700_000);
    for (let i = 0; i < 20_000; i++) {
      const args = ['HSET', `meteorite:${i}`, 'name', i % 3 === 0 ? `Aïr ☄ 𝛼 ${i}` : `N${i}`, 'empty', '', 'n', String(i * 10)];
      if (i === 7_777) args.push('long', long, 'longer', `é${long}`);
      writer.begin(args.length);
      for (const a of args) writer.arg(a);
      sent.push(args);
    }
    writer.command('DEL', 'k');
    sent.push(['DEL', 'k']);
    await writer.settle(0);
    expect(writer.replied).toBe(1 + sent.length);
    expect(fake.commands.slice(1)).toEqual(sent);
  });

  it('writes binary arguments exactly, small ones copied and large ones handed over whole', async () => {
    fake = new FakeRedis();
    writer = await BulkWriter.open(clientFor(await fake.start()));
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const large = Buffer.alloc(300_000);
    for (let i = 0; i < large.length; i++) large[i] = (i * 31) & 0xff;
    writer.begin(3);
    writer.arg('SET');
    writer.arg('small');
    writer.bytes(all, 10, 250);
    writer.begin(3);
    writer.arg('SET');
    writer.arg('large');
    writer.bytes(large);
    writer.command('DEL', 'k');
    await writer.settle(0);
    expect(fake.binary.slice(1).map((args) => args.map((a) => a.toString('hex')))).toEqual([
      ['SET', 'small', all.subarray(10, 250)].map((a) => Buffer.from(a).toString('hex')),
      ['SET', 'large', large].map((a) => Buffer.from(a).toString('hex')),
      ['DEL', 'k'].map((a) => Buffer.from(a).toString('hex')),
    ]);
  });

  it('takes whole commands encoded in place, across chunks, and nothing from a writer that declines', async () => {
    fake = new FakeRedis();
    writer = await BulkWriter.open(clientFor(await fake.start()));
    const sent: Buffer[][] = [];
    for (let i = 0; i < 6_000; i++) {
      const payload = Buffer.alloc(1 + (i % 4000), i & 0xff);
      payload[0] = 0x0d; // a CR inside a binary argument
      const resp = Buffer.concat([Buffer.from(`*2\r\n$3\r\nSET\r\n$${payload.length}\r\n`), payload, Buffer.from('\r\n')]);
      const declined = i % 7 === 3;
      expect(writer.raw(4100, 1, (buf, at) => (declined ? 0 : resp.copy(buf, at)))).toBe(!declined);
      if (!declined) sent.push([Buffer.from('SET'), payload]);
      if (i % 1000 === 0) {
        writer.command('PING');
        sent.push([Buffer.from('PING')]);
      }
    }
    await writer.settle(0);
    expect(writer.replied).toBe(1 + sent.length);
    expect(fake.binary.slice(1).map((args) => args.map((a) => a.toString('hex')))).toEqual(
      sent.map((args) => args.map((a) => a.toString('hex'))),
    );
  });

  it('lets settle() wait for all but a number of replies', async () => {
    fake = new FakeRedis();
    writer = await BulkWriter.open(clientFor(await fake.start()));
    for (let i = 0; i < 5_000; i++) writer.command('SADD', 's', String(i));
    await writer.settle(1_000);
    expect(writer.replied).toBeGreaterThanOrEqual(1 + 4_000);
    await writer.settle(0);
    expect(writer.replied).toBe(1 + 5_000);
  });

  it('throws the first error reply at the next settle()', async () => {
    fake = new FakeRedis();
    writer = await BulkWriter.open(clientFor(await fake.start()));
    writer.command('SET', 'a', '1');
    writer.command('FAIL');
    writer.command('SET', 'b', '2');
    await expect(writer.settle(0)).rejects.toThrow(/Redis refused a write: ERR told to fail/);
  });

  it('fails when the connection drops, and when it cannot connect', async () => {
    fake = new FakeRedis();
    const port = await fake.start();
    writer = await BulkWriter.open(clientFor(port));
    for (const s of fake.sockets) s.destroy();
    writer.command('SET', 'a', '1');
    await expect(writer.settle(0)).rejects.toThrow(/bulk connection to Redis/);
    await fake.close();
    fake = new FakeRedis();
    await fake.start();
    await expect(BulkWriter.open(clientFor(port))).rejects.toThrow(/cannot open a bulk connection/);
  });
});
