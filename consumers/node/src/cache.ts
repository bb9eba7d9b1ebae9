/**
 * The per-instance cache of flag evaluations, kept fresh by invalidations (messages or marks).
 * Its TTL is only a backstop for an invalidation that never arrives; freshness comes from
 * invalidations. Port of the Rust reference `flagtrail_core::cache::FlagCache`, including its
 * refill race guard: a slow table read that began before an invalidation cannot put the old
 * value back for a whole TTL.
 */
import { LRUCache } from 'lru-cache';

import { entryId, invalidationCovers, scopeIdOf, scopeIdsCovering, type CacheKey } from './cache-key.js';
import { InvalidationLedger } from './ledger.js';
import { markCovers, marksCovering, parseMark } from './marks.js';
import type { Invalidation } from './message.js';

/** Options of a FlagCache. */
export interface FlagCacheOptions {
  /** Backstop TTL of an entry in ms (default 300 000: the design's 5 minutes). */
  readonly ttlMs?: number;
  /** Most entries kept; the least recently used go first (default 10 000). */
  readonly maxEntries?: number;
  /** Most invalidation keys remembered for versions and the race guard (default 100 000). */
  readonly maxInvalidationKeys?: number;
  /** Clock in ms. Default Date.now: wall time is what moves across a Lambda freeze. */
  readonly now?: () => number;
}

/** Taken before reading the table; a fill with it is refused if the key was invalidated since. */
export interface ReadTicket {
  /** The key being read. */
  readonly key: CacheKey;
  /** The cache's invalidation epoch when the read began. */
  readonly epoch: number;
}

/** What applying an invalidation did. */
export type Applied =
  | { readonly kind: 'invalidated'; readonly dropped: number }
  | { readonly kind: 'stale' };

/** Counters for logs, metrics and tests. */
export interface FlagCacheStats {
  /** Fills refused by the race guard. */
  fillsRefused: number;
  /** Invalidation messages applied. */
  applied: number;
  /** Invalidation messages ignored as duplicates or older than one applied. */
  stale: number;
  /** Marks applied (entries covered by a raised counter dropped). */
  marksApplied: number;
  /** Whole-cache flushes. */
  flushes: number;
}

/** Options of `get`. */
export interface GetOptions {
  /** Treat entries older than this (ms) as absent: the capped TTL while marks cannot be read. */
  readonly maxAgeMs?: number | undefined;
}

/** What a freshness check or a listener needs of a cache, whatever its values' type. */
export interface Invalidatable {
  /** The cache's clock in ms. */
  readonly now: () => number;
  /** Keys of the live entries. */
  keys(): CacheKey[];
  /** Applies one invalidation message. */
  apply(inv: Invalidation): Applied;
  /** Drops what a mark covers. */
  invalidateMark(mark: string): number;
  /** Drops everything. */
  flush(): void;
}

interface Entry<V> {
  readonly key: CacheKey;
  readonly value: V;
  readonly filledAt: number;
}

/** A TTL cache of flag evaluations, invalidated by scope, by mark, or wholesale. */
export class FlagCache<V> implements Invalidatable {
  /** Counters since creation. */
  readonly stats: FlagCacheStats = { fillsRefused: 0, applied: 0, stale: 0, marksApplied: 0, flushes: 0 };
  /** The cache's clock (ms), shared with the freshness check so tests can move one time. */
  readonly now: () => number;
  readonly #entries: LRUCache<string, Entry<V>>;
  readonly #ledger: InvalidationLedger;
  readonly #ttlMs: number;
  #epoch = 0;

  /** An empty cache. */
  constructor(options: FlagCacheOptions = {}) {
    this.now = options.now ?? Date.now;
    const now = this.now;
    this.#ttlMs = options.ttlMs ?? 300_000;
    this.#entries = new LRUCache<string, Entry<V>>({
      max: options.maxEntries ?? 10_000,
      ttl: this.#ttlMs,
      // Our clock, and ttlResolution 0: lru-cache otherwise arms a timer on every read to cache
      // performance.now(), and a frozen Lambda must be left with no timers of ours.
      perf: { now },
      ttlResolution: 0,
      ttlAutopurge: false,
    });
    this.#ledger = new InvalidationLedger(options.maxInvalidationKeys ?? 100_000);
  }

  /** The cached value, if present, within the TTL and within `maxAgeMs` when given. */
  get(key: CacheKey, options: GetOptions = {}): V | undefined {
    const id = entryId(key);
    const entry = this.#entries.get(id);
    if (entry === undefined) return undefined;
    const age = this.now() - entry.filledAt;
    // lru-cache keeps an entry up to and including its TTL; the Rust cache (and we) expire at it.
    if (age >= this.#ttlMs || (options.maxAgeMs !== undefined && age > options.maxAgeMs)) {
      this.#entries.delete(id);
      return undefined;
    }
    return entry.value;
  }

  /** Call before reading the table for `key`; pass the ticket to `fill`. */
  beginRead(key: CacheKey): ReadTicket {
    return { key, epoch: this.#epoch };
  }

  /** Stores what the read returned, unless an invalidation covering the key (message, mark or flush) arrived since the read began. */
  fill(ticket: ReadTicket, value: V): boolean {
    const covering = [...scopeIdsCovering(ticket.key), ...marksCovering(ticket.key).map(markId)];
    if (this.#ledger.invalidatedSince(covering, ticket.epoch)) {
      this.stats.fillsRefused += 1;
      return false;
    }
    this.#entries.set(entryId(ticket.key), { key: ticket.key, value, filledAt: this.now() });
    return true;
  }

  /** Applies one message; one not newer than a version already applied for its key is ignored. */
  apply(inv: Invalidation): Applied {
    const id = scopeIdOf(inv);
    const seen = this.#ledger.version(id);
    if (seen !== undefined && inv.version <= seen) {
      this.stats.stale += 1;
      return { kind: 'stale' };
    }
    this.#epoch += 1;
    this.#ledger.record(id, this.#epoch, inv.version);
    this.stats.applied += 1;
    return { kind: 'invalidated', dropped: this.#dropWhere((k) => invalidationCovers(inv, k)) };
  }

  /** Drops every entry a mark (`E#env`, `F#env#flag`, `T#env#tenant`) covers and refuses fills begun before; returns how many were dropped. */
  invalidateMark(mark: string): number {
    const parsed = parseMark(mark);
    if (parsed === undefined) throw new TypeError(`not a freshness mark: ${JSON.stringify(mark)}`);
    this.#epoch += 1;
    this.#ledger.record(markId(mark), this.#epoch);
    this.stats.marksApplied += 1;
    return this.#dropWhere((k) => markCovers(parsed, k));
  }

  /** Drops everything and refuses every fill whose read began before: used when messages may have been missed. */
  flush(): void {
    this.#epoch += 1;
    this.#ledger.raiseFloor(this.#epoch);
    this.#entries.clear();
    this.stats.flushes += 1;
  }

  /** Keys of the live entries (what the freshness check must read marks for). */
  keys(): CacheKey[] {
    return [...this.#entries.values()].map((entry) => entry.key);
  }

  /** Number of live entries. */
  get size(): number {
    return this.keys().length;
  }

  #dropWhere(covered: (key: CacheKey) => boolean): number {
    let dropped = 0;
    // Copied first: deleting while lru-cache iterates would skip entries.
    for (const [id, entry] of [...this.#entries.entries()]) {
      if (covered(entry.key)) {
        this.#entries.delete(id);
        dropped += 1;
      }
    }
    return dropped;
  }
}

function markId(mark: string): string {
  return `M${mark}`;
}
