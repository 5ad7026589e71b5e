import { DescribeModelPackageCommand, ModelApprovalStatus, type SageMakerClient } from "@aws-sdk/client-sagemaker";
import { type RetryOptions, retryingClient } from "../lib/aws";
import { CliError, describeKnownError, isError } from "../lib/cli";

/** A model package version as the registry reports it, live. */
export interface CheckedVersion {
  readonly arn: string;
  readonly approvalStatus: string;
  /** Creation progress: Pending, InProgress, Completed, Failed, Deleting. */
  readonly packageStatus: string;
}

/** Errors with which SageMaker answers DescribeModelPackage for a version that does not exist. */
const NOT_FOUND = new Set(["ResourceNotFound", "ResourceNotFoundException", "ValidationException"]);

/**
 * Asks the registry, live, about every version to be promoted (DescribeModelPackage, with the
 * project's retry policy). Each must exist, be Approved and be completely created; otherwise one
 * refusal names every ARN that failed and why. An AWS failure (throttled beyond retries, no access)
 * stops the check and names the ARN it was reading.
 */
export async function checkApprovedVersions(
  sagemaker: SageMakerClient, arns: readonly string[], retry: RetryOptions = {},
): Promise<CheckedVersion[]> {
  const client = retryingClient(sagemaker, retry);
  const checked: CheckedVersion[] = [];
  const problems: string[] = [];
  for (const arn of new Set(arns)) {
    let out;
    try {
      out = await client.send(new DescribeModelPackageCommand({ ModelPackageName: arn }));
    } catch (error) {
      if (isError(error) && NOT_FOUND.has(error.name)) {
        problems.push(`${arn} is not in the registry (${error.name}: ${error.message.split("\n")[0]})`);
        continue;
      }
      const known = describeKnownError(error);
      if (known === undefined) throw error;
      throw new CliError(`cannot check ${arn} in the registry: ${known}`);
    }
    const version = { arn, approvalStatus: out.ModelApprovalStatus ?? "Unknown", packageStatus: out.ModelPackageStatus ?? "Unknown" };
    checked.push(version);
    if (version.approvalStatus !== ModelApprovalStatus.APPROVED) {
      problems.push(`${arn} is ${version.approvalStatus}, not Approved`);
    } else if (version.packageStatus !== "Completed") {
      problems.push(`${arn} is Approved but its creation is ${version.packageStatus}, not Completed`);
    }
  }
  if (problems.length > 0) {
    throw new CliError(`refusing to promote, nothing written: ${problems.join("; ")}; `
      + "promote only versions the registry has approved (registry list --model NAME --status Approved)");
  }
  return checked;
}
