/** Public API of @flagtrail/consumer: keep flag evaluations fresh with flagtrail's invalidations. */
export { compareSequences, isNewer, MAX_SEQUENCE_DIGITS, parseSequence } from './version.js';
export {
  MessageError,
  parseInvalidation,
  parseMessage,
  type Invalidation,
  type MessageErrorKind,
  type ParsedMessage,
  type Scope,
} from './message.js';
export type { CacheKey } from './cache-key.js';
export {
  FlagCache,
  type Applied,
  type FlagCacheOptions,
  type FlagCacheStats,
  type GetOptions,
  type Invalidatable,
  type ReadTicket,
} from './cache.js';
export {
  environmentMark,
  flagMark,
  MARK_KEY_MAX_BYTES,
  markCovers,
  marksCovering,
  parseMark,
  tenantMark,
  type Mark,
} from './marks.js';
export { MarkFormatError, MarkReader, type MarkReaderOptions, type MarkReaderStats } from './mark-reader.js';
export { BATCH_GET_MAX_KEYS, batchGet, UnprocessedKeysError, type BatchGetOptions, type BatchGetResult, type Item } from './batch-get.js';
export {
  FlagItems,
  flagKillSwitchKey,
  globalKillSwitchKey,
  metadataKey,
  overrideKey,
  readBoolean,
  readFlagItems,
} from './flag-table.js';
export { KillSwitchReader, killSwitchKeys, killSwitchState, type KillSwitchReaderOptions, type KillSwitchState } from './killswitch.js';
export { Freshness, freshness, type FreshnessOptions, type FreshnessStats, type LogEntry } from './freshness.js';
export { freshnessMiddleware, withFreshness, type AsyncHandler, type FreshnessMiddleware } from './lambda.js';
export {
  FeatureFlagEvaluator,
  type CachedEvaluation,
  type CachedSource,
  type Evaluation,
  type EvaluationContext,
  type FeatureFlagEvaluatorOptions,
  type EvaluatorStats,
} from './evaluator.js';
export {
  InvalidationListener,
  queuePolicy,
  type InvalidationListenerOptions,
  type ListenerStats,
} from './listener.js';
