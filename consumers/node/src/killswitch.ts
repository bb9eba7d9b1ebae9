/**
 * Kill switches: the global one of an environment and the one of a flag, read together in one
 * strongly consistent BatchGetItem on every evaluation and never cached, so a switch that was
 * just turned on is obeyed by the very next evaluation on every instance.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';

import type { Item } from './batch-get.js';
import { flagKillSwitchKey, globalKillSwitchKey, readBoolean, readFlagItems, type FlagItems } from './flag-table.js';

/** Which kill switches are on. */
export interface KillSwitchState {
  /** The environment's global kill switch: every flag evaluates to disabled. */
  readonly global: boolean;
  /** This flag's kill switch: the flag evaluates to disabled. */
  readonly flag: boolean;
}

/** The two kill-switch keys of an evaluation, global first. */
export function killSwitchKeys(environment: string, flagKey: string): Item[] {
  return [globalKillSwitchKey(environment), flagKillSwitchKey(environment, flagKey)];
}

/** The kill-switch state found in `items`; a missing item or unreadable `enabled` is off, as the audit pipeline reads it. */
export function killSwitchState(items: FlagItems, environment: string, flagKey: string): KillSwitchState {
  return {
    global: readBoolean(items.get(globalKillSwitchKey(environment))?.enabled) ?? false,
    flag: readBoolean(items.get(flagKillSwitchKey(environment, flagKey))?.enabled) ?? false,
  };
}

/** Options of a KillSwitchReader. */
export interface KillSwitchReaderOptions {
  /** Client for the flag table. */
  readonly dynamodb: DynamoDBClient;
  /** The flag table (`feature-flags-{stage}`). */
  readonly flagTable: string;
}

/** Reads both kill switches of a flag, strongly consistent, one BatchGetItem per call. */
export class KillSwitchReader {
  readonly #options: KillSwitchReaderOptions;

  /** A reader of one flag table. */
  constructor(options: KillSwitchReaderOptions) {
    this.#options = options;
  }

  /** The current state; throws when the table cannot be read (the caller decides the fallback). */
  async read(environment: string, flagKey: string): Promise<KillSwitchState> {
    const items = await readFlagItems(this.#options.dynamodb, this.#options.flagTable, killSwitchKeys(environment, flagKey));
    return killSwitchState(items, environment, flagKey);
  }
}
