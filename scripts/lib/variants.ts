import { type CloudWatchClient, GetMetricDataCommand, type MetricDataQuery, StatusCode } from "@aws-sdk/client-cloudwatch";
import {
  DescribeEndpointConfigCommand,
  type DescribeEndpointCommandOutput,
  DescribeModelCommand,
  type DesiredWeightAndCapacity,
  EndpointStatus,
  type SageMakerClient,
  UpdateEndpointWeightsAndCapacitiesCommand,
} from "@aws-sdk/client-sagemaker";
import { isRetryable, type RetryOptions, retryingClient, withRetries } from "./aws";
import { CliError, describeKnownError, table, UsageError } from "./cli";
import { describeEndpoint, dropUndefined, formatDuration, isThrottlingError } from "./stage-access";
import type { ModelSource } from "../../components/model-source";

/**
 * A/B variants of a deployed endpoint: the production variants as SageMaker reports them, a change
 * of their traffic weights without a new endpoint configuration (UpdateEndpointWeightsAndCapacities),
 * and a per-variant summary of CloudWatch metrics that helps pick a winner. Each step is a
 * function; the CLI (scripts/variants.ts) only parses arguments and builds clients.
 *
 * Pulumi does not see a weight change: the endpoint configuration it manages keeps the weights of
 * the stack file, and the next `pulumi up` that replaces the configuration (UpdateEndpoint) puts
 * them back. A lasting split belongs in the stack file.
 */

// ---------------------------------------------------------------------------------------------
// The endpoint's variants, as SageMaker describes them.
// ---------------------------------------------------------------------------------------------

/** One production variant of a live endpoint. */
export interface VariantState {
  readonly name: string;
  /** The weight routing uses now. */
  readonly currentWeight?: number;
  /** The weight asked for (by the endpoint configuration or the last weight change). */
  readonly desiredWeight?: number;
  /** currentWeight as a percentage of all variants' current weights; null when they add up to 0. */
  readonly sharePercent: number | null;
  /** Unset for serverless variants. */
  readonly currentInstanceCount?: number;
  readonly desiredInstanceCount?: number;
  /** A serverless variant (no instances). */
  readonly serverless: boolean;
}

/** A live endpoint and its production variants. */
export interface EndpointState {
  readonly endpoint: string;
  readonly endpointConfig?: string;
  readonly status: string;
  readonly failureReason?: string;
  readonly variants: readonly VariantState[];
}

/** Each weight as a percentage of their sum; null each when the sum is 0 (or a weight is unknown). */
export function sharesPercent(weights: readonly (number | undefined)[]): (number | null)[] {
  const total = weights.reduce<number>((sum, w) => sum + (w ?? 0), 0);
  return weights.map((w) => (w === undefined || total <= 0 ? null : (w / total) * 100));
}

/** The state of a DescribeEndpoint answer, keys SageMaker left out dropped (so --json shows none empty). */
export function endpointState(described: DescribeEndpointCommandOutput): EndpointState {
  const variants = described.ProductionVariants ?? [];
  const shares = sharesPercent(variants.map((v) => v.CurrentWeight));
  return dropUndefined({
    endpoint: described.EndpointName ?? "",
    endpointConfig: described.EndpointConfigName,
    status: described.EndpointStatus ?? "Unknown",
    failureReason: described.FailureReason,
    variants: variants.map((v, i) => dropUndefined({
      name: v.VariantName ?? "",
      currentWeight: v.CurrentWeight,
      desiredWeight: v.DesiredWeight,
      sharePercent: shares[i],
      currentInstanceCount: v.CurrentInstanceCount,
      desiredInstanceCount: v.DesiredInstanceCount,
      serverless: v.CurrentServerlessConfig !== undefined || v.DesiredServerlessConfig !== undefined,
    })),
  });
}

/** DescribeEndpoint of the endpoint, as its state; an endpoint that does not exist is a CliError saying to deploy the stage first. */
export async function describeVariants(
  sagemaker: SageMakerClient, endpoint: { name: string; stage: string }, retry: RetryOptions = {},
): Promise<EndpointState> {
  return endpointState(await describeEndpoint(sagemaker, endpoint, retry));
}

/** What a deployed production variant serves: its model's container, as DescribeModel reports it. */
export interface DeployedModel {
  readonly variant: string;
  readonly modelName: string;
  /** Set for a model made from a registry model package version. */
  readonly modelPackageArn?: string;
  /** Set for a model made from an image and model data. */
  readonly image?: string;
  readonly modelDataUrl?: string;
}

/** DescribeEndpointConfig of `endpointConfig`, then DescribeModel of each variant's model: what each variant serves. */
export async function deployedModels(sagemaker: SageMakerClient, endpointConfig: string, retry: RetryOptions = {}): Promise<DeployedModel[]> {
  const client = retryingClient(sagemaker, retry);
  const config = await client.send(new DescribeEndpointConfigCommand({ EndpointConfigName: endpointConfig }));
  const models: DeployedModel[] = [];
  for (const variant of config.ProductionVariants ?? []) {
    const modelName = variant.ModelName ?? "";
    const model = await client.send(new DescribeModelCommand({ ModelName: modelName }));
    const container = model.PrimaryContainer ?? model.Containers?.[0] ?? {};
    models.push(dropUndefined({
      variant: variant.VariantName ?? "",
      modelName,
      modelPackageArn: container.ModelPackageName,
      image: container.Image,
      modelDataUrl: container.ModelDataUrl ?? container.ModelDataSource?.S3DataSource?.S3Uri,
    }));
  }
  return models;
}

/** Whether a deployed model serves `source` (a stack file's source, resolved): the same package version, or the same image and model data. */
export function servesSource(deployed: DeployedModel, source: ModelSource): boolean {
  return "modelPackageArn" in source
    ? deployed.modelPackageArn === source.modelPackageArn
    : deployed.modelPackageArn === undefined && deployed.image === source.image && deployed.modelDataUrl === source.modelDataUrl;
}

/** What a deployed model serves, in words. */
export function deployedSummary(deployed: DeployedModel): string {
  if (deployed.modelPackageArn !== undefined) return `model package ${deployed.modelPackageArn}`;
  return `image ${deployed.image ?? "?"} with model data ${deployed.modelDataUrl ?? "?"}`;
}

// ---------------------------------------------------------------------------------------------
// Weight changes.
// ---------------------------------------------------------------------------------------------

/** One `--set NAME=WEIGHT`. */
export interface WeightSetting {
  readonly variant: string;
  readonly weight: number;
}

/** A plain decimal: no sign, exponent, Infinity or NaN. */
const DECIMAL = /^\d+(\.\d+)?$/;

/**
 * Parses `--set NAME=WEIGHT` values (offline). A weight is a non-negative decimal: SageMaker's API
 * model gives DesiredWeight (VariantWeight) as a float with a minimum of 0 and no maximum; weights
 * are relative, each variant getting weight / sum of all weights of the traffic.
 */
export function parseWeightSettings(values: readonly string[] | undefined): WeightSetting[] {
  if (values === undefined || values.length === 0) throw new UsageError("--set NAME=WEIGHT is required, once per variant to change");
  const settings: WeightSetting[] = [];
  for (const value of values) {
    const at = value.lastIndexOf("=");
    const variant = at < 0 ? "" : value.slice(0, at);
    const weight = at < 0 ? "" : value.slice(at + 1);
    if (variant === "" || weight === "") throw new UsageError(`--set must be NAME=WEIGHT, such as --set green=1; got "${value}"`);
    const n = Number(weight);
    if (!DECIMAL.test(weight) || !Number.isFinite(n)) {
      throw new UsageError(`--set ${variant}: the weight must be a non-negative number such as 0, 1 or 0.25 (SageMaker's minimum is 0); got "${weight}"`);
    }
    if (settings.some((s) => s.variant === variant)) throw new UsageError(`--set names variant "${variant}" twice`);
    settings.push({ variant, weight: n });
  }
  return settings;
}

/** The request of a weight change, after checking it against the live endpoint. */
export interface WeightChange {
  readonly input: { EndpointName: string; DesiredWeightsAndCapacities: DesiredWeightAndCapacity[] };
  /** Every variant's weight after the change, in the endpoint's order, and its share of the traffic. */
  readonly after: readonly { variant: string; before?: number; weight: number; sharePercent: number }[];
}

/**
 * Checks `settings` against the endpoint: each names one of its production variants, at least one
 * variant keeps a weight above 0, and the endpoint is InService (UpdateEndpointWeightsAndCapacities
 * refuses an endpoint with an update in progress). Returns the request; no AWS call.
 */
export function weightChange(state: EndpointState, settings: readonly WeightSetting[], listCommand: string): WeightChange {
  const names = state.variants.map((v) => v.name);
  const unknown = settings.filter((s) => !names.includes(s.variant)).map((s) => `"${s.variant}"`);
  if (unknown.length > 0) {
    throw new UsageError(`${unknown.length === 1 ? "unknown variant" : "unknown variants"} ${unknown.join(", ")}; `
      + `the production variants of endpoint ${state.endpoint} are ${names.join(", ") || "none"}`);
  }
  const weights = state.variants.map((v) => {
    const set = settings.find((s) => s.variant === v.name);
    return { variant: v.name, before: v.currentWeight, weight: set?.weight ?? v.desiredWeight ?? v.currentWeight ?? 0 };
  });
  if (weights.every((w) => w.weight === 0)) {
    throw new UsageError(`every variant of endpoint ${state.endpoint} would have weight 0, and requests that name no TargetVariant would fail: `
      + "keep at least one weight above 0");
  }
  if (state.status !== EndpointStatus.IN_SERVICE) {
    throw new CliError(`endpoint ${state.endpoint} is ${state.status}, not InService: SageMaker refuses a weight change while an update is in `
      + `progress or the endpoint is not serving; wait until it is InService (${listCommand})`);
  }
  const shares = sharesPercent(weights.map((w) => w.weight));
  return {
    input: {
      EndpointName: state.endpoint,
      DesiredWeightsAndCapacities: settings.map((s) => ({ VariantName: s.variant, DesiredWeight: s.weight })),
    },
    after: weights.map((w, i) => ({ ...w, sharePercent: shares[i] ?? 0 })),
  };
}

/**
 * UpdateEndpointWeightsAndCapacities. Only a throttled call (refused before anything changed) is
 * retried; after another failure the change may or may not have started, and a second call would
 * be refused while it runs, so the message says how to find out instead.
 */
export async function updateWeights(
  sagemaker: SageMakerClient, change: WeightChange, listCommand: string, retry: RetryOptions = {},
): Promise<void> {
  await withRetries(async () => {
    try {
      return await sagemaker.send(new UpdateEndpointWeightsAndCapacitiesCommand(change.input));
    } catch (error) {
      if (isRetryable(error) && !isThrottlingError(error)) {
        throw new CliError(`UpdateEndpointWeightsAndCapacities of ${change.input.EndpointName} failed with ${describeKnownError(error) ?? error.message}; `
          + `the change may or may not have started: check with "${listCommand}" before trying again`);
      }
      throw error;
    }
  }, { ...retry, label: "UpdateEndpointWeightsAndCapacities" });
}

export interface WeightWaitOptions {
  /** Between two DescribeEndpoint calls. */
  readonly pollIntervalMs: number;
  /** DescribeEndpoint calls in all before giving up. */
  readonly maxPolls: number;
  readonly sleep: (ms: number) => Promise<void>;
  readonly now: () => Date;
  /** Called after every poll with the endpoint's status, the time since waiting began and the poll's number. */
  readonly onPoll: (status: string, elapsedMs: number, poll: number) => void;
  /** What to run to look at the endpoint later, for messages. */
  readonly listCommand: string;
}

/** Statuses an update ends in without serving: waiting longer changes nothing. */
const BROKEN = new Set<string>([
  EndpointStatus.FAILED, EndpointStatus.UPDATE_ROLLBACK_FAILED, EndpointStatus.OUT_OF_SERVICE, EndpointStatus.DELETING,
]);

/** Floats may come back from SageMaker as single precision (0.1 as 0.10000000149). */
const sameWeight = (a: number | undefined, b: number) => a !== undefined && Math.abs(a - b) <= 1e-6 * Math.max(1, Math.abs(b));

/**
 * Polls `describe` until the endpoint is InService with the requested weights in effect; returns
 * its last state. A failed endpoint, an update that ended with other weights (rolled back, or
 * changed by someone else) and running out of polls are CliErrors saying the state and what to do.
 */
export async function waitForWeights(
  describe: () => Promise<EndpointState>, change: WeightChange, options: WeightWaitOptions,
): Promise<EndpointState> {
  const start = options.now().getTime();
  const requested = change.input.DesiredWeightsAndCapacities;
  let sawUpdate = false;
  let state: EndpointState | undefined;
  for (let poll = 1; poll <= options.maxPolls; poll++) {
    if (poll > 1) await options.sleep(options.pollIntervalMs);
    state = await describe();
    const elapsed = options.now().getTime() - start;
    options.onPoll(state.status, elapsed, poll);
    if (BROKEN.has(state.status)) {
      throw new CliError(`endpoint ${state.endpoint} is ${state.status}${state.failureReason ? ` (${state.failureReason})` : ""} `
        + `after the weight change; look at it with "${options.listCommand}"`);
    }
    if (state.status !== EndpointStatus.IN_SERVICE) {
      sawUpdate = true;
      continue;
    }
    const current = state.variants;
    const done = requested.every((r) => sameWeight(current.find((v) => v.name === r.VariantName)?.currentWeight, r.DesiredWeight ?? 0));
    if (done) return state;
    if (sawUpdate) {
      throw new CliError(`endpoint ${state.endpoint} is InService again, but not with the requested weights (the change was rolled back, `
        + `or someone changed them meanwhile); look at them with "${options.listCommand}"`);
    }
  }
  throw new CliError(`endpoint ${change.input.EndpointName} is still ${state?.status ?? "Unknown"} after ${options.maxPolls} polls `
    + `(${formatDuration(options.now().getTime() - start)}): stopped waiting; the weight change goes on: check it with "${options.listCommand}"`);
}

// ---------------------------------------------------------------------------------------------
// Metrics.
// ---------------------------------------------------------------------------------------------

/** The CloudWatch namespace of SageMaker endpoints. */
export const NAMESPACE = "AWS/SageMaker";
/** --hours: 1 to 30 days; a whole window is one CloudWatch period, a multiple of 3600 s as periods that old must be. */
export const MAX_HOURS = 720;
export const DEFAULT_HOURS = 24;
export const DEFAULT_MIN_INVOCATIONS = 100;

/** The window of a metrics summary: `hours` up to now, its end rounded down to 5 minutes so CloudWatch rounds neither end. */
export function metricsWindow(now: Date, hours: number): { start: Date; end: Date; periodSeconds: number } {
  const step = 5 * 60_000;
  const end = new Date(Math.floor(now.getTime() / step) * step);
  const periodSeconds = hours * 3600;
  return { start: new Date(end.getTime() - periodSeconds * 1000), end, periodSeconds };
}

/** What is asked of CloudWatch per variant: [query id prefix, metric, statistic]. */
const METRICS = [
  ["inv", "Invocations", "Sum"],
  ["e4xx", "Invocation4XXErrors", "Sum"],
  ["e5xx", "Invocation5XXErrors", "Sum"],
  ["p50", "ModelLatency", "p50"],
  ["p99", "ModelLatency", "p99"],
] as const;

type MetricKey = (typeof METRICS)[number][0];

/** The GetMetricData queries: one per metric and variant, ids `<metric>_<variant index>`, one period over the whole window. */
export function metricQueries(endpointName: string, variants: readonly string[], periodSeconds: number): MetricDataQuery[] {
  return variants.flatMap((variant, i) => METRICS.map(([id, name, stat]) => ({
    Id: `${id}_${i}`,
    MetricStat: {
      Metric: {
        Namespace: NAMESPACE,
        MetricName: name,
        Dimensions: [{ Name: "EndpointName", Value: endpointName }, { Name: "VariantName", Value: variant }],
      },
      Period: periodSeconds,
      Stat: stat,
    },
    ReturnData: true,
  })));
}

/** One variant's summary over the window. */
export interface VariantMetrics {
  readonly variant: string;
  readonly invocations: number;
  readonly errors4xx: number;
  readonly errors5xx: number;
  /** errors / invocations; null without invocations. */
  readonly errorRate4xx: number | null;
  readonly errorRate5xx: number | null;
  /** ModelLatency percentiles in milliseconds (CloudWatch has microseconds); null without data. */
  readonly latencyP50Ms: number | null;
  readonly latencyP99Ms: number | null;
}

/**
 * GetMetricData for every variant, all pages. The window is one period, so each query has at most
 * one datapoint; should CloudWatch still split it, counts are added and the larger percentile is
 * kept (percentiles of parts cannot be combined exactly; the larger is the conservative one).
 */
export async function variantMetrics(
  cloudwatch: CloudWatchClient, endpointName: string, variants: readonly string[],
  window: { start: Date; end: Date; periodSeconds: number }, retry: RetryOptions = {},
): Promise<VariantMetrics[]> {
  const client = retryingClient(cloudwatch, retry);
  const values = new Map<string, number[]>();
  const queries = metricQueries(endpointName, variants, window.periodSeconds);
  let nextToken: string | undefined;
  do {
    const out = await client.send(new GetMetricDataCommand({
      MetricDataQueries: queries, StartTime: window.start, EndTime: window.end, ScanBy: "TimestampAscending", NextToken: nextToken,
    }));
    for (const result of out.MetricDataResults ?? []) {
      if (result.StatusCode === StatusCode.FORBIDDEN || result.StatusCode === StatusCode.INTERNAL_ERROR) {
        const why = (result.Messages ?? []).map((m) => m.Value).filter((m) => m !== undefined).join("; ");
        throw new CliError(`CloudWatch GetMetricData answered ${result.StatusCode} for ${result.Label ?? result.Id}${why ? `: ${why}` : ""}`);
      }
      if (result.Id === undefined) continue;
      values.set(result.Id, [...values.get(result.Id) ?? [], ...result.Values ?? []]);
    }
    nextToken = out.NextToken;
  } while (nextToken !== undefined);

  const of = (key: MetricKey, i: number) => values.get(`${key}_${i}`) ?? [];
  const sum = (key: MetricKey, i: number) => of(key, i).reduce((a, b) => a + b, 0);
  const millis = (key: MetricKey, i: number) => (of(key, i).length === 0 ? null : Math.max(...of(key, i)) / 1000);
  return variants.map((variant, i) => {
    const invocations = sum("inv", i);
    const errors4xx = sum("e4xx", i);
    const errors5xx = sum("e5xx", i);
    return {
      variant,
      invocations,
      errors4xx,
      errors5xx,
      errorRate4xx: invocations > 0 ? errors4xx / invocations : null,
      errorRate5xx: invocations > 0 ? errors5xx / invocations : null,
      latencyP50Ms: millis("p50", i),
      latencyP99Ms: millis("p99", i),
    };
  });
}

/** Which variant leads, or why none does. It helps pick a winner; it decides nothing. */
export interface Leader {
  /** null: no leader (see reason). */
  readonly variant: string | null;
  readonly reason: string;
  /** The variants with at least the minimum of invocations. */
  readonly qualified: readonly string[];
}

/**
 * The variant with the lowest 5XX error rate among those with at least `minInvocations`
 * invocations, ties broken by the lower p99 latency (a variant without latency data last). No
 * leader with fewer than two such variants, or when the best two tie on both.
 */
export function pickLeader(metrics: readonly VariantMetrics[], minInvocations: number): Leader {
  const qualified = metrics.filter((m) => m.invocations >= minInvocations);
  const names = qualified.map((m) => m.variant);
  if (metrics.length < 2) {
    const has = metrics.length === 0 ? "no production variants" : "a single production variant";
    return { variant: null, reason: `the endpoint has ${has}: nothing to compare`, qualified: names };
  }
  if (qualified.length < 2) {
    return {
      variant: null,
      reason: `not enough traffic to compare: ${qualified.length} of ${metrics.length} variants had at least ${minInvocations} invocations (--min-invocations)`,
      qualified: names,
    };
  }
  const p99 = (m: VariantMetrics) => m.latencyP99Ms ?? Number.POSITIVE_INFINITY;
  const ranked = [...qualified].sort((a, b) => (a.errorRate5xx ?? 0) - (b.errorRate5xx ?? 0) || p99(a) - p99(b));
  const [best, next] = ranked;
  if ((best.errorRate5xx ?? 0) === (next.errorRate5xx ?? 0) && p99(best) === p99(next)) {
    return { variant: null, reason: `${best.variant} and ${next.variant} tie on 5XX error rate and p99 latency`, qualified: names };
  }
  const tieBreak = (best.errorRate5xx ?? 0) === (next.errorRate5xx ?? 0) ? `, tied with ${next.variant} on 5XX error rate; the lower p99 latency decides` : "";
  return {
    variant: best.variant,
    reason: `lowest 5XX error rate (${percent(best.errorRate5xx, 2)}) among the ${qualified.length} variants with at least ${minInvocations} invocations${tieBreak}`,
    qualified: names,
  };
}

// ---------------------------------------------------------------------------------------------
// Printing.
// ---------------------------------------------------------------------------------------------

/** `12.5%`; `-` for null. */
export function percent(value: number | null | undefined, digits = 1, scale = 100): string {
  return value === null || value === undefined ? "-" : `${(value * scale).toFixed(digits)}%`;
}

const num = (value: number | undefined) => (value === undefined ? "-" : String(value));
const ms = (value: number | null) => (value === null ? "-" : value.toFixed(1));

/** What Pulumi makes of a weight change; said wherever weights change. */
export function pulumiNote(stackFile: string): string {
  return `Pulumi does not see this change: the next \`pulumi up\` that replaces the endpoint configuration resets the weights to ${stackFile}'s; `
    + "a lasting split belongs in the stack file.";
}

/** `variants list`: the endpoint and one row per variant. */
export function stateLines(state: EndpointState): string[] {
  const rows = state.variants.map((v) => [
    v.name,
    num(v.currentWeight),
    num(v.desiredWeight),
    percent(v.sharePercent, 1, 1),
    v.serverless ? "serverless" : `${num(v.currentInstanceCount)}/${num(v.desiredInstanceCount)}`,
  ]);
  return [
    `endpoint ${state.endpoint}: ${state.status}${state.failureReason ? ` (${state.failureReason})` : ""}`
      + `${state.endpointConfig ? `, endpoint configuration ${state.endpointConfig}` : ""}`,
    ...table([["VARIANT", "WEIGHT", "DESIRED WEIGHT", "TRAFFIC", "INSTANCES (CURRENT/DESIRED)"], ...rows]),
  ];
}

/** Traffic shares after a weight change. */
export function shareLines(after: WeightChange["after"]): string[] {
  return table([["VARIANT", "WEIGHT", "TRAFFIC"], ...after.map((a) => [a.variant, String(a.weight), percent(a.sharePercent, 1, 1)])]);
}

/** The report of `variants metrics`. */
export interface MetricsReport {
  readonly endpoint: string;
  readonly start: string;
  readonly end: string;
  readonly hours: number;
  readonly minInvocations: number;
  readonly variants: readonly (VariantMetrics & { readonly sharePercent: number | null })[];
  readonly leader: Leader;
  readonly note: string;
}

export const METRICS_NOTE = "This helps pick a winner; it decides nothing: no significance test is made, and traffic moves only with "
  + "`variants weights` (until the next `pulumi up` replaces the endpoint configuration) or the stack file.";

export function metricsLines(report: MetricsReport): string[] {
  const rows = report.variants.map((v) => [
    v.variant, percent(v.sharePercent, 1, 1), String(v.invocations), String(v.errors4xx), percent(v.errorRate4xx, 2),
    String(v.errors5xx), percent(v.errorRate5xx, 2), ms(v.latencyP50Ms), ms(v.latencyP99Ms),
  ]);
  const leader = report.leader.variant === null ? `none: ${report.leader.reason}` : `${report.leader.variant}: ${report.leader.reason}`;
  return [
    `endpoint ${report.endpoint}, ${report.start} to ${report.end} (${report.hours} h), CloudWatch ${NAMESPACE}:`,
    ...table([["VARIANT", "TRAFFIC", "INVOCATIONS", "4XX", "4XX RATE", "5XX", "5XX RATE", "P50 MS", "P99 MS"], ...rows]),
    `leader: ${leader}`,
    report.note,
  ];
}
