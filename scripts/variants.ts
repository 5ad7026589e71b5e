import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { ToolDeps } from "./lib/aws";
import { CliError, COMMON_OPTIONS, EXIT, integerOption, parseOptions, print, required, UsageError } from "./lib/cli";
import {
  type Commands, endpointOf, formatDuration, runCommands, type Stage, STAGE_ACCESS_HELP, STAGE_ACCESS_OPTIONS,
  type StageConnection, type StageEndpoint, type StagePurpose, StageToolSession,
} from "./lib/stage-access";
import {
  DEFAULT_HOURS, DEFAULT_MIN_INVOCATIONS, deployedModels, deployedSummary, describeVariants, MAX_HOURS, METRICS_NOTE, metricsLines,
  type MetricsReport, metricsWindow, parseWeightSettings, pickLeader, pulumiNote, servesSource, shareLines, stateLines, updateWeights,
  variantMetrics, waitForWeights, weightChange,
} from "./lib/variants";
import { type AbPromotion, type AbTest, abTestOf, allVariants, endpointRef, flowText, promoteWinner, sourceSummary, variantNamed } from "./promote/ab-winner";
import { parseStackFile } from "./promote/changes";
import { withValidatedProposal, writeWhole } from "./promote/edit";
import { stackFileName } from "../stacks/config/load";

/**
 * A/B variants of a stage's endpoint: list them, change their traffic weights, compare their
 * metrics, and end the test in the stack file with its winner. Steps in scripts/lib/variants.ts and
 * scripts/promote/ab-winner.ts.
 */

const TOOL = "variants";

/** What main() can be given instead of the real thing: tests pass a clock and a short, bounded poll. */
export interface VariantsDeps extends ToolDeps {
  /** @default - the system clock */
  readonly now?: () => Date;
  /** Between two polls of the endpoint's status after a weight change. @default 15000 */
  readonly pollIntervalMs?: number;
  /** Polls before giving up waiting. @default 60 (15 minutes at the default interval) */
  readonly maxPolls?: number;
}

const DEFAULT_POLL_MS = 15_000;
const DEFAULT_MAX_POLLS = 60;
/** Far beyond any real endpoint's traffic; only bounds the option. */
const MAX_MIN_INVOCATIONS = 1_000_000_000;

const ACCESS_OPTIONS = { ...COMMON_OPTIONS, ...STAGE_ACCESS_OPTIONS, stage: { type: "string" }, endpoint: { type: "string" } } as const;
const WEIGHTS_OPTIONS = { ...ACCESS_OPTIONS, "set": { type: "string", multiple: true }, "no-wait": { type: "boolean" } } as const;
const METRICS_OPTIONS = { ...ACCESS_OPTIONS, "hours": { type: "string" }, "min-invocations": { type: "string" } } as const;
const PROMOTE_OPTIONS = { ...METRICS_OPTIONS, "variant": { type: "string" }, "dry-run": { type: "boolean" } } as const;

const COMMON_HELP = [
  "  --stage STAGE       One of the stages of Pulumi.yaml",
  "  --endpoint KEY      An endpoint of the stage's stack file (mlplatform:endpoints.<KEY>)",
  ...STAGE_ACCESS_HELP,
  "  --json              Print JSON",
  "  -h, --help          Show this help",
];

const PULUMI_HELP = [
  "Pulumi does not see a weight change: the endpoint configuration it manages keeps the stack file's weights,",
  "and the next `pulumi up` that replaces the endpoint configuration (UpdateEndpoint) resets the weights to",
  "the stack file's values. A lasting split belongs in the stack file (Pulumi.<stage>.yaml).",
];

const listCommand = (stage: string, key: string) => `${TOOL} list --stage ${stage} --endpoint ${key}`;

const HELP: Record<string, readonly string[]> = {
  list: [
    `Usage: ${TOOL} list --stage STAGE --endpoint KEY [options]`,
    "",
    "Prints the endpoint's status and each production variant as SageMaker has it now (DescribeEndpoint):",
    "name, current and desired weight, share of the traffic, current/desired instance count.",
    "",
    ...COMMON_HELP,
    "",
    "Exit codes: 0 listed, 1 the endpoint does not exist or AWS refused, 2 bad usage.",
  ],
  weights: [
    `Usage: ${TOOL} weights --stage STAGE --endpoint KEY --set NAME=WEIGHT [--set NAME=WEIGHT ...] [options]`,
    "",
    "Changes the traffic weights of the endpoint's production variants in place (UpdateEndpointWeightsAndCapacities),",
    "without a new endpoint configuration, waits until the endpoint is InService with them (progress on stderr)",
    "and prints each variant's share of the traffic (its weight / the sum of all weights). Variants not named",
    "keep their weights. The endpoint must be InService: SageMaker refuses a change while an update is in progress.",
    "",
    "  --set NAME=WEIGHT   A production variant of the endpoint (see variants list) and its weight, a number >= 0;",
    "                      repeat per variant. At least one variant must keep a weight above 0.",
    "  --no-wait           Start the change, print the requested shares and return",
    ...COMMON_HELP,
    "",
    ...PULUMI_HELP,
    "",
    "Exit codes: 0 the weights are in effect (or the change started, with --no-wait), 1 the endpoint is not",
    "            InService, the change failed or waiting timed out, or AWS refused, 2 bad usage.",
  ],
  metrics: [
    `Usage: ${TOOL} metrics --stage STAGE --endpoint KEY [--hours N] [--min-invocations N] [options]`,
    "",
    "Summarises each production variant's CloudWatch metrics (AWS/SageMaker, per EndpointName and VariantName)",
    "over the last N hours: Invocations, Invocation4XXErrors and Invocation5XXErrors (sums, and as rates of the",
    "invocations), ModelLatency p50 and p99 in milliseconds. The leader is the variant with the lowest 5XX",
    "error rate among those with enough invocations, ties broken by the lower p99 latency. It helps pick a",
    "winner; it decides nothing (no significance test; no weight changes).",
    "",
    `  --hours N            1-${MAX_HOURS}: the window, up to now (default: ${DEFAULT_HOURS})`,
    `  --min-invocations N  Invocations a variant needs to be compared (default: ${DEFAULT_MIN_INVOCATIONS}); with fewer than`,
    "                       two such variants there is no leader",
    ...COMMON_HELP,
    "",
    "Exit codes: 0 summarised (with or without a leader), 1 the endpoint does not exist or AWS refused, 2 bad usage.",
  ],
  promote: [
    `Usage: ${TOOL} promote --stage STAGE --endpoint KEY [--variant NAME] [--dry-run] [options]`,
    "",
    "Ends the endpoint's A/B test in the stage's stack file (Pulumi.<stage>.yaml) with its winner: the winner's",
    "source replaces the endpoint's source and abTest is removed, so the next deployment serves one variant, the",
    "endpoint's own (its variantName), with the winner's version. When the endpoint's own variant wins, only abTest",
    "is removed. The endpoint keeps its own instanceType and instanceCount (stage values); the output says when",
    "the winner ran on others. The file keeps its comments and layout, must still pass the stack file schema, and",
    "is written whole or not at all. Nothing is deployed: deploy the stage, or merge the change, afterwards.",
    "",
    "  --variant NAME       The winner: the endpoint's own variant or one of abTest.variants (no AWS call)",
    "                       Without it, the leader of `variants metrics` wins: the deployed endpoint must have the",
    "                       stack file's variants, and the leader must serve the stack file's version of itself",
    `  --hours N            Without --variant: the metrics window, 1-${MAX_HOURS} hours up to now (default: ${DEFAULT_HOURS})`,
    `  --min-invocations N  Without --variant: invocations a variant needs to be compared (default: ${DEFAULT_MIN_INVOCATIONS})`,
    "  --dry-run            Show the change, write nothing",
    ...COMMON_HELP,
    "",
    "Exit codes: 0 promoted (or shown, with --dry-run), 1 refused (no A/B test, no leader, a deployed endpoint",
    "            that is not the stack file's; the file is unchanged) or AWS refused, 2 bad usage (unknown stage,",
    "            endpoint or variant).",
  ],
};

const USAGE = [
  `Usage: ${TOOL} <command> [options]`,
  "",
  "A/B variants of a stage's endpoint, in the stage's account, as the stage's deployer role by default",
  "(see --role-arn).",
  "",
  "Commands:",
  "  list      The endpoint's production variants: weights, traffic shares, instances, status",
  "  weights   Change the variants' traffic weights in place and wait until they are in effect",
  "  metrics   Per-variant invocations, error rates and latency from CloudWatch, and the leader",
  "  promote   End the A/B test in the stack file: the winner's source becomes the endpoint's, abTest goes",
  "",
  ...PULUMI_HELP,
  "",
  `Run "${TOOL} <command> --help" for a command's options.`,
  "Exit codes: 0 success, 1 failure or refusal, 2 bad usage.",
  "             (npx projen <task> reports any failure as 1; npm run <task> -- ... keeps each code)",
];

/** For the messages of connectToStage. */
const PURPOSE: StagePurpose = { rights: "that may describe and update the endpoint and read CloudWatch metrics", uses: "endpoints" };

class Session extends StageToolSession<VariantsDeps> {
  constructor(deps: VariantsDeps) {
    super(TOOL, deps, PURPOSE, HELP);
  }

  /** The stage and endpoint the command names, from the project's stack files (no AWS call). */
  target(values: { stage?: string; endpoint?: string }): { stage: Stage; endpoint: StageEndpoint } {
    const stage = this.stage(values.stage);
    return { stage, endpoint: endpointOf(stage, required(values.endpoint, "endpoint")) };
  }

  /** The endpoint's live variants and their CloudWatch summary over the window, with the leader. */
  async metrics(
    connection: StageConnection, stage: Stage, endpoint: StageEndpoint, window: { hours: number; minInvocations: number },
  ): Promise<{ report: MetricsReport; endpointConfig?: string }> {
    const state = await describeVariants(connection.sagemaker, { name: endpoint.name, stage: stage.config.stage }, connection.retry);
    const span = metricsWindow(this.now(), window.hours);
    const names = state.variants.map((s) => s.name);
    const metrics = names.length === 0 ? [] : await variantMetrics(connection.cloudwatch, endpoint.name, names, span, connection.retry);
    const report: MetricsReport = {
      endpoint: endpoint.name,
      start: span.start.toISOString(),
      end: span.end.toISOString(),
      hours: window.hours,
      minInvocations: window.minInvocations,
      variants: metrics.map((m, i) => ({ ...m, sharePercent: state.variants[i].sharePercent })),
      leader: pickLeader(metrics, window.minInvocations),
      note: METRICS_NOTE,
    };
    return { report, endpointConfig: state.endpointConfig };
  }

  /**
   * The leader's name, once the metrics are known to be of the stack file's A/B test: the deployed
   * endpoint has exactly its variants, and the leader serves the stack file's version of itself.
   * Refuses no leader, and a deployed endpoint that is not (yet) the stack file's.
   */
  async checkLeader(
    connection: StageConnection, ab: AbTest, read: { report: MetricsReport; endpointConfig?: string }, stage: Stage,
  ): Promise<string> {
    const { report } = read;
    const ref = endpointRef(ab.file, ab.key);
    const names = allVariants(ab).map((a) => a.name);
    const choose = `choose the winner with --variant NAME (one of ${names.join(", ")})`;
    const leader = report.leader.variant;
    if (leader === null) {
      throw new CliError(`no leader to promote for ${ref}: ${report.leader.reason}. With more traffic a longer --hours (now ${report.hours}) `
        + `or a lower --min-invocations (now ${report.minInvocations}) may name one; or ${choose}`);
    }
    const deploy = `deploy the ${stage.config.stage} stage first (npx projen up:${stage.config.stage}), or ${choose}`;
    const live = report.variants.map((m) => m.variant);
    if ([...live].sort().join(",") !== [...names].sort().join(",")) {
      throw new CliError(`the deployed endpoint ${report.endpoint} has the variants ${live.join(", ")}, but ${ref} has ${names.join(", ")}: `
        + `its metrics are not of the stack file's A/B test; ${deploy}`);
    }
    const deployed = read.endpointConfig === undefined ? [] : await deployedModels(connection.sagemaker, read.endpointConfig, connection.retry);
    const served = deployed.find((d) => d.variant === leader);
    const config = stage.config.endpoints[ab.key];
    const declared = leader === ab.own.name ? config.source : config.abTest?.variants.find((a) => a.name === leader)?.model;
    if (served === undefined || declared === undefined || !servesSource(served, declared)) {
      throw new CliError(`the leader ${leader} of the deployed endpoint ${report.endpoint} serves ${served === undefined ? "nothing known" : deployedSummary(served)}, `
        + `but ${ref} gives ${leader} ${sourceSummary(variantNamed(ab, leader)?.source)}: its metrics are not of that version; ${deploy}`);
    }
    return leader;
  }
}

const COMMANDS: Commands<Session> = {
  list: async (args, session) => {
    const v = parseOptions(args, ACCESS_OPTIONS);
    if (v.help) return session.help("list");
    const { stage, endpoint } = session.target(v);
    const connection = await session.connect(stage, v);
    const state = await describeVariants(connection.sagemaker, { name: endpoint.name, stage: stage.config.stage }, connection.retry);
    print(session.io, v.json, state, stateLines);
    return EXIT.ok;
  },

  weights: async (args, session) => {
    const v = parseOptions(args, WEIGHTS_OPTIONS);
    if (v.help) return session.help("weights");
    const { io } = session;
    const { stage, endpoint } = session.target(v);
    // Every offline check before the first AWS call.
    const settings = parseWeightSettings(v.set);
    const stageName = stage.config.stage;
    const list = listCommand(stageName, endpoint.key);
    const note = pulumiNote(stackFileName(stageName));

    const connection = await session.connect(stage, v);
    const target = { name: endpoint.name, stage: stageName };
    const before = await describeVariants(connection.sagemaker, target, connection.retry);
    const change = weightChange(before, settings, list);
    io.err(`${TOOL}: ${endpoint.name}: setting weights ${change.after.map((a) => `${a.variant} ${a.before ?? "?"} -> ${a.weight}`).join(", ")}`);
    await updateWeights(connection.sagemaker, change, list, connection.retry);

    if (v["no-wait"]) {
      const report = { endpoint: endpoint.name, status: "Updating", waited: false, requested: change.after, note };
      print(io, v.json, report, (r) => [
        `started the weight change of ${r.endpoint}; requested traffic shares:`,
        ...shareLines(r.requested),
        `check it: ${list}`,
        r.note,
      ]);
      return EXIT.ok;
    }

    const pollIntervalMs = session.deps.pollIntervalMs ?? DEFAULT_POLL_MS;
    const maxPolls = session.deps.maxPolls ?? DEFAULT_MAX_POLLS;
    const after = await waitForWeights(() => describeVariants(connection.sagemaker, target, connection.retry), change, {
      pollIntervalMs,
      maxPolls,
      sleep: session.deps.sleep ?? ((ms) => new Promise<void>((resolve) => setTimeout(resolve, ms))),
      now: () => session.now(),
      onPoll: (status, elapsedMs, poll) => io.err(`${TOOL}: ${endpoint.name}: ${status}, ${formatDuration(elapsedMs)} elapsed (poll ${poll} of ${maxPolls})`),
      listCommand: list,
    });
    const shares = after.variants.map((s) => ({ variant: s.name, weight: s.currentWeight ?? 0, sharePercent: s.sharePercent ?? 0 }));
    const report = { endpoint: endpoint.name, status: after.status, waited: true, variants: shares, note };
    print(io, v.json, report, (r) => [
      `endpoint ${r.endpoint} is ${r.status}; traffic shares now:`,
      ...shareLines(r.variants),
      r.note,
    ]);
    return EXIT.ok;
  },

  metrics: async (args, session) => {
    const v = parseOptions(args, METRICS_OPTIONS);
    if (v.help) return session.help("metrics");
    const { stage, endpoint } = session.target(v);
    const window = metricsOptions(v);
    const connection = await session.connect(stage, v);
    const { report } = await session.metrics(connection, stage, endpoint, window);
    print(session.io, v.json, report, metricsLines);
    return EXIT.ok;
  },

  promote: async (args, session) => {
    const v = parseOptions(args, PROMOTE_OPTIONS);
    if (v.help) return session.help("promote");
    const { stage, endpoint } = session.target(v);
    const stageName = stage.config.stage;
    if (v.variant !== undefined && (v.hours !== undefined || v["min-invocations"] !== undefined)) {
      throw new UsageError("--hours and --min-invocations choose the winner from metrics: give them without --variant");
    }
    const window = metricsOptions(v);
    // Every offline check before the first AWS call.
    const cwd = session.deps.cwd ?? process.cwd();
    const file = stackFileName(stageName);
    const stack = parseStackFile(file, readFileSync(join(cwd, file)));
    const ab = abTestOf(stack, endpoint.key, endpoint.config.variantName);
    const known = allVariants(ab).map((a) => a.name).join(", ");

    let metrics: MetricsReport | undefined;
    let winnerName: string;
    if (v.variant !== undefined) {
      winnerName = v.variant;
      if (variantNamed(ab, winnerName) === undefined) {
        throw new UsageError(`unknown variant "${winnerName}" of ${endpointRef(file, endpoint.key)}; its variants are ${known}`);
      }
    } else {
      const connection = await session.connect(stage, v);
      const read = await session.metrics(connection, stage, endpoint, window);
      metrics = read.report;
      winnerName = await session.checkLeader(connection, ab, read, stage);
    }

    const promotion = promoteWinner(stack, ab, variantNamed(ab, winnerName)!);
    const dryRun = v["dry-run"] === true;
    await withValidatedProposal(cwd, stageName, promotion.text, async () => undefined);
    if (!dryRun) writeWhole(join(cwd, file), stack.text, promotion.text);
    const { text: _text, ...change } = promotion;
    const report: PromotionReport = {
      stage: stageName,
      ...change,
      chosenBy: metrics === undefined ? "--variant" : "metrics",
      ...metrics === undefined ? {} : { metrics },
      dryRun,
      written: !dryRun,
      next: nextStep(stageName, promotion, dryRun),
    };
    print(session.io, v.json, report, promotionLines);
    return EXIT.ok;
  },
};

/** The metrics window of `metrics` and `promote`: --hours and --min-invocations, with their defaults. */
function metricsOptions(v: { "hours"?: string; "min-invocations"?: string }): { hours: number; minInvocations: number } {
  return {
    hours: integerOption(v.hours, "hours", 1, MAX_HOURS) ?? DEFAULT_HOURS,
    minInvocations: integerOption(v["min-invocations"], "min-invocations", 1, MAX_MIN_INVOCATIONS) ?? DEFAULT_MIN_INVOCATIONS,
  };
}

/** What `variants promote` did, as --json prints it. */
interface PromotionReport extends Omit<AbPromotion, "text"> {
  readonly stage: string;
  /** How the winner was chosen: named with --variant, or the leader of the metrics. */
  readonly chosenBy: "--variant" | "metrics";
  /**
   * The metrics summary that named the leader.
   * @default - none: chosen with --variant
   */
  readonly metrics?: MetricsReport;
  readonly dryRun: boolean;
  readonly written: boolean;
  /** What to do next, in one line. */
  readonly next: string;
}

/** The next step after ending the test: write it (after --dry-run), then deploy the stage. */
function nextStep(stage: string, p: AbPromotion, dryRun: boolean): string {
  const deploy = `deploy the ${stage} stage (npx projen up:${stage}, or merge the change and let the deploy workflow run): `
    + `the endpoint then serves one variant, ${p.ownVariant}, with ${sourceSummary(p.sourceAfter)}`;
  return dryRun ? `run again without --dry-run to write ${p.file}, then ${deploy}` : deploy;
}

function promotionLines(r: PromotionReport): string[] {
  const how = r.chosenBy === "metrics" ? `the leader of the metrics (${r.metrics?.leader.reason ?? ""})` : "chosen with --variant";
  const source = r.winner === r.ownVariant
    ? `  source: ${flowText(r.sourceBefore)} (kept: the endpoint's own variant won)`
    : `  source: ${flowText(r.sourceBefore)} -> ${flowText(r.sourceAfter)}${r.sourceChanged ? "" : " (the same)"}`;
  return [
    ...r.metrics === undefined ? [] : [...metricsLines(r.metrics), ""],
    `${endpointRef(r.file, r.endpoint)}: ${r.winner} wins the A/B test, ${how}`,
    source,
    `  abTest: removed (${r.removedVariants.map((v) => `${v.name} weight ${v.weight}`).join(", ")})`,
    ...r.sizeNote === undefined ? [] : [`note: ${r.sizeNote}`],
    r.written ? `wrote ${r.file}` : `dry run: ${r.file} not written`,
    `next: ${r.next}`,
  ];
}

/** `variants <command> [options]`: returns the exit code. */
export async function main(argv: readonly string[], deps: VariantsDeps = {}): Promise<number> {
  const session = new Session(deps);
  return runCommands(TOOL, session.io, USAGE, COMMANDS, argv, session);
}

if (require.main === module) {
  void main(process.argv.slice(2)).then((code) => { process.exitCode = code; });
}
