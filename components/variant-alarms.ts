import type * as aws from "@pulumi/aws";
import type { RollbackAlarmSpec } from "./endpoint-spec";

/**
 * The CloudWatch alarms of an endpoint's variants, as `aws.cloudwatch.MetricAlarm` arguments: the
 * two rollback alarms (5XX errors and p99 model latency) and, in an A/B test, each further variant's
 * own pair. Pure: the endpoint component creates the resources.
 *
 * The rollback alarms' names are part of the endpoint's identity (changing the list replaces the
 * endpoint, DESIGN §5.2), so an A/B test changes what they measure, not their names: with several
 * variants each alarm watches the worst variant (metric math MAX over one metric per variant), and
 * a deployment rolls back when any variant regresses.
 */

/** SageMaker's endpoint metrics. */
const NAMESPACE = "AWS/SageMaker";
/** One-minute periods: the thresholds are per minute. */
const PERIOD_SECONDS = 60;

/** The two metrics an alarm pair watches, with how each compares to its threshold. */
const METRICS = {
  errors: { metricName: "Invocation5XXErrors", stat: "Sum", comparisonOperator: "GreaterThanOrEqualToThreshold" },
  latency: { metricName: "ModelLatency", stat: "p99", comparisonOperator: "GreaterThanThreshold" },
} as const;

type MetricKind = keyof typeof METRICS;

/** What an alarm pair is for, in its description. */
export interface AlarmPurpose {
  /** The endpoint's stable name. */
  readonly endpointName: string;
  /** `Rolls back deployments of <endpoint>` or `A/B variant <v> of <endpoint>`: the start of each description. */
  readonly description: string;
}

function threshold(kind: MetricKind, alarms: RollbackAlarmSpec): number {
  // ModelLatency is reported in microseconds.
  return kind === "errors" ? alarms.invocation5xxErrorsPerMinute : alarms.modelLatencyP99Milliseconds * 1000;
}

function what(kind: MetricKind, alarms: RollbackAlarmSpec, variants: readonly string[]): string {
  const subject = variants.length === 1 ? `variant ${variants[0]}` : `the worst of variants ${variants.join(", ")}`;
  return kind === "errors" ? `5XX invocation errors per minute of ${subject}`
    : `p99 model latency of ${subject} above ${alarms.modelLatencyP99Milliseconds} ms`;
}

/**
 * One alarm on `variants` of an endpoint: a plain metric alarm for one variant, or the worst of
 * several through metric math (CloudWatch takes up to 10 metrics per alarm; an endpoint config
 * takes at most 10 variants).
 */
export function variantAlarmArgs(
  kind: MetricKind,
  name: string,
  purpose: AlarmPurpose,
  variants: readonly string[],
  alarms: RollbackAlarmSpec,
  tags: Record<string, string>,
): aws.cloudwatch.MetricAlarmArgs {
  const { metricName, stat, comparisonOperator } = METRICS[kind];
  const common = {
    name,
    alarmDescription: `${purpose.description}: ${what(kind, alarms, variants)}.`,
    evaluationPeriods: alarms.evaluationPeriods,
    threshold: threshold(kind, alarms),
    comparisonOperator,
    treatMissingData: "notBreaching",
    tags,
  };
  if (variants.length === 1) {
    return {
      ...common,
      namespace: NAMESPACE,
      metricName,
      dimensions: { EndpointName: purpose.endpointName, VariantName: variants[0] },
      period: PERIOD_SECONDS,
      ...(stat === "Sum" ? { statistic: stat } : { extendedStatistic: stat }),
    };
  }
  const ids = variants.map((_, i) => `v${i}`);
  return {
    ...common,
    metricQueries: [
      ...variants.map((variant, i) => ({
        id: ids[i],
        returnData: false,
        metric: {
          namespace: NAMESPACE,
          metricName,
          dimensions: { EndpointName: purpose.endpointName, VariantName: variant },
          period: PERIOD_SECONDS,
          stat,
        },
      })),
      { id: "worst", expression: `MAX([${ids.join(", ")}])`, label: `worst variant: ${metricName}`, returnData: true },
    ],
  };
}
