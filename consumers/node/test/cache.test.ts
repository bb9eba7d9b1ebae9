import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { FlagCache, marksCovering, parseMark, type CacheKey, type Invalidation } from '../src/index.js';

const key = (flagKey: string, tenantId?: string, environment = 'prod'): CacheKey =>
  tenantId === undefined ? { environment, flagKey } : { environment, flagKey, tenantId };

const inv = (scope: Invalidation['scope'], version: string | bigint, flagKey?: string, tenantId?: string, environment = 'prod'): Invalidation => ({
  scope,
  environment,
  version: BigInt(version),
  ...(flagKey !== undefined && { flagKey }),
  ...(tenantId !== undefined && { tenantId }),
});

function filled<V>(cache: FlagCache<V>, k: CacheKey, v: V): void {
  assert.ok(cache.fill(cache.beginRead(k), v));
}

describe('FlagCache', () => {
  it('a slow read that began before an invalidation cannot put the old value back', () => {
    const cache = new FlagCache<string>();
    const k = key('checkout', 'acme');
    const slowRead = cache.beginRead(k); // reads "off" from the table…
    // …meanwhile the flag is switched on and its invalidation arrives.
    assert.deepEqual(cache.apply(inv('flag', '200', 'checkout')), { kind: 'invalidated', dropped: 0 });
    assert.equal(cache.fill(slowRead, 'off'), false, 'the stale value is refused');
    assert.equal(cache.get(k), undefined);
    assert.equal(cache.stats.fillsRefused, 1);
    const fresh = cache.beginRead(k);
    assert.ok(cache.fill(fresh, 'on'));
    assert.equal(cache.get(k), 'on');
  });

  it('an unrelated invalidation does not refuse a fill', () => {
    const cache = new FlagCache<number>();
    const ticket = cache.beginRead(key('a', 'x'));
    cache.apply(inv('flag', '5', 'b'));
    cache.apply(inv('tenant', '6', 'a', 'y'));
    cache.apply(inv('environment', '7', undefined, undefined, 'dev'));
    cache.invalidateMark('T#prod#y');
    assert.ok(cache.fill(ticket, 1));
  });

  it('applies by scope and per-key version: duplicates and reordered messages are ignored', () => {
    const cache = new FlagCache<number>();
    for (const [f, t] of [['a', 'x'], ['a', 'y'], ['a', undefined], ['b', undefined]] as const) filled(cache, key(f, t), 1);
    assert.deepEqual(cache.apply(inv('tenant', '10', 'a', 'x')), { kind: 'invalidated', dropped: 1 });
    assert.deepEqual(cache.apply(inv('tenant', '10', 'a', 'x')), { kind: 'stale' }, 'redelivered');
    assert.deepEqual(cache.apply(inv('tenant', '9', 'a', 'x')), { kind: 'stale' }, 'reordered');
    assert.deepEqual(cache.apply(inv('flag', '11', 'a')), { kind: 'invalidated', dropped: 2 });
    assert.equal(cache.get(key('b')), 1);
    // Versions are per key: a lower number for another key still applies.
    filled(cache, key('a', 'y'), 2);
    assert.deepEqual(cache.apply(inv('tenant', '3', 'a', 'y')), { kind: 'invalidated', dropped: 1 });
    assert.equal(cache.stats.stale, 2);
  });

  it('compares 40-digit versions numerically, not lexically or through Number', () => {
    const cache = new FlagCache<number>();
    filled(cache, key('a'), 1);
    assert.deepEqual(cache.apply(inv('environment', '1234567890123456789012345678901234567890')), { kind: 'invalidated', dropped: 1 });
    filled(cache, key('a'), 2);
    assert.deepEqual(cache.apply(inv('environment', '999999999999999999999999999999999999999')), { kind: 'stale' }, '39 nines are lower');
    assert.deepEqual(cache.apply(inv('environment', '1234567890123456789012345678901234567889')), { kind: 'stale' }, 'one less');
    assert.deepEqual(cache.apply(inv('environment', '1234567890123456789012345678901234567891')), { kind: 'invalidated', dropped: 1 }, 'one more');
  });

  it('marks: E# covers the environment, F# the flag, T# every flag of the tenant', () => {
    const cache = new FlagCache<number>();
    const keys = [key('a', 'x'), key('b', 'x'), key('a', 'y'), key('a'), key('a', 'x', 'dev')];
    for (const k of keys) filled(cache, k, 1);
    assert.equal(cache.invalidateMark('T#prod#x'), 2);
    assert.deepEqual(cache.keys().map((k) => [k.environment, k.flagKey, k.tenantId]).sort(), [
      ['dev', 'a', 'x'],
      ['prod', 'a', 'y'],
      ['prod', 'a', undefined],
    ].sort());
    assert.equal(cache.invalidateMark('F#prod#a'), 2);
    assert.equal(cache.invalidateMark('E#dev'), 1);
    assert.equal(cache.size, 0);
    assert.throws(() => cache.invalidateMark('X#prod'), TypeError);
  });

  it('marks: a flag key containing # is covered by its own mark only', () => {
    const cache = new FlagCache<number>();
    filled(cache, key('a#b'), 1);
    filled(cache, key('a'), 1);
    assert.equal(cache.invalidateMark('F#prod#a#b'), 1);
    assert.equal(cache.get(key('a')), 1);
  });

  it('marks refuse a fill whose read began before the mark was applied', () => {
    const cache = new FlagCache<number>();
    const ticket = cache.beginRead(key('a', 'x'));
    cache.invalidateMark('T#prod#x');
    assert.equal(cache.fill(ticket, 1), false);
  });

  it('flush drops everything and refuses every read in flight', () => {
    const cache = new FlagCache<number>();
    filled(cache, key('a'), 1);
    const inFlight = cache.beginRead(key('z', 'q', 'dev'));
    cache.flush();
    assert.equal(cache.size, 0);
    assert.equal(cache.fill(inFlight, 1), false);
    assert.ok(cache.fill(cache.beginRead(key('z', 'q', 'dev')), 2));
    // Versions survive a flush: a redelivered message is still recognised.
    cache.apply(inv('flag', '5', 'a'));
    cache.flush();
    assert.deepEqual(cache.apply(inv('flag', '5', 'a')), { kind: 'stale' });
  });

  it('the TTL is a backstop on the injected clock, and maxAgeMs caps it', () => {
    let now = 1_000_000;
    const cache = new FlagCache<number>({ ttlMs: 60_000, now: () => now });
    filled(cache, key('a'), 7);
    now += 59_999;
    assert.equal(cache.get(key('a')), 7);
    assert.equal(cache.get(key('a'), { maxAgeMs: 5_000 }), undefined, 'older than the cap');
    filled(cache, key('a'), 8);
    now += 60_000;
    assert.equal(cache.get(key('a')), undefined, 'expired');
  });

  it('a bounded ledger stays safe: forgetting a key refuses the reads that began before it', () => {
    const cache = new FlagCache<number>({ maxInvalidationKeys: 2 });
    const ticket = cache.beginRead(key('a'));
    cache.apply(inv('flag', '1', 'a'));
    cache.apply(inv('flag', '1', 'b'));
    cache.apply(inv('flag', '1', 'c')); // evicts the record of flag a
    assert.equal(cache.fill(ticket, 1), false);
    assert.ok(cache.fill(cache.beginRead(key('a')), 1));
  });
});

describe('mark keys', () => {
  it('cover a key broadest first; a mark longer than a partition key is left to E# (notify folds it there)', () => {
    assert.deepEqual(marksCovering(key('a', 'x')), ['E#prod', 'F#prod#a', 'T#prod#x']);
    assert.deepEqual(marksCovering(key('a')), ['E#prod', 'F#prod#a']);
    const long = 'é'.repeat(1100); // 2200 UTF-8 bytes
    assert.deepEqual(marksCovering(key(long, 'x')), ['E#prod', 'T#prod#x']);
    assert.deepEqual(parseMark('F#prod#a#b'), { kind: 'flag', environment: 'prod', flagKey: 'a#b' });
    assert.deepEqual(parseMark('T#prod#x'), { kind: 'tenant', environment: 'prod', tenantId: 'x' });
    assert.deepEqual(parseMark('E#prod'), { kind: 'environment', environment: 'prod' });
    for (const bad of ['E#', 'E#a#b', 'F#prod', 'F##a', 'T#prod#', 'X#prod#a', '']) assert.equal(parseMark(bad), undefined, bad);
  });
});
