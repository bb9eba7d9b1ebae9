/**
 * The flag table's keys (docs/schema.md) and its strongly consistent reads: a read right after
 * an invalidation must see the new item, or the old value would be cached for a whole TTL.
 */
import type { AttributeValue, DynamoDBClient } from '@aws-sdk/client-dynamodb';

import { batchGet, type Item } from './batch-get.js';

/** Key of a flag item (`SK = METADATA`, holds `defaultEnabled`). */
export function metadataKey(environment: string, flagKey: string): Item {
  return { PK: { S: `FLAG#${environment}#${flagKey}` }, SK: { S: 'METADATA' } };
}

/** Key of a tenant override (`SK = TENANT#{tenantId}`, holds `enabled`). */
export function overrideKey(environment: string, flagKey: string, tenantId: string): Item {
  return { PK: { S: `FLAG#${environment}#${flagKey}` }, SK: { S: `TENANT#${tenantId}` } };
}

/** Key of a per-flag kill switch (`SK = KILLSWITCH`, holds `enabled`). */
export function flagKillSwitchKey(environment: string, flagKey: string): Item {
  return { PK: { S: `FLAG#${environment}#${flagKey}` }, SK: { S: 'KILLSWITCH' } };
}

/** Key of the global kill switch of an environment (`PK = KILLSWITCH#{env}`, `SK = GLOBAL`). */
export function globalKillSwitchKey(environment: string): Item {
  return { PK: { S: `KILLSWITCH#${environment}` }, SK: { S: 'GLOBAL' } };
}

/** A truth value as the pipeline reads it: BOOL, N (non-zero is true) or S "true"/"false"; undefined otherwise. */
export function readBoolean(value: AttributeValue | undefined): boolean | undefined {
  if (value === undefined) return undefined;
  if (value.BOOL !== undefined) return value.BOOL;
  if (value.N !== undefined) return /[1-9]/.test(value.N.replace(/[eE].*$/, ''));
  if (value.S !== undefined) {
    const s = value.S.toLowerCase();
    return s === 'true' ? true : s === 'false' ? false : undefined;
  }
  return undefined;
}

/** Items read from the flag table, found by key. */
export class FlagItems {
  readonly #items = new Map<string, Item>();
  /** BatchGetItem requests the read took. */
  readonly requests: number;

  /** Indexes the items by PK and SK. */
  constructor(items: readonly Item[], requests: number) {
    for (const item of items) {
      if (item.PK?.S !== undefined && item.SK?.S !== undefined) this.#items.set(id(item.PK.S, item.SK.S), item);
    }
    this.requests = requests;
  }

  /** The item at `key`, if it exists. */
  get(key: Item): Item | undefined {
    return this.#items.get(id(key.PK?.S ?? '', key.SK?.S ?? ''));
  }
}

/** Reads `keys` from the flag table in one strongly consistent BatchGetItem (per 100 keys). */
export async function readFlagItems(client: DynamoDBClient, table: string, keys: readonly Item[]): Promise<FlagItems> {
  const result = await batchGet(client, table, keys, {
    consistentRead: true,
    projection: '#pk, #sk, #enabled, #defaultEnabled',
    names: { '#pk': 'PK', '#sk': 'SK', '#enabled': 'enabled', '#defaultEnabled': 'defaultEnabled' },
  });
  return new FlagItems(result.items, result.requests);
}

function id(pk: string, sk: string): string {
  return JSON.stringify([pk, sk]);
}
