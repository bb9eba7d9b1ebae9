/**
 * Per invalidation key: the epoch of its last invalidation (for the refill race guard) and the
 * highest version applied (to ignore duplicates and reordering). Bounded, so a long-running
 * listener's memory does not grow with every tenant ever invalidated.
 */

interface Entry {
  epoch: number;
  version: bigint | undefined;
}

/** Remembers invalidations per key; forgetting one raises a floor so the guard stays safe. */
export class InvalidationLedger {
  readonly #entries = new Map<string, Entry>();
  readonly #max: number;
  /** Reads that began before this epoch are refused: something they may depend on was forgotten or flushed. */
  #floor = 0;

  /** A ledger holding at most `max` keys. */
  constructor(max: number) {
    this.#max = Math.max(1, max);
  }

  /** Highest version applied for `id`, if remembered. */
  version(id: string): bigint | undefined {
    return this.#entries.get(id)?.version;
  }

  /** Records an invalidation of `id` at `epoch` (with its version, for message scopes). */
  record(id: string, epoch: number, version?: bigint): void {
    const previous = this.#entries.get(id);
    // Re-inserting keeps the Map in epoch order, so the first entry is always the oldest.
    this.#entries.delete(id);
    this.#entries.set(id, { epoch, version: version ?? previous?.version });
    while (this.#entries.size > this.#max) {
      const [oldestId, oldest] = this.#entries.entries().next().value as [string, Entry];
      this.#entries.delete(oldestId);
      // Its key is forgotten, so refuse every read that began before its invalidation.
      this.#floor = Math.max(this.#floor, oldest.epoch);
    }
  }

  /** Refuses every read that began before `epoch` (a flush). */
  raiseFloor(epoch: number): void {
    this.#floor = Math.max(this.#floor, epoch);
  }

  /** True when any of `ids` was invalidated after a read that began at `epoch`. */
  invalidatedSince(ids: readonly string[], epoch: number): boolean {
    if (epoch < this.#floor) return true;
    return ids.some((id) => {
      const entry = this.#entries.get(id);
      return entry !== undefined && entry.epoch > epoch;
    });
  }

  /** How many keys are remembered. */
  get size(): number {
    return this.#entries.size;
  }
}
