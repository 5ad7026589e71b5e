import type { ToolDeps } from "./lib/aws";
import { COMMON_OPTIONS, EXIT, integerOption, type Io, parseOptions, print, processIo, required } from "./lib/cli";
import {
  type Commands, connectToStage, endpointOf, formatDuration, readStage, runCommands, type Stage, STAGE_ACCESS_HELP, STAGE_ACCESS_OPTIONS,
  type StageAccessValues, type StageConnection, type StageEndpoint, type StagePurpose,
} from "./lib/stage-access";
import {
  DEFAULT_HOURS, DEFAULT_MIN_INVOCATIONS, describeVariants, MAX_HOURS, METRICS_NOTE, metricsLines, type MetricsReport, metricsWindow,
  parseWeightSettings, pickLeader, pulumiNote, shareLines, stateLines, updateWeights, variantMetrics, waitForWeights, weightChange,
} from "./lib/variants";
import { stackFileName } from "../stacks/config/load";

/** A/B variants of a stage's endpoint: list them, change their traffic weights, compare their metrics. Steps in scripts/lib/variants.ts. */

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
  "",
  ...PULUMI_HELP,
  "",
  `Run "${TOOL} <command> --help" for a command's options.`,
  "Exit codes: 0 success, 1 failure or refusal, 2 bad usage.",
  "             (npx projen <task> reports any failure as 1; npm run <task> -- ... keeps each code)",
];

/** For the messages of connectToStage. */
const PURPOSE: StagePurpose = { rights: "that may describe and update the endpoint and read CloudWatch metrics", uses: "endpoints" };

class Session {
  readonly io: Io;
  constructor(readonly deps: VariantsDeps) {
    this.io = deps.io ?? processIo;
  }

  /** The stage and endpoint the command names, from the project's stack files (no AWS call). */
  target(values: { stage?: string; endpoint?: string }): { stage: Stage; endpoint: StageEndpoint } {
    const stage = readStage(this.deps.cwd ?? process.cwd(), required(values.stage, "stage"));
    return { stage, endpoint: endpointOf(stage, required(values.endpoint, "endpoint")) };
  }

  now(): Date {
    return this.deps.now?.() ?? new Date();
  }

  /** Acts as the stage's deployer role (or --role-arn), assumed unless already held; stderr says which and why. */
  connect(stage: Stage, values: StageAccessValues): Promise<StageConnection> {
    return connectToStage(TOOL, this.deps, stage, values, PURPOSE);
  }

  help(command: string): number {
    HELP[command].forEach((line) => this.io.out(line));
    return EXIT.ok;
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
    const hours = integerOption(v.hours, "hours", 1, MAX_HOURS) ?? DEFAULT_HOURS;
    const minInvocations = integerOption(v["min-invocations"], "min-invocations", 1, MAX_MIN_INVOCATIONS) ?? DEFAULT_MIN_INVOCATIONS;

    const connection = await session.connect(stage, v);
    const state = await describeVariants(connection.sagemaker, { name: endpoint.name, stage: stage.config.stage }, connection.retry);
    const window = metricsWindow(session.now(), hours);
    const names = state.variants.map((s) => s.name);
    const metrics = names.length === 0 ? [] : await variantMetrics(connection.cloudwatch, endpoint.name, names, window, connection.retry);
    const report: MetricsReport = {
      endpoint: endpoint.name,
      start: window.start.toISOString(),
      end: window.end.toISOString(),
      hours,
      minInvocations,
      variants: metrics.map((m, i) => ({ ...m, sharePercent: state.variants[i].sharePercent })),
      leader: pickLeader(metrics, minInvocations),
      note: METRICS_NOTE,
    };
    print(session.io, v.json, report, metricsLines);
    return EXIT.ok;
  },
};

/** `variants <command> [options]`: returns the exit code. */
export async function main(argv: readonly string[], deps: VariantsDeps = {}): Promise<number> {
  const session = new Session(deps);
  return runCommands(TOOL, session.io, USAGE, COMMANDS, argv, session);
}

if (require.main === module) {
  void main(process.argv.slice(2)).then((code) => { process.exitCode = code; });
}
