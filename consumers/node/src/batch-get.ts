/**
 * One logical BatchGetItem: keys cut into requests of 100 (the API's limit), UnprocessedKeys
 * retried within the call after a short backoff, because DynamoDB answers a throttled part of a
 * batch with HTTP 200 and the keys it skipped rather than with an error.
 */
import { setTimeout as sleep } from 'node:timers/promises';

import { BatchGetItemCommand, type AttributeValue, type DynamoDBClient } from '@aws-sdk/client-dynamodb';

/** A DynamoDB key or item in the low-level attribute-value form (numbers stay decimal strings). */
export type Item = Record<string, AttributeValue>;

/** The most keys one BatchGetItem request may carry. */
export const BATCH_GET_MAX_KEYS = 100;

/** How to read. */
export interface BatchGetOptions {
  /** Strongly consistent read (1 read unit per 4 KB item) rather than eventually consistent (0.5). */
  readonly consistentRead: boolean;
  /** ProjectionExpression, so only the attributes used travel. */
  readonly projection?: string;
  /** ExpressionAttributeNames for the projection. */
  readonly names?: Record<string, string>;
  /** Rounds for UnprocessedKeys before giving up (default 5). */
  readonly maxRounds?: number;
  /** Base backoff in ms between rounds, doubled each round, with full jitter (default 25). */
  readonly backoffMs?: number;
}

/** The items found and how many requests it took. */
export interface BatchGetResult {
  /** Items found, in no particular order; absent keys are simply missing. */
  readonly items: Item[];
  /** BatchGetItem requests sent (retries of UnprocessedKeys included). */
  readonly requests: number;
}

/** Keys still unprocessed after every round: the read is incomplete. */
export class UnprocessedKeysError extends Error {
  /** How many keys were never read. */
  readonly unread: number;

  /** Names the table and how many keys were left. */
  constructor(table: string, unread: number) {
    super(`BatchGetItem on ${table} left ${unread} key(s) unprocessed after all retries`);
    this.name = 'UnprocessedKeysError';
    this.unread = unread;
  }
}

/** Reads `keys` from `table` in as few BatchGetItem requests as the 100-key limit allows. */
export async function batchGet(
  client: DynamoDBClient,
  table: string,
  keys: readonly Item[],
  options: BatchGetOptions,
): Promise<BatchGetResult> {
  const unique = dedupe(keys);
  const chunks: Item[][] = [];
  for (let i = 0; i < unique.length; i += BATCH_GET_MAX_KEYS) chunks.push(unique.slice(i, i + BATCH_GET_MAX_KEYS));
  const results = await Promise.all(chunks.map((chunk) => readChunk(client, table, chunk, options)));
  return {
    items: results.flatMap((r) => r.items),
    requests: results.reduce((sum, r) => sum + r.requests, 0),
  };
}

async function readChunk(
  client: DynamoDBClient,
  table: string,
  keys: Item[],
  options: BatchGetOptions,
): Promise<BatchGetResult> {
  const maxRounds = options.maxRounds ?? 5;
  const backoffMs = options.backoffMs ?? 25;
  const items: Item[] = [];
  let pending = keys;
  let requests = 0;
  for (let round = 0; pending.length > 0; round += 1) {
    if (round >= maxRounds) throw new UnprocessedKeysError(table, pending.length);
    if (round > 0) await sleep(Math.random() * backoffMs * 2 ** (round - 1));
    const out = await client.send(
      new BatchGetItemCommand({
        RequestItems: {
          [table]: {
            Keys: pending,
            ConsistentRead: options.consistentRead,
            ...(options.projection !== undefined && { ProjectionExpression: options.projection }),
            ...(options.names !== undefined && { ExpressionAttributeNames: options.names }),
          },
        },
      }),
    );
    requests += 1;
    items.push(...(out.Responses?.[table] ?? []));
    pending = out.UnprocessedKeys?.[table]?.Keys ?? [];
  }
  return { items, requests };
}

function dedupe(keys: readonly Item[]): Item[] {
  // DynamoDB rejects a batch that names the same key twice.
  const seen = new Map<string, Item>();
  for (const key of keys) seen.set(JSON.stringify(Object.entries(key).sort(([a], [b]) => (a < b ? -1 : 1))), key);
  return [...seen.values()];
}
