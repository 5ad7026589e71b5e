import type { STSClient } from "@aws-sdk/client-sts";
import { callerIdentity, type CallerIdentity, type RetryOptions } from "./aws";
import { CliError } from "./cli";

/**
 * The account guard: a tool that acts for a stage first checks that its credentials belong to
 * that stage's account, so a prod command never runs with sandbox credentials (or the reverse).
 */

/** The credentials are for another account than the stage's. */
export class AccountMismatchError extends CliError {
  constructor(
    public readonly stage: string,
    public readonly actualAccountId: string,
    public readonly expectedAccountId: string,
    callerArn: string,
  ) {
    super(`refusing to act for stage ${stage}: credentials are for account ${actualAccountId}, `
      + `the stage's account is ${expectedAccountId} (caller ${callerArn}); `
      + `switch to credentials of account ${expectedAccountId}, for example with AWS_PROFILE`);
    this.name = "AccountMismatchError";
  }
}

export interface ExpectedAccount {
  /** The stage acted for, for the message. */
  readonly stage: string;
  /** The stage's account id (from Pulumi.yaml). */
  readonly expectedAccountId: string;
}

/** Calls STS GetCallerIdentity; returns the identity when it is in the expected account, else throws AccountMismatchError. */
export async function assertAccount(sts: STSClient, expected: ExpectedAccount, retry: RetryOptions = {}): Promise<CallerIdentity> {
  const caller = await callerIdentity(sts, retry);
  if (caller.accountId !== expected.expectedAccountId) {
    throw new AccountMismatchError(expected.stage, caller.accountId, expected.expectedAccountId, caller.arn);
  }
  return caller;
}
