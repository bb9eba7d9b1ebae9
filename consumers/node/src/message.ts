/**
 * Invalidation messages from the flagtrail `notify` function, as an evaluation service receives
 * them: raw SQS bodies or SNS envelopes, schema v1 (one invalidation) or v2 (several). Parsing
 * never throws: a poll loop must survive any body, so problems come back as `MessageError`s.
 */
import { parseSequence } from './version.js';

/** What an invalidation covers: one tenant's view of a flag, a whole flag, or a whole environment. */
export type Scope = 'tenant' | 'flag' | 'environment';

/** One cache invalidation, with its version already parsed to BigInt. */
export interface Invalidation {
  /** Stream eventID of the change (the pipeline's dedupe key), when the message carried one. */
  readonly eventId?: string;
  /** What to drop. */
  readonly scope: Scope;
  /** Environment (never contains `#`). */
  readonly environment: string;
  /** Flag, for flag and tenant scope. */
  readonly flagKey?: string;
  /** Tenant, for tenant scope. */
  readonly tenantId?: string;
  /** Stream sequence number of the change; grows per item, compared per key. */
  readonly version: bigint;
  /** The writer's own `version` counter, informational. */
  readonly itemVersion?: string;
  /** Audit action (e.g. UPDATE_FLAG), informational. */
  readonly action?: string;
  /** When the change happened (RFC 3339), informational. */
  readonly changedAt?: string;
}

/** Which part of a message was wrong. */
export type MessageErrorKind = 'not-json' | 'not-an-object' | 'envelope' | 'schema-version' | 'field';

/** A message (or one invalidation inside a v2 message) that could not be used, and why. */
export class MessageError extends Error {
  /** Which part of the message was wrong. */
  readonly kind: MessageErrorKind;
  /** JSON path of the offending field, e.g. `invalidations[2].version`. */
  readonly field: string | undefined;

  /** Builds the error; `field` names the offending JSON path when there is one. */
  constructor(kind: MessageErrorKind, detail: string, field?: string) {
    super(field === undefined ? detail : `${field}: ${detail}`);
    this.name = 'MessageError';
    this.kind = kind;
    this.field = field;
  }
}

/** What a message body yielded: the usable invalidations and the problems found. */
export interface ParsedMessage {
  /** The message's schemaVersion, when it could be read. */
  readonly schemaVersion: number | undefined;
  /** Invalidations ready to apply. */
  readonly invalidations: Invalidation[];
  /** Problems; non-empty means something may have been missed (a consumer should flush). */
  readonly errors: MessageError[];
}

const SCOPES: ReadonlySet<string> = new Set(['tenant', 'flag', 'environment']);

/** Parses an SQS message body (raw delivery or SNS envelope, schema v1 or v2); never throws. */
export function parseMessage(body: string): ParsedMessage {
  return parseBody(body, true);
}

function parseBody(body: string, unwrapEnvelope: boolean): ParsedMessage {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch (err) {
    return failed(new MessageError('not-json', `body is not JSON (${(err as Error).message})`));
  }
  if (!isObject(value)) return failed(new MessageError('not-an-object', 'body is not a JSON object'));
  if (unwrapEnvelope && typeof value.Type === 'string' && !('schemaVersion' in value)) {
    // Non-raw SNS delivery wraps the published text in an envelope; unwrap exactly one level.
    if (value.Type !== 'Notification' || typeof value.Message !== 'string') {
      return failed(new MessageError('envelope', `SNS ${value.Type} message carries no invalidation`, 'Type'));
    }
    return parseBody(value.Message, false);
  }
  return parseDocument(value);
}

function parseDocument(doc: Record<string, unknown>): ParsedMessage {
  const schemaVersion = doc.schemaVersion;
  if (schemaVersion === 1) {
    const one = parseInvalidation(doc, '');
    return one instanceof MessageError
      ? { schemaVersion, invalidations: [], errors: [one] }
      : { schemaVersion, invalidations: [one], errors: [] };
  }
  if (schemaVersion === 2) {
    if (!Array.isArray(doc.invalidations)) {
      return { schemaVersion, invalidations: [], errors: [new MessageError('field', 'expected an array', 'invalidations')] };
    }
    const invalidations: Invalidation[] = [];
    const errors: MessageError[] = [];
    doc.invalidations.forEach((item: unknown, i: number) => {
      const path = `invalidations[${i}]`;
      if (!isObject(item)) {
        errors.push(new MessageError('field', 'expected an object', path));
        return;
      }
      if (item.schemaVersion !== undefined && item.schemaVersion !== 1) {
        errors.push(new MessageError('schema-version', 'items of a v2 message are v1 objects', `${path}.schemaVersion`));
        return;
      }
      const parsed = parseInvalidation(item, `${path}.`);
      if (parsed instanceof MessageError) errors.push(parsed);
      else invalidations.push(parsed);
    });
    return { schemaVersion, invalidations, errors };
  }
  return failed(
    new MessageError('schema-version', `unsupported schemaVersion ${JSON.stringify(schemaVersion) ?? 'undefined'}`, 'schemaVersion'),
  );
}

/** Validates one v1-shaped invalidation object; `prefix` is prepended to field names in errors. */
export function parseInvalidation(obj: Record<string, unknown>, prefix = ''): Invalidation | MessageError {
  const scope = obj.scope;
  if (typeof scope !== 'string' || !SCOPES.has(scope)) {
    return new MessageError('field', 'expected "tenant", "flag" or "environment"', `${prefix}scope`);
  }
  const environment = obj.environment;
  if (typeof environment !== 'string' || environment === '' || environment.includes('#')) {
    return new MessageError('field', 'expected a non-empty string without "#"', `${prefix}environment`);
  }
  const flagKey = optionalString(obj.flagKey);
  const tenantId = optionalString(obj.tenantId);
  if (flagKey === null) return new MessageError('field', 'expected a string or null', `${prefix}flagKey`);
  if (tenantId === null) return new MessageError('field', 'expected a string or null', `${prefix}tenantId`);
  if ((scope === 'flag' || scope === 'tenant') && (flagKey === undefined || flagKey === '')) {
    return new MessageError('field', `required for ${scope} scope`, `${prefix}flagKey`);
  }
  if (scope === 'tenant' && (tenantId === undefined || tenantId === '')) {
    return new MessageError('field', 'required for tenant scope', `${prefix}tenantId`);
  }
  // A number would already have lost digits in JSON.parse: only the decimal string is trusted.
  const version = parseSequence(obj.version);
  if (version === undefined) {
    return new MessageError('field', 'expected a string of 1 to 40 decimal digits', `${prefix}version`);
  }
  const eventId = optionalString(obj.eventId);
  if (eventId === null) return new MessageError('field', 'expected a string or null', `${prefix}eventId`);
  return {
    scope,
    environment,
    version,
    ...(eventId !== undefined && { eventId }),
    ...(scope !== 'environment' && flagKey !== undefined && { flagKey }),
    ...(scope === 'tenant' && tenantId !== undefined && { tenantId }),
    ...informational('itemVersion', obj.itemVersion),
    ...informational('action', obj.action),
    ...informational('changedAt', obj.changedAt),
  } as Invalidation;
}

function failed(error: MessageError): ParsedMessage {
  return { schemaVersion: undefined, invalidations: [], errors: [error] };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** undefined when absent or null (serde writes `None` as null), null when of the wrong type. */
function optionalString(value: unknown): string | undefined | null {
  if (value === undefined || value === null) return undefined;
  return typeof value === 'string' ? value : null;
}

/** Fields the cache does not use are kept when well-formed and otherwise ignored, never fatal. */
function informational(name: string, value: unknown): Record<string, string> {
  if (typeof value === 'string') return { [name]: value };
  if (typeof value === 'number' && Number.isSafeInteger(value)) return { [name]: String(value) };
  return {};
}
