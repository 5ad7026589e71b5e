import type { ModelApprovalStatus } from "@aws-sdk/client-sagemaker";
import type { StackEndpoint, ValueChange } from "./changes";
import { type AccountRef, modelPackageGroupName, modelPackageVersionArn } from "../../components/names";
import { CliError } from "../lib/cli";
import type { ModelVersion } from "../lib/registry";

/**
 * The registry's approvals, flowing to the first stage (`promote --from registry --to <first stage>`):
 * every endpoint of the first stage's stack file that is served from a registry version follows the
 * LATEST APPROVED version of its model's package group. Because it follows "latest approved", not
 * "newest": rejecting the newest version and running the flow again moves the stage back to the
 * approved version before it (seed 001's rollback). Pure: registry listings in, changes and the
 * pull request's content out.
 */

/** A version change of one endpoint, and why. */
export interface ApprovedChange extends ValueChange {
  readonly key: "version";
  readonly oldValue: number;
  readonly newValue: number;
  /** Why the version changes: "8 is the newest approved version", "7 is no longer approved". */
  readonly reason: string;
  /** ARN of the version the endpoint moves to. */
  readonly arn: string;
  /** ARN of the version it served. */
  readonly previousArn: string;
  /** Approval status of the version it served (`ModelApprovalStatus`), or "NotInRegistry". */
  readonly previousStatus: string;
}

/** An endpoint the flow does not touch, and why. */
export interface LeftAlone {
  readonly endpoint: string;
  readonly reason: string;
}

/** What following the registry's approvals does to a stack file. */
export interface ApprovedPlan {
  readonly changes: readonly ApprovedChange[];
  /** Endpoints already serving the latest approved version. */
  readonly unchanged: readonly string[];
  /** Endpoints whose model has no approved version: left as they are, one line each saying so. */
  readonly warnings: readonly string[];
  /** Endpoints that are not served from a registry version (images, multi-model endpoints). */
  readonly leftAlone: readonly LeftAlone[];
}

/** The registry the versions come from. */
export interface RegistryRef {
  /** The registry's account and region. */
  readonly account: AccountRef;
  /** The service, whose name prefixes every model package group. */
  readonly serviceName: string;
}

/** Status of a version that the listing of its group does not contain. */
const NOT_IN_REGISTRY = "NotInRegistry";

// The statuses as literals: projen/retrain-workflows.ts imports this module, and the SDK's enum
// object would load the whole SageMaker client into every projen run.
const APPROVED = "Approved" satisfies ModelApprovalStatus;
const REJECTED = "Rejected" satisfies ModelApprovalStatus;
const PENDING = "PendingManualApproval" satisfies ModelApprovalStatus;

/**
 * The endpoints of a stack file that follow the registry (served from `source.version`), only those
 * serving `model` when it is given, and the others with why they are left alone. Refuses a `model`
 * that no endpoint of the file serves.
 */
export function selectEndpoints(
  endpoints: readonly StackEndpoint[], file: string, model?: string,
): { follow: StackEndpoint[]; leftAlone: LeftAlone[] } {
  const chosen = endpoints.filter((e) => model === undefined || e.model === model);
  if (model !== undefined && chosen.length === 0) throw new CliError(`no endpoint of ${file} serves model "${model}"; nothing to follow`);
  const follows = (e: StackEndpoint) => e.kind === "registry" && !e.multiModel;
  const leftAlone = chosen.filter((e) => !follows(e)).map((e): LeftAlone => ({
    endpoint: e.name,
    reason: e.multiModel
      ? "a multi-model endpoint: it loads approved versions from its prefix of the stage bucket (npx projen models add), not from source.version"
      : "served from an image (source.imageTag or imageDigest with modelDataKey), which the registry does not approve; change it in a reviewed edit",
  }));
  return { follow: chosen.filter(follows), leftAlone };
}

/**
 * The newest version of a listing that the registry has Approved and finished creating (highest
 * version number), or undefined when none is.
 */
export function latestApprovedVersion(versions: readonly ModelVersion[]): ModelVersion | undefined {
  return versions
    .filter((v) => v.approvalStatus === APPROVED && v.packageStatus === "Completed" && v.version !== undefined)
    .reduce<ModelVersion | undefined>((best, v) => (best === undefined || v.version! > best.version! ? v : best), undefined);
}

/**
 * What each followed endpoint's version becomes, given the live listing of every version (all
 * statuses) of each model's group. An endpoint whose model has nothing approved keeps its version,
 * with a warning line.
 */
export function planApproved(
  follow: readonly StackEndpoint[], versions: ReadonlyMap<string, readonly ModelVersion[]>, registry: RegistryRef,
): Omit<ApprovedPlan, "leftAlone"> {
  const changes: ApprovedChange[] = [];
  const unchanged: string[] = [];
  const warnings: string[] = [];
  for (const endpoint of follow) {
    const listing = versions.get(endpoint.model) ?? [];
    const current = endpoint.values.version as number;
    const currentStatus = statusOf(current, listing);
    const latest = latestApprovedVersion(listing);
    const group = modelPackageGroupName(registry.serviceName, endpoint.model);
    if (latest === undefined) {
      const served = currentStatus === APPROVED ? "" : `, which ${statusPhrase(currentStatus)}`;
      warnings.push(`${endpoint.name}: no approved version of ${endpoint.model} in the registry (group ${group}); left at version ${current}${served}`);
      continue;
    }
    const target = latest.version!;
    if (target === current) {
      unchanged.push(endpoint.name);
      continue;
    }
    const reasons = target > current ? [`${target} is the newest approved version`] : [];
    if (currentStatus !== APPROVED) reasons.push(`${current} ${statusPhrase(currentStatus)}`);
    changes.push({
      endpoint: endpoint.name,
      model: endpoint.model,
      key: "version",
      oldValue: current,
      newValue: target,
      reason: reasons.join("; "),
      arn: modelPackageVersionArn(registry.account, group, target),
      previousArn: modelPackageVersionArn(registry.account, group, current),
      previousStatus: currentStatus,
    });
  }
  return { changes, unchanged, warnings };
}

/** The approval status of version `version` in a listing, or NOT_IN_REGISTRY. */
function statusOf(version: number, listing: readonly ModelVersion[]): string {
  const found = listing.find((v) => v.version === version);
  if (found === undefined) return NOT_IN_REGISTRY;
  // Approved but not (yet, or ever) created completely does not count as approved.
  if (found.approvalStatus === APPROVED && found.packageStatus !== "Completed") return `Approved (creation ${found.packageStatus})`;
  return found.approvalStatus;
}

/** What a status means for a version a stage serves: "is no longer approved", "is not in the registry". */
function statusPhrase(status: string): string {
  switch (status) {
    case REJECTED: return "is no longer approved";
    case PENDING: return "is pending approval, not approved";
    case NOT_IN_REGISTRY: return "is not in the registry";
    default: return `is ${status}, not approved`;
  }
}

/** One line per change: `<endpoint>: 7 -> 6 (7 is no longer approved)`; the model follows the endpoint when they differ. */
export function describeChange(change: ApprovedChange): string {
  const name = change.endpoint === change.model ? change.endpoint : `${change.endpoint} (${change.model})`;
  return `${name}: ${change.oldValue} -> ${change.newValue} (${change.reason})`;
}

// ---------------------------------------------------------------------------------------------
// The pull request of the scheduled flow (approved.yml).
// ---------------------------------------------------------------------------------------------

/** The branch of a stage's approved-versions pull request: one per stage, updated in place on every run. */
export function approvedBranch(stage: string): string {
  return `approved/${stage}`;
}

/** The files `promote --pull-request-dir DIR` writes for the workflow: the pull request's title and body. */
export const PULL_REQUEST_FILES = { title: "title.txt", body: "body.md" } as const;

/** A pull request, as the workflow opens or updates it. */
export interface PullRequestContent {
  /** The head branch (approvedBranch). */
  readonly branch: string;
  /** One line; also the commit message. */
  readonly title: string;
  /** Markdown. */
  readonly body: string;
  /** The only file the pull request changes: the stage's stack file. */
  readonly file: string;
}

/** Everything the pull request describes. */
export interface PullRequestInput {
  readonly stage: string;
  /** The stage's stack file (`Pulumi.<stage>.yaml`). */
  readonly file: string;
  readonly plan: ApprovedPlan;
  readonly registry: RegistryRef;
  /**
   * The offline plan diff of the stage with the change.
   * @default - none shown
   */
  readonly planDiff?: readonly string[];
}

/** Changes named one by one in the title; more are counted. */
const TITLE_CHANGES = 3;

/**
 * The pull request that moves the first stage to the latest approved versions: a title naming the
 * changes, and a body with each endpoint's old and new version and why, the ARNs of both versions,
 * the endpoints left as they are and why, and the offline plan diff when there is one.
 */
export function approvedPullRequest(input: PullRequestInput): PullRequestContent {
  const { stage, file, plan, registry } = input;
  const changes = plan.changes;
  const named = changes.length <= TITLE_CHANGES
    ? changes.map((c) => `${c.endpoint} ${c.oldValue} -> ${c.newValue}`).join(", ")
    : `${changes.length} endpoints`;
  const title = changes.length === 0
    ? `${stage}: already serves the latest approved versions`
    : `${stage}: latest approved model versions (${named})`;
  const account = registry.account;
  const lines = [
    `Every endpoint of \`${file}\` served from a registry version follows the latest **Approved** version of its model's package group `
      + `(registry account ${account.accountId}, ${account.region}). Approving a version moves ${stage} to it; rejecting the newest moves ${stage} `
      + "back to the approved version before it.",
    "",
  ];
  if (changes.length > 0) {
    lines.push(
      "| Endpoint | Model | Version | Why |",
      "| --- | --- | --- | --- |",
      ...changes.map((c) => `| \`${c.endpoint}\` | \`${c.model}\` | ${c.oldValue} -> ${c.newValue} | ${c.reason} |`),
      "",
      "Model package versions:",
      "",
      ...changes.map((c) => `- \`${c.endpoint}\`: \`${c.arn}\` (was \`${c.previousArn}\`, ${c.previousStatus})`),
      "",
    );
  } else {
    lines.push(`No change: ${stage} already serves the latest approved versions.`, "");
  }
  if (plan.unchanged.length > 0) lines.push(`Already at the latest approved version: ${plan.unchanged.map((e) => `\`${e}\``).join(", ")}.`, "");
  if (plan.warnings.length > 0) lines.push("**Warnings**", "", ...plan.warnings.map((w) => `- ${w}`), "");
  if (plan.leftAlone.length > 0) lines.push("Left alone:", "", ...plan.leftAlone.map((l) => `- \`${l.endpoint}\`: ${l.reason}`), "");
  if (input.planDiff !== undefined && changes.length > 0) {
    const fence = codeFence(input.planDiff);
    lines.push(`<details><summary>Offline plan diff of ${stage}</summary>`, "", fence, ...input.planDiff, fence, "", "</details>", "");
  }
  lines.push(
    `Merging deploys ${stage}; promote.yml then moves the versions on, stage by stage. `
      + `Written by \`promote --from registry --to ${stage}\`; every run updates this pull request on branch \`${approvedBranch(stage)}\`, `
      + `and closes it when ${stage} already serves the latest approved versions.`,
  );
  return { branch: approvedBranch(stage), title, body: `${lines.join("\n")}\n`, file };
}

/** A Markdown code fence longer than any run of backticks in `lines`. */
function codeFence(lines: readonly string[]): string {
  const longest = Math.max(0, ...lines.map((l) => Math.max(0, ...(l.match(/`+/g) ?? []).map((run) => run.length))));
  return "`".repeat(Math.max(3, longest + 1));
}
