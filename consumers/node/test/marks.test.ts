/** Freshness marks against moto: the reader, counters going up and down, first sight, failures. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { DeleteTableCommand, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';

import { FlagCache, Freshness, MarkReader, UnprocessedKeysError, type CacheKey, type Invalidatable } from '../src/index.js';
import { motoPerFile, type Clients } from './support/moto.js';
import { proxyPerSuite } from './support/proxy.js';
import { createMarksTable, writeMark } from './support/tables.js';

const env = motoPerFile();
let tableSeq = 0;


async function marksTable(): Promise<string> {
  const name = `marks-${++tableSeq}`;
  await createMarksTable(env.aws.dynamodb, name);
  return name;
}

/** A cache and its freshness on a clock the test moves. */
function lambdaInstance(
  table: string,
  extra: { log?: (e: Record<string, unknown>) => void; dynamodb?: Clients['dynamodb']; lowerCounter?: 'drop' | 'ignore' } = {},
) {
  const clock = { now: 1_000_000 };
  const cache = new FlagCache<string>({ now: () => clock.now });
  const freshness = new Freshness({
    cache,
    dynamodb: extra.dynamodb ?? env.aws.dynamodb,
    marksTable: table,
    checkIntervalMs: 1000,
    log: extra.log ?? (() => undefined),
    ...(extra.lowerCounter !== undefined && { lowerCounter: extra.lowerCounter }),
  });
  /** What an evaluator does on a miss: baseline the marks, then read and fill. */
  const fill = async (key: CacheKey, value: string): Promise<boolean> => {
    assert.ok(await freshness.admit(key), 'marks readable');
    return cache.fill(cache.beginRead(key), value);
  };
  return { clock, cache, freshness, fill };
}

const k = (flagKey: string, tenantId?: string, environment = 'prod'): CacheKey =>
  tenantId === undefined ? { environment, flagKey } : { environment, flagKey, tenantId };

const cachedKeys = (cache: Invalidatable) =>
  cache
    .keys()
    .map((key) => `${key.environment}/${key.flagKey}/${key.tenantId ?? '-'}`)
    .sort();

async function counter(table: string, mark: string): Promise<string | undefined> {
  const out = await env.aws.dynamodb.send(new GetItemCommand({ TableName: table, Key: { mark: { S: mark } }, ConsistentRead: true }));
  return out.Item?.n?.N;
}

describe('the mark writer (docs/freshness.md UpdateItem, as notify runs it)', () => {
  it('counts each applied invalidation once; redelivered or older changes of the item change nothing', async () => {
    const table = await marksTable();
    const forty = '1234567890123456789012345678901234567890';
    const thirtyNine = '999999999999999999999999999999999999999';
    assert.equal(await writeMark(env.aws.dynamodb, table, { mark: 'F#prod#a', item: 'METADATA', sequence: thirtyNine }), true);
    assert.equal(await writeMark(env.aws.dynamodb, table, { mark: 'F#prod#a', item: 'METADATA', sequence: forty }), true);
    assert.equal(await writeMark(env.aws.dynamodb, table, { mark: 'F#prod#a', item: 'METADATA', sequence: forty }), false, 'redelivered');
    assert.equal(await writeMark(env.aws.dynamodb, table, { mark: 'F#prod#a', item: 'METADATA', sequence: thirtyNine }), false, 'older (39 digits < 40)');
    assert.equal(await counter(table, 'F#prod#a'), '2');
    // Per item: the kill switch's lower sequence number still counts under the same mark.
    assert.equal(await writeMark(env.aws.dynamodb, table, { mark: 'F#prod#a', item: 'KILLSWITCH', sequence: '5' }), true);
    assert.equal(await counter(table, 'F#prod#a'), '3');
  });
});

describe('MarkReader', () => {
  it('reads n as BigInt, absent marks as 0, only mark and n projected', async () => {
    const table = await marksTable();
    await env.aws.dynamodb.send(
      new PutItemCommand({ TableName: table, Item: { mark: { S: 'E#prod' }, n: { N: '12345678901234567890123456789012345678' } } }),
    );
    const reader = new MarkReader({ dynamodb: env.aws.dynamodb, table });
    const counters = await reader.read(['E#prod', 'F#prod#nothing', 'E#prod']);
    assert.deepEqual([...counters], [
      ['E#prod', 12345678901234567890123456789012345678n],
      ['F#prod#nothing', 0n],
    ]);
    assert.deepEqual(reader.stats, { reads: 1, requests: 1, marksRequested: 2 });
  });

  it('cuts more than 100 marks into requests of 100 (one logical read)', async () => {
    const table = await marksTable();
    const marks = Array.from({ length: 250 }, (_, i) => `T#prod#t${i}`);
    await writeMark(env.aws.dynamodb, table, { mark: 'T#prod#t249', item: 'f', sequence: '1' });
    const reader = new MarkReader({ dynamodb: env.aws.dynamodb, table });
    const counters = await reader.read(marks);
    assert.equal(counters.size, 250);
    assert.equal(counters.get('T#prod#t249'), 1n);
    assert.equal(reader.stats.requests, 3);
  });

  describe('behind a proxy that leaves keys unprocessed', () => {
    const through = proxyPerSuite(() => env.moto.endpoint);

    it('retries UnprocessedKeys within the call', async () => {
      const table = await marksTable();
      for (const m of ['E#prod', 'F#prod#a', 'T#prod#x']) await writeMark(env.aws.dynamodb, table, { mark: m, item: 'i', sequence: '1' });
      let batchGets = 0;
      through.proxy.setHandler(async (request, forward) => {
        if (request.target !== 'DynamoDB_20120810.BatchGetItem') return forward();
        batchGets += 1;
        const reply = await forward();
        if (batchGets > 2) return reply;
        // Throttled part of a batch: DynamoDB moves found items' keys to UnprocessedKeys (HTTP 200).
        const body = JSON.parse(reply.body) as { Responses: Record<string, Array<Record<string, { S?: string }>>>; UnprocessedKeys: Record<string, unknown> };
        const [name, items] = Object.entries(body.Responses)[0]!;
        const held = items.splice(0, 1);
        body.UnprocessedKeys = { [name]: { Keys: held.map((item) => ({ mark: item.mark })), ProjectionExpression: '#m, #n', ExpressionAttributeNames: { '#m': 'mark', '#n': 'n' } } };
        return { ...reply, body: JSON.stringify(body) };
      });
      const reader = new MarkReader({ dynamodb: through.clients.dynamodb, table, backoffMs: 1 });
      const counters = await reader.read(['E#prod', 'F#prod#a', 'T#prod#x']);
      assert.deepEqual([...counters.values()], [1n, 1n, 1n]);
      assert.equal(batchGets, 3, 'first request + two retries of the unprocessed key');
      assert.equal(reader.stats.requests, 3);

      // Keys that stay unprocessed make the read fail rather than silently report 0.
      through.proxy.setHandler(async (request, forward) => {
        if (request.target !== 'DynamoDB_20120810.BatchGetItem') return forward();
        const keys = (JSON.parse(request.body) as { RequestItems: Record<string, { Keys: unknown[] }> }).RequestItems[table]!.Keys;
        return { status: 200, headers: { 'content-type': 'application/x-amz-json-1.0' }, body: JSON.stringify({ Responses: { [table]: [] }, UnprocessedKeys: { [table]: { Keys: keys } } }) };
      });
      await assert.rejects(new MarkReader({ dynamodb: through.clients.dynamodb, table, backoffMs: 1, maxRounds: 3 }).read(['E#prod']), UnprocessedKeysError);
      through.proxy.setHandler((_r, forward) => forward());
    });
  });
});

describe('Freshness (Lambda mode) against the marks table', () => {
  it('a counter that goes up drops what its mark covers, by scope; an unchanged one drops nothing', async () => {
    const table = await marksTable();
    const { clock, cache, freshness, fill } = lambdaInstance(table);
    await writeMark(env.aws.dynamodb, table, { mark: 'F#prod#a', item: 'METADATA', sequence: '100' });
    await freshness.check(); // the cold start's invocation: nothing cached, nothing to read
    assert.equal(freshness.reader.stats.requests, 0);
    for (const key of [k('a', 'x'), k('b', 'x'), k('a', 'y'), k('a')]) assert.ok(await fill(key, 'v'));

    await writeMark(env.aws.dynamodb, table, { mark: 'F#prod#a', item: 'METADATA', sequence: '101' });
    await freshness.check();
    assert.equal(cache.size, 4, 'inside the interval nothing is read');
    clock.now += 1000;
    await freshness.check();
    assert.deepEqual(cachedKeys(cache), ['prod/b/x']);
    assert.equal(freshness.stats.marksChanged, 1);
    assert.equal(freshness.stats.entriesDropped, 3);

    for (const key of [k('a', 'x'), k('a')]) assert.ok(await fill(key, 'v'));
    clock.now += 1000;
    await freshness.check();
    assert.equal(cache.size, 3, 'counters unchanged: nothing dropped');
    await writeMark(env.aws.dynamodb, table, { mark: 'T#prod#x', item: 'b', sequence: '7' });
    clock.now += 1000;
    await freshness.check();
    assert.deepEqual(cachedKeys(cache), ['prod/a/-'], 'the tenant mark covers every flag of the tenant');
    await writeMark(env.aws.dynamodb, table, { mark: 'E#prod', item: 'GLOBAL', sequence: '9' });
    clock.now += 1000;
    await freshness.check();
    assert.equal(cache.size, 0, 'the environment mark covers everything');
  });

  it('a counter that goes down: a change by default (re-created marks table), ignored with lowerCounter "ignore"', async () => {
    const table = await marksTable();
    for (const seq of ['1', '2', '3']) await writeMark(env.aws.dynamodb, table, { mark: 'F#prod#a', item: 'METADATA', sequence: seq });
    const byDefault = lambdaInstance(table);
    const ignoring = lambdaInstance(table, { lowerCounter: 'ignore' });
    for (const inst of [byDefault, ignoring]) {
      await inst.freshness.check();
      assert.ok(await inst.fill(k('a'), 'v')); // baseline n = 3
    }
    // The marks table is re-created (or restored): counters restart, and a new change makes n = 1.
    await env.aws.dynamodb.send(new DeleteTableCommand({ TableName: table }));
    await createMarksTable(env.aws.dynamodb, table);
    await writeMark(env.aws.dynamodb, table, { mark: 'F#prod#a', item: 'METADATA', sequence: '4' });
    for (const inst of [byDefault, ignoring]) {
      inst.clock.now += 1000;
      await inst.freshness.check();
      assert.equal(inst.freshness.stats.marksLowered, 1);
    }
    assert.equal(byDefault.cache.size, 0, 'default: the moved counter drops the entry');
    assert.equal(ignoring.cache.size, 1, 'ignore: kept (stale until the counter passes 3 or the TTL ends)');

    // A lagging replica answering a lower value costs the default mode a refill, nothing more.
    assert.ok(await byDefault.fill(k('a'), 'v'));
    await env.aws.dynamodb.send(new PutItemCommand({ TableName: table, Item: { mark: { S: 'F#prod#a' }, n: { N: '0' } } }));
    byDefault.clock.now += 1000;
    await byDefault.freshness.check();
    assert.equal(byDefault.cache.size, 0);
    assert.ok(await byDefault.fill(k('a'), 'v'));
    await env.aws.dynamodb.send(new PutItemCommand({ TableName: table, Item: { mark: { S: 'F#prod#a' }, n: { N: '1' } } }));
    byDefault.clock.now += 1000;
    await byDefault.freshness.check();
    assert.equal(byDefault.cache.size, 0, 'back to the newer value: moved again');
  });

  it('one BatchGetItem per interval, cut in requests of 100 marks, whatever the number of cached entries', async () => {
    const table = await marksTable();
    const { clock, cache, freshness, fill } = lambdaInstance(table);
    await freshness.check();
    for (let t = 0; t < 150; t++) assert.ok(await fill(k('a', `t${t}`), 'v'));
    const before = freshness.reader.stats.requests;
    await writeMark(env.aws.dynamodb, table, { mark: 'T#prod#t140', item: 'a', sequence: '1' });
    for (let i = 0; i < 5; i++) await freshness.check(); // same instant: one read at most
    clock.now += 1000;
    for (let i = 0; i < 5; i++) await freshness.check();
    // 152 marks (E#prod, F#prod#a, 150 tenants) → 2 requests, once.
    assert.equal(freshness.reader.stats.requests - before, 2);
    assert.equal(freshness.stats.checks, 1);
    assert.equal(cache.size, 149);
    assert.equal(cache.get(k('a', 't140')), undefined);
  });

  it('unknown marks: admit reads a baseline before a fill; entries filled without one are dropped on first sight', async () => {
    const table = await marksTable();
    await writeMark(env.aws.dynamodb, table, { mark: 'F#prod#a', item: 'METADATA', sequence: '1' });
    await writeMark(env.aws.dynamodb, table, { mark: 'F#prod#a', item: 'METADATA', sequence: '2' });
    const { clock, cache, freshness } = lambdaInstance(table);
    // Admitted: the baseline (n = 2) is read first, so the entry survives the next check.
    assert.ok(await freshness.admit(k('a', 'x')));
    assert.equal(freshness.stats.admits, 1);
    assert.ok(await freshness.admit(k('a', 'x')), 'known marks: no read');
    assert.equal(freshness.stats.admits, 1);
    assert.ok(cache.fill(cache.beginRead(k('a', 'x')), 'admitted'));
    // Not admitted (filled straight into the cache): its marks were never read before the fill.
    assert.ok(cache.fill(cache.beginRead(k('b', 'y')), 'unadmitted'));
    clock.now += 1000;
    await freshness.check();
    assert.deepEqual(cachedKeys(cache), ['prod/a/x']);
  });

  it('a raised mark refuses a fill whose table read was in flight', async () => {
    const table = await marksTable();
    const { clock, cache, freshness, fill } = lambdaInstance(table);
    assert.ok(await fill(k('a'), 'old'));
    assert.ok(await freshness.admit(k('a', 'x')));
    const slowRead = cache.beginRead(k('a', 'x'));
    await writeMark(env.aws.dynamodb, table, { mark: 'F#prod#a', item: 'METADATA', sequence: '3' });
    clock.now += 1000;
    await freshness.check(); // another evaluation's check sees the mark while the read runs
    assert.equal(cache.fill(slowRead, 'old'), false);
    assert.equal(cache.size, 0);
  });

  it('marks unreadable: keeps serving with the TTL capped, counts, logs a JSON warning, recovers', async (t) => {
    const table = `marks-missing-${++tableSeq}`; // not created yet: every read fails
    const warn = t.mock.method(console, 'warn', () => undefined);
    const info = t.mock.method(console, 'info', () => undefined);
    const clock = { now: 5_000_000 };
    const cache = new FlagCache<string>({ now: () => clock.now });
    const freshness = new Freshness({ cache, dynamodb: env.aws.dynamodb, marksTable: table, degradedTtlMs: 5000 });
    // Filled while readable would be the normal case; here the entry predates the outage.
    cache.fill(cache.beginRead(k('a')), 'v');
    await freshness.check();
    assert.equal(freshness.degraded, true);
    assert.equal(freshness.stats.markReadFailures, 1);
    assert.equal(freshness.maxAgeMs(), 5000);
    assert.equal(await freshness.admit(k('b')), false, 'within the interval after a failure: not even tried');
    assert.equal(freshness.stats.markReadFailures, 1);
    assert.equal(cache.get(k('a'), { maxAgeMs: freshness.maxAgeMs() }), 'v', 'young entries still served');
    clock.now += 5001;
    assert.equal(cache.get(k('a'), { maxAgeMs: freshness.maxAgeMs() }), undefined, 'older than the cap: not served');
    assert.equal(await freshness.admit(k('b')), false, 'tried, failed: the caller serves its read uncached');
    assert.equal(freshness.stats.markReadFailures, 2);

    assert.equal(warn.mock.callCount(), 2);
    const line = JSON.parse(String(warn.mock.calls[0]!.arguments[0])) as Record<string, unknown>;
    assert.equal(line.level, 'warn');
    assert.equal(line.event, 'flagtrail.marks.unreadable');
    assert.equal(line.marksTable, table);
    assert.equal(line.cappedTtlMs, 5000);
    assert.equal(line.markReadFailures, 1);
    assert.match(String(line.error), /ResourceNotFound/);

    await createMarksTable(env.aws.dynamodb, table);
    cache.fill(cache.beginRead(k('c')), 'v');
    clock.now += 1000;
    await freshness.check();
    assert.equal(freshness.degraded, false);
    assert.equal(freshness.maxAgeMs(), undefined);
    assert.equal(warn.mock.callCount(), 2, 'no new warning');
    const recovered = JSON.parse(String(info.mock.calls.at(-1)!.arguments[0])) as Record<string, unknown>;
    assert.equal(recovered.event, 'flagtrail.marks.recovered');
  });
});
