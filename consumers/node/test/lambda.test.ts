/** Lambda mode against moto: the evaluator, kill switches, the freshness check, freeze and thaw. */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';

import middy from '@middy/core';

import {
  FeatureFlagEvaluator,
  FlagCache,
  Freshness,
  KillSwitchReader,
  freshnessMiddleware,
  withFreshness,
  type CachedEvaluation,
  type Evaluation,
} from '../src/index.js';
import { clientsFor, startMoto, type Clients, type Moto } from './support/moto.js';
import { startProxy, type FaultProxy } from './support/proxy.js';
import {
  createFlagTable,
  createMarksTable,
  putFlag,
  putFlagKillSwitch,
  putGlobalKillSwitch,
  putOverride,
  writeMark,
} from './support/tables.js';
import { waitFor } from './support/wait.js';

let moto: Moto;
let proxy: FaultProxy;
let aws: Clients;
/** Clients whose traffic goes through the proxy, so tests can see and hold requests. */
let watched: Clients;
let n = 0;
let flagTable: string;
let marksTable: string;
/** Bodies of the BatchGetItem requests seen by the proxy since the last reset. */
let batchGets: Array<{ RequestItems: Record<string, { ConsistentRead?: boolean; Keys: unknown[] }> }> = [];

before(async () => {
  moto = await startMoto();
  aws = clientsFor(moto.endpoint);
  proxy = await startProxy(moto.endpoint);
  watched = clientsFor(proxy.endpoint);
});

after(async () => {
  aws.destroy();
  watched.destroy();
  await proxy.close();
  await moto.stop();
});

beforeEach(async () => {
  n += 1;
  flagTable = `feature-flags-${n}`;
  marksTable = `marks-${n}`;
  await createFlagTable(aws.dynamodb, flagTable);
  await createMarksTable(aws.dynamodb, marksTable);
  batchGets = [];
  proxy.setHandler((request, forward) => {
    if (request.target === 'DynamoDB_20120810.BatchGetItem') batchGets.push(JSON.parse(request.body) as (typeof batchGets)[number]);
    return forward();
  });
});

/** One warm Lambda instance: its cache, freshness and evaluator on a clock the test moves. */
function instance(options: { marksTable?: string; log?: (e: Record<string, unknown>) => void } = {}) {
  const clock = { now: 1_700_000_000_000 };
  const cache = new FlagCache<CachedEvaluation>({ now: () => clock.now });
  const freshness = new Freshness({
    cache,
    dynamodb: watched.dynamodb,
    marksTable: options.marksTable ?? marksTable,
    checkIntervalMs: 1000,
    log: options.log ?? (() => undefined),
  });
  const evaluator = new FeatureFlagEvaluator({ dynamodb: watched.dynamodb, flagTable, cache, freshness, log: () => undefined });
  return { clock, cache, freshness, evaluator };
}

const timersAlive = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout' || r === 'Immediate');

describe('FeatureFlagEvaluator', () => {
  it('follows the documented order: global kill switch, flag kill switch, cache, override, default', async () => {
    const { evaluator } = instance();
    const ctx = { environment: 'prod', flagKey: 'checkout', tenantId: 'acme' };
    assert.deepEqual(await evaluator.evaluate(ctx), { enabled: false, source: 'missing' });
    await putFlag(aws.dynamodb, flagTable, 'prod', 'checkout', true);
    await putFlag(aws.dynamodb, flagTable, 'prod', 'search', true);
    await putOverride(aws.dynamodb, flagTable, 'prod', 'checkout', 'acme', false);
    const fresh = instance();
    assert.deepEqual(await fresh.evaluator.evaluate(ctx), { enabled: false, source: 'override' });
    assert.deepEqual(await fresh.evaluator.evaluate({ ...ctx, tenantId: 'other' }), { enabled: true, source: 'default' });
    assert.deepEqual(await fresh.evaluator.evaluate({ environment: 'prod', flagKey: 'checkout' }), { enabled: true, source: 'default' });
    assert.deepEqual(await fresh.evaluator.evaluate({ ...ctx, tenantId: 'other' }), { enabled: true, source: 'cache' });
    await putFlagKillSwitch(aws.dynamodb, flagTable, 'prod', 'checkout', true);
    assert.deepEqual(await fresh.evaluator.evaluate({ ...ctx, tenantId: 'other' }), { enabled: false, source: 'flag-kill-switch' });
    assert.deepEqual(await fresh.evaluator.evaluate({ ...ctx, flagKey: 'search' }), { enabled: true, source: 'default' });
    await putGlobalKillSwitch(aws.dynamodb, flagTable, 'prod', true);
    assert.deepEqual(await fresh.evaluator.evaluate({ ...ctx, flagKey: 'search' }), { enabled: false, source: 'global-kill-switch' });
    assert.equal(await fresh.evaluator.isEnabled({ environment: 'dev', flagKey: 'search' }), false);
    await assert.rejects(fresh.evaluator.evaluate({ environment: 'pr#od', flagKey: 'x' }), TypeError);
  });

  it('kill switches: read strongly consistent on every evaluation, obeyed at once with a warm cache', async () => {
    await putFlag(aws.dynamodb, flagTable, 'prod', 'checkout', true);
    const { evaluator } = instance();
    const ctx = { environment: 'prod', flagKey: 'checkout', tenantId: 'acme' };
    assert.deepEqual(await evaluator.evaluate(ctx), { enabled: true, source: 'default' });
    assert.deepEqual(await evaluator.evaluate(ctx), { enabled: true, source: 'cache' });
    await putFlagKillSwitch(aws.dynamodb, flagTable, 'prod', 'checkout', true);
    // No mark written, no interval passed: the kill switch alone must turn it off.
    assert.deepEqual(await evaluator.evaluate(ctx), { enabled: false, source: 'flag-kill-switch' });
    await putFlagKillSwitch(aws.dynamodb, flagTable, 'prod', 'checkout', false);
    assert.deepEqual(await evaluator.evaluate(ctx), { enabled: true, source: 'cache' });
    await putGlobalKillSwitch(aws.dynamodb, flagTable, 'prod', true);
    assert.deepEqual(await evaluator.evaluate(ctx), { enabled: false, source: 'global-kill-switch' });

    const flagReads = batchGets.filter((b) => flagTable in b.RequestItems).map((b) => b.RequestItems[flagTable]!);
    assert.equal(flagReads.length, 5, 'one flag-table request per evaluation');
    assert.ok(flagReads.every((r) => r.ConsistentRead === true), 'every flag-table read is strongly consistent');
    assert.deepEqual(
      flagReads.map((r) => r.Keys.length),
      [4, 2, 2, 2, 2],
      'kill switches always; override and flag item only on the miss',
    );
    assert.equal(evaluator.readsPerEvaluation(), 1);

    const reader = new KillSwitchReader({ dynamodb: watched.dynamodb, flagTable });
    assert.deepEqual(await reader.read('prod', 'checkout'), { global: true, flag: false });
    assert.equal(batchGets.at(-1)!.RequestItems[flagTable]!.ConsistentRead, true);
    assert.equal(batchGets.at(-1)!.RequestItems[flagTable]!.Keys.length, 2);
  });

  it('a change reaches a warm instance through its mark within one check interval', async () => {
    await putFlag(aws.dynamodb, flagTable, 'prod', 'checkout', true);
    const { clock, evaluator, freshness } = instance();
    const ctx = { environment: 'prod', flagKey: 'checkout', tenantId: 'acme' };
    assert.equal(await evaluator.isEnabled(ctx), true);
    await putFlag(aws.dynamodb, flagTable, 'prod', 'checkout', false);
    await writeMark(aws.dynamodb, marksTable, { mark: 'F#prod#checkout', item: 'METADATA', sequence: '200' });
    clock.now += 999;
    assert.deepEqual(await evaluator.evaluate(ctx), { enabled: true, source: 'cache' }, 'inside the interval: still cached');
    clock.now += 1;
    assert.deepEqual(await evaluator.evaluate(ctx), { enabled: false, source: 'default' });
    assert.equal(freshness.stats.marksChanged, 1);
    // Mark reads: one baseline for the first miss, one check after the interval.
    assert.equal(freshness.reader.stats.requests, 2);
    const markReads = batchGets.filter((b) => marksTable in b.RequestItems).map((b) => b.RequestItems[marksTable]!);
    assert.ok(markReads.every((r) => r.ConsistentRead === false), 'marks are read eventually consistent by default');
  });

  it('refill race: an invalidation arriving while the table read runs refuses the fill', async () => {
    await putFlag(aws.dynamodb, flagTable, 'prod', 'checkout', false);
    const { cache, evaluator } = instance();
    const ctx = { environment: 'prod', flagKey: 'checkout' };
    await evaluator.evaluate({ environment: 'prod', flagKey: 'warmup' }); // marks of prod known
    let release!: () => void;
    const released = new Promise<void>((ok) => (release = ok));
    let held = false;
    proxy.setHandler(async (request, forward) => {
      if (request.target !== 'DynamoDB_20120810.BatchGetItem' || !request.body.includes(flagTable)) return forward();
      const reply = await forward(); // the old item is read…
      held = true;
      await released; // …and its answer is slow to arrive
      return reply;
    });
    const slow = evaluator.evaluate(ctx);
    await waitFor(() => held, { what: 'the flag read to be held' });
    // Meanwhile the flag is switched on and its invalidation reaches the cache.
    await putFlag(aws.dynamodb, flagTable, 'prod', 'checkout', true);
    cache.apply({ scope: 'flag', environment: 'prod', flagKey: 'checkout', version: 300n });
    release();
    assert.deepEqual(await slow, { enabled: false, source: 'default' }, 'the read itself answered with what it saw');
    assert.equal(evaluator.stats.fillsRefused, 1);
    assert.equal(cache.get(ctx), undefined, 'but the old value was not cached');
    proxy.setHandler((_r, forward) => forward());
    assert.deepEqual(await evaluator.evaluate(ctx), { enabled: true, source: 'default' });
  });

  it('marks unreadable: keeps evaluating from the table, does not cache under unread marks, warns', async () => {
    await putFlag(aws.dynamodb, flagTable, 'prod', 'checkout', true);
    const warnings: Array<Record<string, unknown>> = [];
    const { evaluator, freshness, cache } = instance({ marksTable: 'no-such-marks-table', log: (e) => warnings.push(e) });
    const ctx = { environment: 'prod', flagKey: 'checkout' };
    assert.deepEqual(await evaluator.evaluate(ctx), { enabled: true, source: 'default' });
    assert.deepEqual(await evaluator.evaluate(ctx), { enabled: true, source: 'default' }, 'still read, not cached');
    assert.equal(cache.size, 0);
    assert.equal(evaluator.stats.fillsSkipped, 2);
    assert.equal(freshness.stats.markReadFailures, 1, 'retried at most once per interval');
    assert.equal(warnings[0]?.event, 'flagtrail.marks.unreadable');
  });

  it('flag table unreadable: the cached value if any, else false (design flow 5)', async () => {
    const errors: Array<Record<string, unknown>> = [];
    const evaluator = new FeatureFlagEvaluator({ dynamodb: aws.dynamodb, flagTable: 'no-such-table', log: (e) => errors.push(e) });
    assert.deepEqual(await evaluator.evaluate({ environment: 'prod', flagKey: 'x' }), { enabled: false, source: 'fallback' });
    evaluator.cache.fill(evaluator.cache.beginRead({ environment: 'prod', flagKey: 'y' }), { enabled: true, source: 'default' });
    assert.deepEqual(await evaluator.evaluate({ environment: 'prod', flagKey: 'y' }), { enabled: true, source: 'fallback' });
    assert.equal(evaluator.stats.fallbacks, 2);
    assert.equal(errors[0]?.event, 'flagtrail.flags.unreadable');
  });
});

describe('handlers: freeze and thaw', () => {
  it('leaves no timer behind; the first invocation after a thaw reads the marks; the TTL backstop uses the same clock', async () => {
    await putFlag(aws.dynamodb, flagTable, 'prod', 'checkout', true);
    const { clock, evaluator, freshness, cache } = instance();
    let checksAtEntry = -1;
    const handler = withFreshness(async (event: { tenantId: string }): Promise<Evaluation> => {
      checksAtEntry = freshness.stats.checks;
      return evaluator.evaluate({ environment: 'prod', flagKey: 'checkout', tenantId: event.tenantId });
    }, freshness);

    assert.deepEqual(await handler({ tenantId: 'acme' }, {}), { enabled: true, source: 'default' });
    assert.deepEqual(timersAlive(), [], 'nothing scheduled between invocations');

    // Frozen for 30 s; meanwhile the flag changes and notify raises its mark.
    await putFlag(aws.dynamodb, flagTable, 'prod', 'checkout', false);
    await writeMark(aws.dynamodb, marksTable, { mark: 'F#prod#checkout', item: 'METADATA', sequence: '11' });
    assert.deepEqual(timersAlive(), []);
    const checksBefore = freshness.stats.checks;
    clock.now += 30_000; // thaw
    assert.deepEqual(await handler({ tenantId: 'acme' }, {}), { enabled: false, source: 'default' });
    assert.equal(checksAtEntry, checksBefore + 1, 'the wrapper checked before the handler ran');
    assert.deepEqual(timersAlive(), []);

    // Frozen past the 300 s backstop: the entry is gone even if no mark ever moved.
    assert.deepEqual(await handler({ tenantId: 'acme' }, {}), { enabled: false, source: 'cache' });
    clock.now += 301_000;
    assert.equal(cache.get({ environment: 'prod', flagKey: 'checkout', tenantId: 'acme' }), undefined);
    assert.deepEqual(await handler({ tenantId: 'acme' }, {}), { enabled: false, source: 'default' });
    assert.deepEqual(timersAlive(), []);
  });

  it('the Middy middleware runs the check before the handler', async () => {
    await putFlag(aws.dynamodb, flagTable, 'prod', 'checkout', true);
    const { clock, evaluator, freshness } = instance();
    let checksAtEntry = -1;
    const handler = middy(async (event: { tenantId: string }) => {
      checksAtEntry = freshness.stats.checks;
      return evaluator.evaluate({ environment: 'prod', flagKey: 'checkout', tenantId: event.tenantId });
    }).use(freshnessMiddleware(freshness));
    const context = { getRemainingTimeInMillis: () => 30_000 } as never;
    assert.deepEqual(await handler({ tenantId: 'acme' }, context), { enabled: true, source: 'default' });
    await putFlag(aws.dynamodb, flagTable, 'prod', 'checkout', false);
    await writeMark(aws.dynamodb, marksTable, { mark: 'T#prod#acme', item: 'checkout', sequence: '5' });
    clock.now += 1000;
    const checks = freshness.stats.checks;
    assert.deepEqual(await handler({ tenantId: 'acme' }, context), { enabled: false, source: 'default' });
    assert.equal(checksAtEntry, checks + 1, 'the middleware checked before the handler ran');
    assert.deepEqual(timersAlive(), []);
  });
});
