import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './config.ts';
import { freePort } from './free-port.ts';
import { askCluster, CLUSTER_HASH_TAG, clusterOf, parseClusterShards, parseClusterSlots, slotOf } from './cluster.ts';
import { buildKeys, keyPrefixes, keys, useHashTag } from './keys.ts';
import { queueKeyNames } from './queue/lua/scripts.ts';

const asked = { host: 'seed.example', port: 7000 };

describe('slotOf', () => {
  it('is CRC16-XMODEM mod 16384, as CLUSTER KEYSLOT answers', () => {
    // The CRC16 check value of "123456789" is 0x31C3; the others are what Redis 7 answers.
    expect(slotOf('123456789')).toBe(0x31c3);
    expect(slotOf('foo')).toBe(12182);
    expect(slotOf('somekey')).toBe(11058);
    expect(slotOf(`{${CLUSTER_HASH_TAG}}`)).toBe(slotOf(CLUSTER_HASH_TAG));
  });

  it('hashes only the tag: the first {...} that is not empty', () => {
    expect(slotOf('{user1000}.following')).toBe(slotOf('{user1000}.followers'));
    expect(slotOf('{user1000}.following')).toBe(slotOf('user1000'));
    expect(slotOf('foo{}{bar}')).toBe(slotOf('foo{}{bar}'));
    expect(slotOf('foo{}{bar}')).not.toBe(slotOf('bar'));
    expect(slotOf('foo{{bar}}zap')).toBe(slotOf('{bar'));
  });
});

describe('cluster mode key names', () => {
  afterEach(() => useHashTag(undefined));

  it('put every key of the service, and every key built from a prefix, in the tag slot', () => {
    const id = '0b6f3a36-5d2c-4c1e-9a43-1f2e3d4c5b6a';
    const k = buildKeys({ hashTag: CLUSTER_HASH_TAG });
    const slot = slotOf(`{${CLUSTER_HASH_TAG}}`);
    const all = [
      ...Object.values(queueKeyNames(k)),
      ...(Object.values(k) as unknown[]).filter((v): v is string => typeof v === 'string'),
      ...Object.values(k.prefixes).map((p) => `${p}123`),
      k.meteorite('1'),
      k.snapshot(3, 'mass'),
      k.job(id),
      k.chart(id, 'svg'),
      k.rateLimit('jobs', '10.0.0.1'),
      k.jobsByStatus('finished'),
    ];
    for (const key of all) expect(slotOf(key), key).toBe(slot);
    expect(k.meteorite('1')).toBe('{meteorites}meteorite:1');
  });

  it('switch in place: importers of keys and keyPrefixes see the tag, and the plain names come back', () => {
    expect(keys.jobsQueue).toBe('jobs:queue');
    useHashTag(CLUSTER_HASH_TAG);
    expect(keys.jobsQueue).toBe('{meteorites}jobs:queue');
    expect(keys.meteorite('7')).toBe('{meteorites}meteorite:7');
    expect(keyPrefixes.meteorite).toBe('{meteorites}meteorite:');
    useHashTag(undefined);
    expect([keys.jobsQueue, keyPrefixes.job, keys.datasetLock]).toEqual(['jobs:queue', 'job:', 'dataset:lock']);
  });
});

describe('CLUSTER replies', () => {
  // As Redis 7.0 answers them (node ids shortened), on a cluster of three masters with a replica each.
  const shards = [
    [
      'slots',
      [5461, 10922],
      'nodes',
      [
        [
          'id',
          'a1',
          'port',
          45815,
          'ip',
          '127.0.0.1',
          'endpoint',
          '127.0.0.1',
          'role',
          'master',
          'replication-offset',
          0,
          'health',
          'online',
        ],
        [
          'id',
          'a2',
          'port',
          33367,
          'ip',
          '127.0.0.1',
          'endpoint',
          '127.0.0.1',
          'role',
          'replica',
          'replication-offset',
          0,
          'health',
          'online',
        ],
      ],
    ],
    [
      'slots',
      [0, 5460, 10923, 16383],
      'nodes',
      [
        ['id', 'b1', 'port', 44449, 'tls-port', 54449, 'ip', '10.0.0.4', 'endpoint', 'b1.example', 'role', 'master', 'health', 'online'],
        ['id', 'b2', 'port', 45911, 'ip', '10.0.0.5', 'endpoint', '?', 'role', 'replica', 'health', 'online'],
      ],
    ],
  ];

  it('CLUSTER SHARDS: the online master of the shard holding the slot, and every node named', () => {
    expect(parseClusterShards(shards, 6000, asked)).toEqual({
      master: { host: '127.0.0.1', port: 45815 },
      known: [
        { host: '127.0.0.1', port: 45815 },
        { host: '127.0.0.1', port: 33367 },
        { host: 'b1.example', port: 44449 },
        { host: 'seed.example', port: 45911 },
      ],
    });
    // A shard with two slot ranges; with TLS its master's TLS port.
    expect(parseClusterShards(shards, 16000, asked, true).master).toEqual({ host: 'b1.example', port: 54449 });
    expect(parseClusterShards(shards, 0, asked).master).toEqual({ host: 'b1.example', port: 44449 });
  });

  it('CLUSTER SHARDS: a failed master serves nothing (its replica not promoted yet), and is not asked again', () => {
    const failed = structuredClone(shards);
    const master = (failed[0]![3] as unknown[][])[0]!;
    master[master.indexOf('health') + 1] = 'failed';
    const answer = parseClusterShards(failed, 6000, asked);
    expect(answer.master).toBeUndefined();
    expect(answer.known).not.toContainEqual({ host: '127.0.0.1', port: 45815 });
  });

  it('CLUSTER SLOTS: the first node of the range holding the slot; an empty or null endpoint is the node asked', () => {
    const slots = [
      [0, 5460, ['127.0.0.1', 44449, 'b1', []], ['127.0.0.1', 45911, 'b2', []]],
      [5461, 10922, ['', 45815, 'a1', []]],
      [10923, 16383, [null, 38523, 'c1', []]],
    ];
    expect(parseClusterSlots(slots, 5460, asked).master).toEqual({ host: '127.0.0.1', port: 44449 });
    expect(parseClusterSlots(slots, 5461, asked).master).toEqual({ host: 'seed.example', port: 45815 });
    expect(parseClusterSlots(slots, 16383, asked)).toEqual({
      master: { host: 'seed.example', port: 38523 },
      known: [
        { host: '127.0.0.1', port: 44449 },
        { host: '127.0.0.1', port: 45911 },
        { host: 'seed.example', port: 45815 },
        { host: 'seed.example', port: 38523 },
      ],
    });
    expect(parseClusterSlots([], 0, asked).master).toBeUndefined();
  });

  it('a cluster none of whose nodes answers: every node named in the error', async () => {
    const [a, b] = [await freePort(), await freePort()];
    const target = clusterOf(loadConfig({ REDIS_CLUSTER_NODES: `127.0.0.1:${a},127.0.0.1:${b}` }))!;
    await expect(askCluster(target)).rejects.toThrow(
      new RegExp(`no cluster node named the master of slot ${target.slot} \\(127.0.0.1:${a}: .*; 127.0.0.1:${b}: `),
    );
  });
});

describe('cluster settings', () => {
  it('REDIS_URL gives only credentials and TLS; unset, the seeds alone do', () => {
    const c = loadConfig({ REDIS_CLUSTER_NODES: 'n-0.example:7000,10.0.0.2:7001' });
    expect(c.REDIS_URL).toBe('redis://cluster');
    expect(clusterOf(c)).toEqual({
      nodes: [
        { host: 'n-0.example', port: 7000 },
        { host: '10.0.0.2', port: 7001 },
      ],
      slot: slotOf(`{${CLUSTER_HASH_TAG}}`),
      username: undefined,
      password: undefined,
      tls: false,
    });
    const tls = clusterOf(loadConfig({ REDIS_CLUSTER_NODES: 'a:1', REDIS_URL: 'rediss://app:p%40ss@ignored:6380/0' }));
    expect(tls).toMatchObject({ username: 'app', password: 'p@ss', tls: true });
    expect(clusterOf(loadConfig({ REDIS_URL: 'redis://h' }))).toBeUndefined();
  });

  it('refuse a cluster with Sentinels, a database in REDIS_URL, and a malformed node list', () => {
    expect(() => loadConfig({ REDIS_CLUSTER_NODES: 'a:1', REDIS_SENTINELS: 's:26379', REDIS_SENTINEL_MASTER: 'm' })).toThrow(
      /REDIS_CLUSTER_NODES and REDIS_SENTINELS exclude each other/,
    );
    expect(() => loadConfig({ REDIS_CLUSTER_NODES: 'a:1', REDIS_URL: 'redis://:secret@h:6379/2' })).toThrow(ConfigError);
    expect(() => loadConfig({ REDIS_CLUSTER_NODES: 'a:1', REDIS_URL: 'redis://:secret@h:6379/2' })).toThrow(
      /:\*\*\*@h:6379\/2" names a database/,
    );
    expect(() => loadConfig({ REDIS_CLUSTER_NODES: 'a:1', REDIS_URL: 'redis://:secret@h:6379/2' })).not.toThrow(/secret/);
    expect(() => loadConfig({ REDIS_CLUSTER_NODES: 'a' })).toThrow(/REDIS_CLUSTER_NODES/);
    expect(() => loadConfig({ REDIS_CLUSTER_NODES: 'a:1,' })).toThrow(/REDIS_CLUSTER_NODES/);
  });
});
