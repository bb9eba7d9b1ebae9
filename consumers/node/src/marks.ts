/**
 * Freshness-mark keys (docs/freshness.md): `E#{env}`, `F#{env}#{flagKey}`, `T#{env}#{tenantId}`.
 * `env` never holds `#`, so the first `#` after the prefix ends it and the three forms cannot collide.
 */
import type { CacheKey } from './cache-key.js';

/** A parsed mark key. */
export type Mark =
  | { readonly kind: 'environment'; readonly environment: string }
  | { readonly kind: 'flag'; readonly environment: string; readonly flagKey: string }
  | { readonly kind: 'tenant'; readonly environment: string; readonly tenantId: string };

/** The mark of a whole environment (global kill switch). */
export function environmentMark(environment: string): string {
  return `E#${environment}`;
}

/** The mark of one flag, all tenants. */
export function flagMark(environment: string, flagKey: string): string {
  return `F#${environment}#${flagKey}`;
}

/** The mark of one tenant, all flags (the mark is coarser than a tenant-scope message). */
export function tenantMark(environment: string, tenantId: string): string {
  return `T#${environment}#${tenantId}`;
}

/** DynamoDB's limit on a partition key, in UTF-8 bytes. */
export const MARK_KEY_MAX_BYTES = 2048;

/**
 * The marks whose counter moving means this cache entry may be stale, broadest first. A mark
 * longer than a partition key may be is never written (notify raises `E#{env}` instead, which is
 * always read), and asking for it would fail the whole BatchGetItem: it is left out.
 */
export function marksCovering(key: CacheKey): string[] {
  const marks = [environmentMark(key.environment), flagMark(key.environment, key.flagKey)];
  if (key.tenantId !== undefined) marks.push(tenantMark(key.environment, key.tenantId));
  return marks.filter((mark) => Buffer.byteLength(mark, 'utf8') <= MARK_KEY_MAX_BYTES);
}

/** Parses a mark key; undefined for anything that is not one of the three forms. */
export function parseMark(mark: string): Mark | undefined {
  const kind = mark.slice(0, 2);
  const rest = mark.slice(2);
  if (kind === 'E#') return rest === '' || rest.includes('#') ? undefined : { kind: 'environment', environment: rest };
  const cut = rest.indexOf('#');
  if (cut <= 0 || cut === rest.length - 1) return undefined;
  const environment = rest.slice(0, cut);
  const tail = rest.slice(cut + 1);
  if (kind === 'F#') return { kind: 'flag', environment, flagKey: tail };
  if (kind === 'T#') return { kind: 'tenant', environment, tenantId: tail };
  return undefined;
}

/** True when the mark covers the cache entry of `key`. */
export function markCovers(mark: Mark, key: CacheKey): boolean {
  if (mark.environment !== key.environment) return false;
  switch (mark.kind) {
    case 'environment':
      return true;
    case 'flag':
      return mark.flagKey === key.flagKey;
    case 'tenant':
      return key.tenantId === mark.tenantId;
  }
}
