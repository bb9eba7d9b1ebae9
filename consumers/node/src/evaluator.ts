/**
 * An example evaluator following the design documents' order: global kill switch, flag kill
 * switch (both strongly consistent, every call), cache, tenant override, flag default. All table
 * items an evaluation needs travel in one consistent BatchGetItem: the kill switches always, the
 * override and the flag item only on a cache miss.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';

import type { Item } from './batch-get.js';
import { FlagCache } from './cache.js';
import type { CacheKey } from './cache-key.js';
import { metadataKey, overrideKey, readBoolean, readFlagItems, type FlagItems } from './flag-table.js';
import type { Freshness, LogEntry } from './freshness.js';
import { killSwitchKeys, killSwitchState } from './killswitch.js';

/** What a flag is evaluated for. */
export interface EvaluationContext {
  /** Environment (never contains `#`). */
  readonly environment: string;
  /** Flag key. */
  readonly flagKey: string;
  /** Tenant, when the evaluation is per tenant (overrides apply). */
  readonly tenantId?: string | undefined;
}

/** Where a cached value came from. */
export type CachedSource = 'override' | 'default' | 'missing';

/** What the cache holds per key: the evaluation before kill switches. */
export interface CachedEvaluation {
  /** The flag's value for this key. */
  readonly enabled: boolean;
  /** Tenant override, flag default, or no flag item (false). */
  readonly source: CachedSource;
}

/** The result of one evaluation and what decided it. */
export interface Evaluation {
  /** Whether the flag is on. */
  readonly enabled: boolean;
  /** What decided it; `fallback` means the table could not be read (cached value, else false). */
  readonly source: 'global-kill-switch' | 'flag-kill-switch' | 'cache' | CachedSource | 'fallback';
}

/** Options of a FeatureFlagEvaluator. */
export interface FeatureFlagEvaluatorOptions {
  /** Client for the flag table. */
  readonly dynamodb: DynamoDBClient;
  /** The flag table (`feature-flags-{stage}`). */
  readonly flagTable: string;
  /** The per-instance cache (default: a new FlagCache with the 300 s backstop TTL). */
  readonly cache?: FlagCache<CachedEvaluation>;
  /** Lambda mode: the freshness check (its cache must be this cache). */
  readonly freshness?: Freshness;
  /** Where errors go (default: one JSON line on console.error). */
  readonly log?: (entry: LogEntry) => void;
}

/** Counters, so a benchmark can print table reads per evaluation. */
export interface EvaluatorStats {
  /** Evaluations run. */
  evaluations: number;
  /** Evaluations answered (kill switches aside) from the cache. */
  cacheHits: number;
  /** Evaluations that had to read the override/flag item. */
  cacheMisses: number;
  /** BatchGetItem requests to the flag table. */
  tableRequests: number;
  /** Items asked of the flag table (each a strongly consistent read). */
  itemsRequested: number;
  /** Fills refused because an invalidation arrived during the read. */
  fillsRefused: number;
  /** Reads not cached because the marks covering them could not be read. */
  fillsSkipped: number;
  /** Evaluations that fell back because the table could not be read. */
  fallbacks: number;
}

/** Evaluates flags against the flag table with a kill-switch-first, cache-second order. */
export class FeatureFlagEvaluator {
  /** Counters since creation. */
  readonly stats: EvaluatorStats = {
    evaluations: 0,
    cacheHits: 0,
    cacheMisses: 0,
    tableRequests: 0,
    itemsRequested: 0,
    fillsRefused: 0,
    fillsSkipped: 0,
    fallbacks: 0,
  };
  /** The cache (shared with the freshness check or the invalidation listener). */
  readonly cache: FlagCache<CachedEvaluation>;
  readonly #options: FeatureFlagEvaluatorOptions;
  readonly #log: (entry: LogEntry) => void;

  /** An evaluator of one flag table. */
  constructor(options: FeatureFlagEvaluatorOptions) {
    this.#options = options;
    this.cache = options.cache ?? new FlagCache<CachedEvaluation>();
    this.#log = options.log ?? ((entry) => console.error(JSON.stringify(entry)));
  }

  /** Whether the flag is on for this context. */
  async isEnabled(context: EvaluationContext): Promise<boolean> {
    return (await this.evaluate(context)).enabled;
  }

  /** Evaluates the flag and says what decided it. */
  async evaluate(context: EvaluationContext): Promise<Evaluation> {
    const key = cacheKeyOf(context);
    const { environment, flagKey, tenantId } = key;
    this.stats.evaluations += 1;
    const freshness = this.#options.freshness;
    // Cheap inside the interval; covers handlers not wrapped with withFreshness.
    await freshness?.check();
    const cached = this.cache.get(key, { maxAgeMs: freshness?.maxAgeMs() });
    const keys: Item[] = killSwitchKeys(environment, flagKey);
    let admitted = false;
    if (cached === undefined) {
      this.stats.cacheMisses += 1;
      admitted = freshness === undefined ? true : await freshness.admit(key);
      keys.push(metadataKey(environment, flagKey));
      if (tenantId !== undefined) keys.push(overrideKey(environment, flagKey, tenantId));
    } else {
      this.stats.cacheHits += 1;
    }
    // Taken before the read: an invalidation arriving while it runs makes the fill refused.
    const ticket = this.cache.beginRead(key);
    let items: FlagItems;
    this.stats.itemsRequested += keys.length;
    try {
      items = await readFlagItems(this.#options.dynamodb, this.#options.flagTable, keys);
    } catch (err) {
      // Design flow 5: log, serve the cached value if there is one, else the safe side (false).
      this.stats.tableRequests += 1;
      this.stats.fallbacks += 1;
      this.#log({
        level: 'error',
        event: 'flagtrail.flags.unreadable',
        message: cached === undefined ? 'flag table unreadable; used fallback false' : 'flag table unreadable; used cached value',
        flagTable: this.#options.flagTable,
        environment,
        flagKey,
        error: err instanceof Error ? `${err.name}: ${err.message}` : String(err),
      });
      return { enabled: cached?.enabled ?? false, source: 'fallback' };
    }
    this.stats.tableRequests += items.requests;
    let value = cached;
    if (value === undefined) {
      value = resolve(items, key);
      if (!admitted) this.stats.fillsSkipped += 1;
      else if (!this.cache.fill(ticket, value)) this.stats.fillsRefused += 1;
    }
    const switches = killSwitchState(items, environment, flagKey);
    if (switches.global) return { enabled: false, source: 'global-kill-switch' };
    if (switches.flag) return { enabled: false, source: 'flag-kill-switch' };
    return cached !== undefined ? { enabled: cached.enabled, source: 'cache' } : value;
  }

  /** Flag-table requests per evaluation so far (mark reads are in `freshness.reader.stats`). */
  readsPerEvaluation(): number {
    return this.stats.evaluations === 0 ? 0 : this.stats.tableRequests / this.stats.evaluations;
  }
}

/** Tenant override first, then the flag's default; no flag item evaluates to false. */
function resolve(items: FlagItems, key: CacheKey): CachedEvaluation {
  if (key.tenantId !== undefined) {
    const override = items.get(overrideKey(key.environment, key.flagKey, key.tenantId));
    const enabled = readBoolean(override?.enabled);
    if (enabled !== undefined) return { enabled, source: 'override' };
  }
  const flag = items.get(metadataKey(key.environment, key.flagKey));
  if (flag === undefined) return { enabled: false, source: 'missing' };
  return { enabled: readBoolean(flag.defaultEnabled) ?? false, source: 'default' };
}

function cacheKeyOf(context: EvaluationContext): CacheKey {
  const { environment, flagKey, tenantId } = context;
  // Marks and table keys are built by concatenation: an environment with `#` would alias another.
  if (environment === '' || environment.includes('#')) throw new TypeError(`invalid environment ${JSON.stringify(environment)}`);
  if (flagKey === '') throw new TypeError('flagKey must not be empty');
  if (tenantId === '') throw new TypeError('tenantId must not be empty (omit it instead)');
  return tenantId === undefined ? { environment, flagKey } : { environment, flagKey, tenantId };
}
