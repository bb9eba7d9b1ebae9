/**
 * Lambda mode: SNS → SQS reaches one consumer, never the memory of every warm instance, and a
 * frozen instance runs no timer or poller. So freshness is pulled on invocation: at most every
 * `checkIntervalMs`, one BatchGetItem reads the marks covering what is cached, and entries under
 * a mark whose counter went up are dropped. Nothing here runs between invocations.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';

import type { Invalidatable } from './cache.js';
import type { CacheKey } from './cache-key.js';
import { MarkReader } from './mark-reader.js';
import { marksCovering } from './marks.js';

/** A structured log line (written as one JSON line). */
export type LogEntry = Record<string, unknown>;

/** Options of a Freshness check. */
export interface FreshnessOptions {
  /** The cache to keep fresh (the evaluator's). */
  readonly cache: Invalidatable;
  /** Client for the marks table. */
  readonly dynamodb: DynamoDBClient;
  /** The marks table (`flagtrail-{stage}-marks`). */
  readonly marksTable: string;
  /** Read the marks at most this often, in ms (default 1000: p99 staleness ≈ interval + ~1 s pipeline). */
  readonly checkIntervalMs?: number;
  /** While marks cannot be read, entries older than this (ms) are not served (default 5000). */
  readonly degradedTtlMs?: number;
  /** Strongly consistent mark reads (default false: 0.5 read unit per mark, replica lag of ~1 s). */
  readonly consistentRead?: boolean;
  /**
   * A counter lower than the one last read: `drop` (default, docs/freshness.md) treats it as a
   * change, because a re-created or restored marks table restarts its counters and ignoring that
   * would miss changes until they climb past the old value; the price is an extra refill when a
   * lagging replica answers. `ignore` keeps the highest value seen and waits for a greater one.
   */
  readonly lowerCounter?: 'drop' | 'ignore';
  /** Clock in ms (default: the cache's), injectable so tests can freeze and thaw by jumping it. */
  readonly now?: () => number;
  /** Where log lines go (default: one JSON line, on console.warn for warnings, console.info otherwise). */
  readonly log?: (entry: LogEntry) => void;
}

/** Counters since creation. */
export interface FreshnessStats {
  /** Checks that read the marks (at most one per interval). */
  checks: number;
  /** Baseline reads of marks seen for the first time, before filling under them. */
  admits: number;
  /** Mark reads that failed (check or admit). */
  markReadFailures: number;
  /** Marks whose counter moved since last read, and whose entries were dropped. */
  marksChanged: number;
  /** Reads that found a counter lower than the one last read (replica lag or a re-created table). */
  marksLowered: number;
  /** Cache entries dropped because of marks. */
  entriesDropped: number;
}

/** The freshness state of one Lambda instance's cache. */
export class Freshness {
  /** Counters since creation. */
  readonly stats: FreshnessStats = {
    checks: 0,
    admits: 0,
    markReadFailures: 0,
    marksChanged: 0,
    marksLowered: 0,
    entriesDropped: 0,
  };
  /** The mark reader (its stats count BatchGetItem requests, for cost). */
  readonly reader: MarkReader;
  readonly #cache: Invalidatable;
  readonly #intervalMs: number;
  readonly #degradedTtlMs: number;
  readonly #now: () => number;
  readonly #log: (entry: LogEntry) => void;
  readonly #table: string;
  readonly #dropOnLower: boolean;
  /** Counter last read per mark (the highest, with `lowerCounter: 'ignore'`). */
  readonly #seen = new Map<string, bigint>();
  #lastCheckAt: number | undefined;
  #lastFailureAt: number | undefined;
  #degraded = false;
  #inflight: Promise<void> | undefined;

  /** Freshness for `options.cache`, reading `options.marksTable`. */
  constructor(options: FreshnessOptions) {
    this.#cache = options.cache;
    this.#intervalMs = options.checkIntervalMs ?? 1000;
    this.#degradedTtlMs = options.degradedTtlMs ?? 5000;
    this.#now = options.now ?? options.cache.now;
    this.#log = options.log ?? jsonLine;
    this.#table = options.marksTable;
    this.#dropOnLower = (options.lowerCounter ?? 'drop') === 'drop';
    this.reader = new MarkReader({
      dynamodb: options.dynamodb,
      table: options.marksTable,
      consistentRead: options.consistentRead ?? false,
    });
  }

  /** True while the last full check failed: entries are served only up to `degradedTtlMs` old. */
  get degraded(): boolean {
    return this.#degraded;
  }

  /** The age cap to pass to `FlagCache.get`: undefined normally, `degradedTtlMs` while marks cannot be read. */
  maxAgeMs(): number | undefined {
    return this.#degraded ? this.#degradedTtlMs : undefined;
  }

  /** Call on every invocation: reads the marks if the interval has passed (a thawed instance always finds it passed); never throws. */
  async check(): Promise<void> {
    if (this.#inflight !== undefined) return this.#inflight;
    const now = this.#now();
    // A clock that went backwards (wall-clock step) cannot prove the interval has not passed.
    if (this.#lastCheckAt !== undefined && now >= this.#lastCheckAt && now - this.#lastCheckAt < this.#intervalMs) return;
    this.#lastCheckAt = now;
    const run = this.#runCheck();
    this.#inflight = run;
    try {
      await run;
    } finally {
      this.#inflight = undefined;
    }
  }

  /**
   * Call before reading the table for `key` and filling the cache: reads the marks covering it
   * that were never seen, so every cached entry has a baseline to compare against. Returns false
   * when they could not be read; then do not cache what you read (serve it uncached).
   */
  async admit(key: CacheKey): Promise<boolean> {
    const unknown = marksCovering(key).filter((mark) => !this.#seen.has(mark));
    if (unknown.length === 0) return true;
    const now = this.#now();
    // While the marks table is failing, try at most once per interval rather than on every miss.
    if (this.#lastFailureAt !== undefined && now >= this.#lastFailureAt && now - this.#lastFailureAt < this.#intervalMs) {
      return false;
    }
    this.stats.admits += 1;
    try {
      const counters = await this.reader.read(unknown);
      for (const [mark, n] of counters) this.#observe(mark, n);
      if (!this.#degraded) this.#lastFailureAt = undefined;
      return true;
    } catch (err) {
      this.#failed('admit', err);
      return false;
    }
  }

  async #runCheck(): Promise<void> {
    const needed = new Set(this.#cache.keys().flatMap(marksCovering));
    // Forget marks nothing cached depends on: memory stays bounded, and filling under one again
    // goes through `admit`, which reads a fresh baseline.
    for (const mark of [...this.#seen.keys()]) if (!needed.has(mark)) this.#seen.delete(mark);
    if (needed.size === 0) {
      this.#recovered();
      return;
    }
    this.stats.checks += 1;
    let counters: Map<string, bigint>;
    try {
      counters = await this.reader.read([...needed]);
    } catch (err) {
      this.#failed('check', err);
      return;
    }
    for (const [mark, n] of counters) this.#observe(mark, n);
    this.#recovered();
  }

  #observe(mark: string, n: bigint): void {
    const last = this.#seen.get(mark);
    if (last !== undefined) {
      if (n === last) return;
      if (n < last) {
        this.stats.marksLowered += 1;
        if (!this.#dropOnLower) return;
      }
      this.stats.marksChanged += 1;
    }
    this.#seen.set(mark, n);
    // Moved: drop what it covers. First sight: anything already cached under it was filled before
    // any read of the mark (not through `admit`), so it cannot be trusted either. Either way the
    // cache also refuses fills whose reads began before this point.
    this.stats.entriesDropped += this.#cache.invalidateMark(mark);
  }

  #failed(phase: 'check' | 'admit', err: unknown): void {
    this.stats.markReadFailures += 1;
    this.#lastFailureAt = this.#now();
    if (phase === 'check') this.#degraded = true;
    const error = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    this.#log({
      level: 'warn',
      event: 'flagtrail.marks.unreadable',
      message: `freshness marks unreadable; serving cached flags for at most ${this.#degradedTtlMs} ms`,
      phase,
      marksTable: this.#table,
      error,
      markReadFailures: this.stats.markReadFailures,
      cappedTtlMs: this.#degradedTtlMs,
    });
  }

  #recovered(): void {
    if (!this.#degraded) return;
    this.#degraded = false;
    this.#lastFailureAt = undefined;
    this.#log({
      level: 'info',
      event: 'flagtrail.marks.recovered',
      message: 'freshness marks readable again; full TTL restored',
      marksTable: this.#table,
      markReadFailures: this.stats.markReadFailures,
    });
  }
}

function jsonLine(entry: LogEntry): void {
  if (entry.level === 'warn') console.warn(JSON.stringify(entry));
  else console.info(JSON.stringify(entry));
}

/** Creates the freshness check of one Lambda instance (call once, outside the handler). */
export function freshness(options: FreshnessOptions): Freshness {
  return new Freshness(options);
}
