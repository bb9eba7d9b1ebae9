// cdk-nag (AwsSolutions) findings the stack accepts on purpose: each with its reason, in code,
// beside the resource it concerns.
import { Validations } from 'aws-cdk-lib';
import { Construct } from 'constructs';

/** A cdk-nag finding accepted on purpose, with the reason in code. */
export function acknowledge(scope: Construct, id: string, reason: string): void {
  Validations.of(scope).acknowledge({ id: `AwsSolutions::${id}`, reason });
}
