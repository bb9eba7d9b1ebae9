// C2SP signed-note verifier keys ("vkeys", `name+keyid+base64(type || key)`), checked at synth time
// the way the runtime checks them (shared/core/src/integrity/witness.rs, parse_vkey): a vkey pasted
// into a context value with a typo fails `cdk synth`, not the first round of the deployed log.
import { createHash } from 'node:crypto';

/** The signature types flagtrail's keys use: a log's checkpoint key (Ed25519) and a witness's (cosignature/v1). */
export const VKEY_TYPES = { log: 0x01, witness: 0x04 } as const;

/** A parsed verifier key. */
export interface Vkey {
  /** The key's name: a log's origin, or a witness's name. */
  readonly name: string;
  /** The key id, 8 hex digits. */
  readonly keyId: string;
}

/**
 * Whether `name` may name a signed-note key (C2SP signed-note: non-empty, no Unicode space, no
 * `+`). Throws with `what` (the context value it came from) otherwise.
 */
export function checkKeyName(name: string, what: string): string {
  if (name === '' || /[\s+]/u.test(name)) throw new Error(`${what}: ${JSON.stringify(name)} cannot name a signed-note key (non-empty, no spaces, no '+')`);
  return name;
}

/**
 * A vkey of signature type `type` (VKEY_TYPES): `name+keyid+base64(type || 32-byte Ed25519 key)`,
 * whose key id is the first four bytes of SHA-256(name || "\n" || type || key) (C2SP signed-note).
 * Throws with `what` (the context value it came from) otherwise.
 */
export function parseVkey(vkey: string, type: number, what: string): Vkey {
  const bad = (why: string) => new Error(`${what}: verifier key ${JSON.stringify(vkey)}: ${why}`);
  const parts = vkey.trim().split('+');
  // The base64 part may itself contain '+': the name and key id are the first two fields.
  if (parts.length < 3) throw bad('not name+keyid+key');
  const [name, keyId] = parts;
  const encoded = parts.slice(2).join('+');
  checkKeyName(name, what);
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(encoded)) throw bad('the key is not base64');
  const bytes = Buffer.from(encoded, 'base64');
  if (bytes.length !== 33) throw bad(`${bytes.length} bytes, not a type byte and a 32-byte Ed25519 key`);
  if (bytes[0] !== type) throw bad(`key type 0x${bytes[0].toString(16).padStart(2, '0')}, expected 0x${type.toString(16).padStart(2, '0')}`);
  const id = createHash('sha256').update(Buffer.concat([Buffer.from(`${name}\n`, 'utf8'), bytes])).digest().subarray(0, 4).toString('hex');
  if (keyId.toLowerCase() !== id || keyId.length !== 8) throw bad('the key id does not match the name and key');
  return { name, keyId: id };
}
