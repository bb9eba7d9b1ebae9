/**
 * Reads freshness-mark counters from the marks table: one BatchGetItem for all the marks asked
 * for, projecting only `mark` and `n`, eventually consistent by default (0.5 read unit per mark).
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';

import { batchGet } from './batch-get.js';

/** Options of a MarkReader. */
export interface MarkReaderOptions {
  /** Client for the marks table's region (its retry settings bound how long a failing read takes). */
  readonly dynamodb: DynamoDBClient;
  /** The marks table (`flagtrail-{stage}-marks`). */
  readonly table: string;
  /** Strongly consistent reads: twice the cost, no replica lag (default false). */
  readonly consistentRead?: boolean;
  /** Rounds for UnprocessedKeys (default 5). */
  readonly maxRounds?: number;
  /** Base backoff between those rounds in ms (default 25). */
  readonly backoffMs?: number;
}

/** A mark item whose counter is not a whole number: the table is not what we expect. */
export class MarkFormatError extends Error {
  /** Builds the error for one mark. */
  constructor(mark: string, detail: string) {
    super(`mark ${JSON.stringify(mark)}: ${detail}`);
    this.name = 'MarkFormatError';
  }
}

/** Counters of the BatchGetItem traffic, for cost estimates and tests. */
export interface MarkReaderStats {
  /** Logical reads (calls of `read`). */
  reads: number;
  /** BatchGetItem requests sent. */
  requests: number;
  /** Marks requested in total. */
  marksRequested: number;
}

/** Reads mark counters. */
export class MarkReader {
  /** Traffic since creation. */
  readonly stats: MarkReaderStats = { reads: 0, requests: 0, marksRequested: 0 };
  readonly #options: MarkReaderOptions;

  /** A reader of one marks table. */
  constructor(options: MarkReaderOptions) {
    this.#options = options;
  }

  /** The counter `n` of each mark; a mark with no item yet has 0 (nothing was ever invalidated under it). */
  async read(marks: readonly string[]): Promise<Map<string, bigint>> {
    const unique = [...new Set(marks)];
    const counters = new Map<string, bigint>(unique.map((m) => [m, 0n]));
    if (unique.length === 0) return counters;
    this.stats.reads += 1;
    this.stats.marksRequested += unique.length;
    let requests = 0;
    try {
      const result = await batchGet(
        this.#options.dynamodb,
        this.#options.table,
        unique.map((mark) => ({ mark: { S: mark } })),
        {
          consistentRead: this.#options.consistentRead ?? false,
          projection: '#m, #n',
          names: { '#m': 'mark', '#n': 'n' },
          ...(this.#options.maxRounds !== undefined && { maxRounds: this.#options.maxRounds }),
          ...(this.#options.backoffMs !== undefined && { backoffMs: this.#options.backoffMs }),
        },
      );
      requests = result.requests;
      for (const item of result.items) {
        const mark = item.mark?.S;
        if (mark === undefined || !counters.has(mark)) continue;
        counters.set(mark, counterOf(mark, item.n?.N));
      }
    } finally {
      this.stats.requests += Math.max(requests, 1);
    }
    return counters;
  }
}

/** Parses `n` as BigInt: it is a DynamoDB number of up to 38 digits, never routed through Number. */
function counterOf(mark: string, text: string | undefined): bigint {
  if (text === undefined) throw new MarkFormatError(mark, 'attribute n (N) is missing');
  const whole = /^([0-9]+)(?:\.0*)?$/.exec(text);
  if (whole === null) throw new MarkFormatError(mark, `n is not a whole number: ${text}`);
  return BigInt(whole[1]!);
}
