/**
 * Lambda handler glue: run the freshness check at the start of each invocation, in the
 * invocation itself, because a frozen instance runs nothing in between.
 */
import type { Freshness } from './freshness.js';

/** An async Lambda handler. */
export type AsyncHandler<E, R, C> = (event: E, context: C) => Promise<R>;

/** Wraps a handler so every invocation first awaits the freshness check (a no-op inside the interval). */
export function withFreshness<E, R, C = unknown>(handler: AsyncHandler<E, R, C>, freshness: Freshness): AsyncHandler<E, R, C> {
  return async (event: E, context: C): Promise<R> => {
    await freshness.check();
    return handler(event, context);
  };
}

/** A Middy middleware object (structural, so @middy/core stays an optional peer dependency). */
export interface FreshnessMiddleware {
  /** Runs before the handler. */
  readonly before: (request: unknown) => Promise<void>;
}

/** The same check as a Middy `before` middleware: `middy(handler).use(freshnessMiddleware(f))`. */
export function freshnessMiddleware(freshness: Freshness): FreshnessMiddleware {
  return {
    before: async () => {
      await freshness.check();
    },
  };
}
