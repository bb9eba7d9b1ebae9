/**
 * Stream sequence numbers: decimal strings of up to 40 digits that grow per item. They exceed
 * Number's 53-bit precision, so they are only ever compared as BigInt.
 */

/** The most digits a DynamoDB stream sequence number has. */
export const MAX_SEQUENCE_DIGITS = 40;

const DECIMAL = /^[0-9]+$/;

/** Parses a sequence number (1–40 decimal digits, leading zeros allowed); undefined if it is not one. */
export function parseSequence(text: unknown): bigint | undefined {
  if (typeof text !== 'string' || !DECIMAL.test(text)) return undefined;
  // Leading zeros (the marks' padded `v:` attributes) do not count towards the 40 digits.
  const significant = text.replace(/^0+(?=.)/, '');
  if (significant.length > MAX_SEQUENCE_DIGITS) return undefined;
  return BigInt(text);
}

/** Orders two sequence numbers numerically: negative, zero or positive like a sort comparator. */
export function compareSequences(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** True when `candidate` is strictly newer than `seen` (or nothing was seen yet). */
export function isNewer(candidate: bigint, seen: bigint | undefined): boolean {
  return seen === undefined || candidate > seen;
}
