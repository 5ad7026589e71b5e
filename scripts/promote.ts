import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { modelPackageGroupName, modelPackageVersionArn, REGISTRY_STACK } from "../components/names";
import type { ToolDeps } from "./lib/aws";
import {
  CliError, COMMON_OPTIONS, describeKnownError, EXIT, type Io, isError, type ParsedOptions, parseOptions, print, processIo, required, runTool, table,
  UsageError,
} from "./lib/cli";
import {
  groupOf, listVersions, type ModelVersion, type Registry, REGISTRY_ACCESS_HELP, REGISTRY_ACCESS_OPTIONS, type RegistryAccessValues, registryClients,
} from "./lib/registry";
import {
  type ApprovedPlan, approvedPullRequest, describeChange, planApproved, PULL_REQUEST_FILES, type PullRequestContent, selectEndpoints,
} from "./promote/approved";
import { parseStackFile, planPromotion, type PromotionPlan, type StackEndpoint, stackEndpoints, type StackFile } from "./promote/changes";
import { applyChanges, withValidatedProposal, writeWhole } from "./promote/edit";
import { offlinePlanDiff, type PlanDiffHook, type PlanDiffInput } from "./promote/plan-diff";
import { type CheckedVersion, checkApprovedVersions } from "./promote/registry-check";
import { promotionRoute } from "./promote/stages";
import { readProjectConfig, readStackConfigFiles } from "../stacks/config/files";
import { ConfigError, loadStackConfig, stackFileName } from "../stacks/config/load";
import { registryAccountRef } from "../stacks/config/schema";

/**
 * `promote --from <stage> --to <stage>`: copies the promotable values (model package versions,
 * image tags with their model data) from one stage's stack file to the next one's, after the
 * registry has confirmed, live, that every promoted version is Approved. Only those values change;
 * the target file keeps its comments and layout, and is written whole or not at all.
 *
 * `promote --from registry --to <first stage>`: the registry's approvals flow to the first stage.
 * Each endpoint served from a registry version gets the latest Approved version of its model
 * (scripts/promote/approved.ts), so rejecting the newest version and running it again rolls the
 * stage back to the approved version before it. approved.yml runs it daily and opens the pull request.
 */

const TOOL = "promote";

const HELP = [
  `Usage: ${TOOL} --from STAGE --to STAGE [--model NAME] [--dry-run] [--skip-stage --reason TEXT] [options]`,
  `       ${TOOL} --from ${REGISTRY_STACK} --to FIRST-STAGE [--model NAME] [--dry-run] [--pull-request-dir DIR] [options]`,
  "",
  "Promotes model versions from one stage's stack file (Pulumi.<from>.yaml) to the next stage's:",
  "each endpoint's source.version, or source.imageTag (or imageDigest) with source.modelDataKey, matched by",
  "endpoint name. Stage values (accounts, instance types and counts, strategies, alarms, tags) never",
  "move. Every promoted model package must be Approved in the registry (checked live); images cannot",
  "be approval-checked, only that they come from the registry's repository and bucket.",
  "",
  `With --from ${REGISTRY_STACK}, the first stage follows the registry's approvals: each endpoint served from a`,
  "registry version (source.version) gets the latest Approved version of its model, read live. Rejecting the",
  "newest version and running it again moves the stage back to the approved version before it. An endpoint",
  "whose model has no approved version keeps its version (with a warning); images and multi-model endpoints",
  "are left alone.",
  "",
  "Options:",
  "  --from STAGE        Stage to promote from",
  "  --to STAGE          Stage to promote to: the next one in Pulumi.yaml's stage order",
  "  --model NAME        Only endpoints serving this model",
  "  --dry-run           Check and show the change, write nothing",
  "  --skip-stage        Allow promoting past stages (needs --reason)",
  "  --reason TEXT       Why stages are skipped; written as a comment beside each promoted value",
  `  --pull-request-dir DIR  With --from ${REGISTRY_STACK}: write the pull request's title and body there`,
  `                      (${PULL_REQUEST_FILES.title}, ${PULL_REQUEST_FILES.body})`,
  ...REGISTRY_ACCESS_HELP,
  "  --json              Print the result as JSON",
  "  -h, --help          Show this help",
  "",
  "Exit codes: 0 promoted (or nothing to promote), 1 refused or failed (file unchanged), 2 bad usage.",
  "             (npx projen <task> reports any failure as 1; npm run <task> -- ... keeps each code)",
];

const OPTIONS = {
  ...COMMON_OPTIONS,
  ...REGISTRY_ACCESS_OPTIONS,
  "from": { type: "string" },
  "to": { type: "string" },
  "model": { type: "string" },
  "dry-run": { type: "boolean" },
  "skip-stage": { type: "boolean" },
  "reason": { type: "string" },
  "pull-request-dir": { type: "string" },
} as const;

/** What main() can be given instead of the real thing: ToolDeps, and the plan diff. */
export interface PromoteDeps extends ToolDeps {
  /** @default offlinePlanDiff */
  readonly planDiff?: PlanDiffHook;
}

/** What a promotion did, as `--json` prints it. */
interface PromotionResult {
  readonly from: string;
  readonly to: string;
  readonly file: string;
  readonly model?: string;
  readonly skippedStages: readonly string[];
  readonly reason?: string;
  readonly changes: PromotionPlan["changes"];
  readonly unchanged: readonly string[];
  readonly notInTarget: readonly string[];
  /** Model package versions the registry confirmed as Approved. */
  readonly checkedVersions: readonly CheckedVersion[];
  /** Images promoted: checked to be in the registry repository, not approval-checked. */
  readonly imagesNotApprovalChecked: readonly string[];
  readonly planDiff?: readonly string[];
  readonly dryRun: boolean;
  readonly written: boolean;
}

/** `promote --from STAGE --to STAGE ...`: returns the exit code. */
export async function main(argv: readonly string[], deps: PromoteDeps = {}): Promise<number> {
  const io = deps.io ?? processIo;
  return runTool(TOOL, io, async () => {
    const v = parseOptions(argv, OPTIONS);
    if (v.help) {
      HELP.forEach((line) => io.out(line));
      return EXIT.ok;
    }
    const cwd = deps.cwd ?? process.cwd();
    const from = required(v.from, "from");
    const to = required(v.to, "to");
    const registry = readProjectConfig(cwd);
    if (from === REGISTRY_STACK) return followApprovals(registry, to, v, deps, { cwd, io });
    if (v["pull-request-dir"] !== undefined) throw new UsageError(`--pull-request-dir goes with --from ${REGISTRY_STACK}`);
    const route = promotionRoute(registry.project.stages.map((s) => s.name), { from, to, skipStage: v["skip-stage"] === true, reason: v.reason });
    if (v.model !== undefined) groupOf(registry, v.model);

    const source = readStack(cwd, from);
    const target = readStack(cwd, to);
    refuseLegacySources(cwd, [from, to]);
    const plan = planPromotion(source, target, { model: v.model });
    const result = {
      from,
      to,
      file: target.file,
      model: v.model,
      skippedStages: route.skipped,
      reason: route.reason,
      changes: plan.changes,
      unchanged: plan.unchanged,
      notInTarget: plan.notInTarget,
      dryRun: v["dry-run"] === true,
    };
    if (plan.changes.length === 0) {
      print(io, v.json, { ...result, checkedVersions: [], imagesNotApprovalChecked: [], written: false }, report);
      return EXIT.ok;
    }

    const text = applyChanges(target, plan.changes, route);
    // Offline checks first, then the registry (live), then the plan diff for the reviewer.
    const { checkedVersions, planDiff } = await withValidatedProposal(cwd, to, text, async (proposal) => ({
      checkedVersions: await checkRegistry(registry, plan, v, deps),
      planDiff: await showPlanDiff(deps.planDiff ?? offlinePlanDiff, { stage: to, currentDir: cwd, proposedDir: proposal.dir }, io),
    }));
    if (!result.dryRun) writeWhole(join(cwd, target.file), target.text, text);
    print(io, v.json, {
      ...result,
      checkedVersions,
      imagesNotApprovalChecked: plan.changes.filter((c) => c.key === "imageTag" || c.key === "imageDigest").map((c) => String(c.newValue)),
      planDiff,
      written: !result.dryRun,
    }, report);
    return EXIT.ok;
  });
}

function readStack(cwd: string, stage: string): StackFile {
  const file = stackFileName(stage);
  let text: Buffer;
  try {
    // As bytes: parseStackFile checks they are UTF-8 before anything is read from them.
    text = readFileSync(join(cwd, file));
  } catch (error) {
    throw new CliError(`cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? "unknown error"}); does the ${stage} stack exist?`);
  }
  return parseStackFile(file, text);
}

/** A source key of the template's earlier versions (a full ARN, image URI or S3 URL), as the config schema's problems name it. */
const LEGACY_SOURCE_KEY = /\.source\.(modelPackageArn|image|modelDataUrl)$/;

/**
 * Refuses stack files still written with the old source keys, with the config schema's hint of what
 * to write instead (planPromotion would only say that the source has no version or image).
 */
function refuseLegacySources(cwd: string, stages: readonly string[]): void {
  const problems = stages.flatMap((stage) => {
    try {
      loadStackConfig(stage, readStackConfigFiles(cwd, stage));
      return [];
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      return error.problems.filter((p) => LEGACY_SOURCE_KEY.test(p.path));
    }
  });
  if (problems.length > 0) {
    throw new CliError(`refusing to promote, nothing written: ${problems.map((p) => `${p.file}: ${p.path}: ${p.message}`).join("; ")}`);
  }
}

/**
 * The plan diff informs the reviewer; it does not decide the promotion (validation and the registry
 * do). If the plan tool fails, say so and go on without it.
 */
async function showPlanDiff(hook: PlanDiffHook, input: PlanDiffInput, io: Io): Promise<readonly string[] | undefined> {
  try {
    return await hook(input);
  } catch (error) {
    io.err(`${TOOL}: no plan diff (the offline plan failed: ${describeKnownError(error) ?? (isError(error) ? error.message.split("\n")[0] : String(error))})`);
    return undefined;
  }
}

/** Every promoted model package version, checked live in the registry account as the registry's reader role. */
async function checkRegistry(
  registry: Registry, plan: PromotionPlan, values: RegistryAccessValues, deps: ToolDeps,
): Promise<CheckedVersion[]> {
  const account = registryAccountRef(registry.project, registry.region);
  const arns = plan.changes.filter((c) => c.key === "version")
    .map((c) => modelPackageVersionArn(account, modelPackageGroupName(registry.project.serviceName, c.model), Number(c.newValue)));
  if (arns.length === 0) return [];
  const { sagemaker, retry } = await registryClients(TOOL, registry, "read", values, deps);
  return checkApprovedVersions(sagemaker, arns, retry);
}

function report(r: PromotionResult): string[] {
  const lines = [`promote ${r.from} -> ${r.to}${r.model !== undefined ? ` (model ${r.model})` : ""}: ${r.file}`];
  if (r.skippedStages.length > 0) lines.push(`skipping ${r.skippedStages.join(", ")}: ${r.reason ?? ""}`);
  if (r.changes.length === 0) {
    lines.push(`nothing to promote: ${r.to} already serves what ${r.from} serves${r.unchanged.length > 0 ? ` (${r.unchanged.join(", ")})` : ""}`);
  } else {
    lines.push(...table([["ENDPOINT", "KEY", "CHANGE"], ...r.changes.map((c) => [c.endpoint, `source.${c.key}`, `${c.oldValue} -> ${c.newValue}`])]));
  }
  if (r.unchanged.length > 0 && r.changes.length > 0) lines.push(`unchanged: ${r.unchanged.join(", ")}`);
  for (const name of r.notInTarget) lines.push(`not promoted: endpoint ${name} is not in ${r.file} (promote never creates endpoints; add it there by hand)`);
  for (const version of r.checkedVersions) lines.push(`registry: ${version.arn} is ${version.approvalStatus}`);
  if (r.imagesNotApprovalChecked.length > 0) {
    lines.push("note: images are not approval-checked (the model registry does not track them); "
      + `checked only that they come from the registry repository: ${r.imagesNotApprovalChecked.join(", ")}`);
  }
  if (r.changes.length > 0) {
    if (r.planDiff === undefined) lines.push("plan diff: not available");
    else lines.push(`plan diff of ${r.to} (offline):`, ...r.planDiff.map((line) => `  ${line}`));
  }
  if (r.changes.length > 0) lines.push(r.written ? `wrote ${r.file}` : `dry run: ${r.file} not written`);
  return lines;
}

// ---------------------------------------------------------------------------------------------
// --from registry: the first stage follows the registry's approvals.
// ---------------------------------------------------------------------------------------------

/** What following the registry did, as `--json` prints it. */
interface FollowResult extends ApprovedPlan {
  readonly from: typeof REGISTRY_STACK;
  readonly to: string;
  readonly file: string;
  readonly model?: string;
  readonly planDiff?: readonly string[];
  readonly dryRun: boolean;
  readonly written: boolean;
  /** The pull request's branch and title, when --pull-request-dir wrote its files. */
  readonly pullRequest?: Pick<PullRequestContent, "branch" | "title">;
}

/**
 * `--from registry --to <first stage>`: each endpoint of the first stage served from a registry
 * version gets the latest Approved version of its model's group (listed live as the reader role),
 * written with promotion's in-place, validated, whole-or-nothing edit.
 */
async function followApprovals(
  registry: Registry, to: string, v: ParsedOptions<typeof OPTIONS>, deps: PromoteDeps, where: { cwd: string; io: Io },
): Promise<number> {
  const { cwd, io } = where;
  const stages = registry.project.stages.map((s) => s.name);
  const index = stages.indexOf(to);
  if (index < 0) throw new UsageError(`--to "${to}" is not a stage; the stages in Pulumi.yaml are ${stages.join(" -> ")}`);
  if (index > 0) {
    throw new UsageError(`--from ${REGISTRY_STACK} goes to the first stage only (${stages[0]}); approved versions reach ${to} by promotion `
      + `from the stage before it: promote --from ${stages[index - 1]} --to ${to}`);
  }
  if (v["skip-stage"] === true || v.reason !== undefined) {
    throw new UsageError(`--skip-stage and --reason go with promotions between stages, not with --from ${REGISTRY_STACK}`);
  }
  if (v.model !== undefined) groupOf(registry, v.model);
  const target = readStack(cwd, to);
  refuseLegacySources(cwd, [to]);
  const { follow, leftAlone } = selectEndpoints(stackEndpoints(target), target.file, v.model);
  const ref = { account: registryAccountRef(registry.project, registry.region), serviceName: registry.project.serviceName };
  const plan: ApprovedPlan = { ...planApproved(follow, await listRegistry(registry, follow, v, deps), ref), leftAlone };
  const dryRun = v["dry-run"] === true;
  let planDiff: readonly string[] | undefined;
  if (plan.changes.length > 0) {
    const text = applyChanges(target, plan.changes, { from: REGISTRY_STACK, to, skipped: [] });
    planDiff = await withValidatedProposal(cwd, to, text, (proposal) => showPlanDiff(
      deps.planDiff ?? offlinePlanDiff, { stage: to, currentDir: cwd, proposedDir: proposal.dir }, io,
    ));
    if (!dryRun) writeWhole(join(cwd, target.file), target.text, text);
  }
  let pullRequest: FollowResult["pullRequest"];
  const prDir = v["pull-request-dir"];
  if (prDir !== undefined) {
    const content = approvedPullRequest({ stage: to, file: target.file, plan, registry: ref, planDiff });
    writePullRequest(resolve(cwd, prDir), content);
    pullRequest = { branch: content.branch, title: content.title };
  }
  const result: FollowResult = {
    from: REGISTRY_STACK, to, file: target.file, model: v.model, ...plan, planDiff, dryRun, written: plan.changes.length > 0 && !dryRun, pullRequest,
  };
  print(io, v.json, result, followReport);
  return EXIT.ok;
}

/** Every version (all statuses) of each followed model's group, listed live as the registry's reader role; no AWS call when nothing follows. */
async function listRegistry(
  registry: Registry, follow: readonly StackEndpoint[], values: RegistryAccessValues, deps: ToolDeps,
): Promise<Map<string, readonly ModelVersion[]>> {
  const versions = new Map<string, readonly ModelVersion[]>();
  const models = [...new Set(follow.map((e) => e.model))];
  if (models.length === 0) return versions;
  const { sagemaker, retry } = await registryClients(TOOL, registry, "read", values, deps);
  for (const model of models) {
    const group = modelPackageGroupName(registry.project.serviceName, model);
    try {
      versions.set(model, await listVersions(sagemaker, group, {}, retry));
    } catch (error) {
      const known = describeKnownError(error);
      if (known === undefined) throw error;
      throw new CliError(`cannot list the versions of ${group} in the registry, nothing written: ${known}`);
    }
  }
  return versions;
}

/** Writes the pull request's title and body into `dir` (created if missing; a relative --pull-request-dir is the project directory's). */
function writePullRequest(dir: string, content: PullRequestContent): void {
  try {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, PULL_REQUEST_FILES.title), `${content.title}\n`);
    writeFileSync(join(dir, PULL_REQUEST_FILES.body), content.body);
  } catch (error) {
    const { code, message } = error as NodeJS.ErrnoException;
    throw new CliError(`cannot write the pull request's files into --pull-request-dir ${dir} (${code ?? message})`);
  }
}

function followReport(r: FollowResult): string[] {
  const lines = [`promote ${r.from} -> ${r.to}${r.model !== undefined ? ` (model ${r.model})` : ""}: ${r.file} follows the latest approved versions`];
  lines.push(...r.changes.map(describeChange));
  if (r.unchanged.length > 0) lines.push(`unchanged (already the latest approved version): ${r.unchanged.join(", ")}`);
  lines.push(...r.warnings.map((w) => `warning: ${w}`));
  lines.push(...r.leftAlone.map((l) => `left alone: ${l.endpoint}: ${l.reason}`));
  if (r.changes.length === 0) {
    lines.push(r.unchanged.length > 0 || r.warnings.length > 0
      ? `nothing to change: ${r.file} is unchanged`
      : `nothing follows the registry: no endpoint of ${r.file} is served from a registry version`);
  } else {
    if (r.planDiff === undefined) lines.push("plan diff: not available");
    else lines.push(`plan diff of ${r.to} (offline):`, ...r.planDiff.map((line) => `  ${line}`));
    lines.push(r.written ? `wrote ${r.file}` : `dry run: ${r.file} not written`);
  }
  if (r.pullRequest !== undefined) lines.push(`pull request on ${r.pullRequest.branch}: ${r.pullRequest.title}`);
  return lines;
}

if (require.main === module) {
  void main(process.argv.slice(2)).then((code) => { process.exitCode = code; });
}
