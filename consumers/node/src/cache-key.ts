/**
 * What a cached evaluation is keyed by, and the string ids the cache stores it under. Ids are
 * JSON arrays because a flag key may contain any character, `#` and `/` included.
 */
import type { Invalidation } from './message.js';

/** What a cached evaluation is keyed by. */
export interface CacheKey {
  /** Environment (never contains `#`). */
  readonly environment: string;
  /** Flag key (may contain `#`). */
  readonly flagKey: string;
  /** Tenant, for per-tenant evaluations; absent for tenant-independent ones. */
  readonly tenantId?: string | undefined;
}

/** The id of one cache entry. */
export function entryId(key: CacheKey): string {
  return JSON.stringify([key.environment, key.flagKey, key.tenantId ?? null]);
}

/** Ids of the message scopes that cover an entry, broadest first: env, env+flag, env+flag+tenant. */
export function scopeIdsCovering(key: CacheKey): string[] {
  const ids = [scopeId([key.environment]), scopeId([key.environment, key.flagKey])];
  if (key.tenantId !== undefined) ids.push(scopeId([key.environment, key.flagKey, key.tenantId]));
  return ids;
}

/** The scope id an invalidation message addresses (its per-key version is kept under it). */
export function scopeIdOf(inv: Invalidation): string {
  switch (inv.scope) {
    case 'environment':
      return scopeId([inv.environment]);
    case 'flag':
      return scopeId([inv.environment, inv.flagKey ?? '']);
    case 'tenant':
      return scopeId([inv.environment, inv.flagKey ?? '', inv.tenantId ?? '']);
  }
}

/** True when the invalidation covers the entry of `key` (same rule as the Rust FlagCache). */
export function invalidationCovers(inv: Invalidation, key: CacheKey): boolean {
  if (key.environment !== inv.environment) return false;
  switch (inv.scope) {
    case 'environment':
      return true;
    case 'flag':
      return key.flagKey === inv.flagKey;
    case 'tenant':
      return key.flagKey === inv.flagKey && key.tenantId === inv.tenantId;
  }
}

function scopeId(parts: string[]): string {
  return `S${JSON.stringify(parts)}`;
}
