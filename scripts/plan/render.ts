import type { StackDiff } from "./diff";
import { type DeploymentConfigInput, PROVIDER_WAIT_MINUTES, SERVERLESS_COST_NOTE } from "./estimates";
import { isGlobalType } from "./naming";
import { type Finding, type PlannedResource, shortType, type StackPlan } from "./types";
import { table } from "../lib/cli";

/** Human tables and the --json documents of `plan` and `plan diff`. */

/** The --json document of `plan`: one entry per stack. */
export function planJson(plans: readonly StackPlan[]): unknown {
  return {
    stacks: plans.map((p) => ({
      stack: p.stack,
      file: p.file,
      account: p.account,
      region: p.region,
      resources: p.resources.map((r) => ({
        urn: r.urn,
        type: r.type,
        name: r.name,
        parent: r.parent,
        physicalName: r.physicalName,
        autoNamed: r.autoNamed,
        id: r.id,
        account: r.custom ? r.accountId : null,
        region: r.custom && !isGlobalType(r.type) ? r.region : null,
        inputs: r.inputs,
      })),
      findings: p.findings,
      estimates: p.estimates,
    })),
  };
}

/** The --json document of `plan diff`. */
export function diffJson(diffs: readonly StackDiff[]): unknown {
  return { diffs };
}

/** What matters about a resource, in a few words. */
export function settingsOf(r: PlannedResource): string {
  const i = r.inputs as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  switch (r.type) {
    case "aws:sagemaker/endpointConfiguration:EndpointConfiguration":
      return ((i.productionVariants ?? []) as Record<string, unknown>[])
        .map((v) => {
          const serverless = v.serverlessConfig as Record<string, unknown> | undefined;
          return serverless === undefined ? `${String(v.variantName)}: ${String(v.instanceType)} x${String(v.initialInstanceCount)}`
            : `${String(v.variantName)}: serverless ${String(serverless.memorySizeInMb)} MiB, up to ${String(serverless.maxConcurrency)} concurrent`
              + `${serverless.provisionedConcurrency === undefined ? "" : `, ${String(serverless.provisionedConcurrency)} provisioned`}`;
        }).join(", ");
    case "aws:sagemaker/endpoint:Endpoint":
      return endpointSettings((i.deploymentConfig ?? {}) as DeploymentConfigInput);
    case "aws:sagemaker/model:Model": {
      const c = (i.primaryContainer ?? {}) as Record<string, unknown>;
      return c.modelPackageName ? `package ${String(c.modelPackageName).split(":model-package/").pop()}`
        : `image ${String(c.image ?? "").split("/").pop()}${c.mode === "MultiModel" ? `, multi-model from ${String(c.modelDataUrl)}` : ""}`;
    }
    case "aws:cloudwatch/metricAlarm:MetricAlarm": {
      const op = { GreaterThanOrEqualToThreshold: ">=", GreaterThanThreshold: ">" }[String(i.comparisonOperator)] ?? String(i.comparisonOperator);
      const queries = i.metricQueries as { expression?: string; metric?: { metricName?: string; stat?: string; period?: number } }[] | undefined;
      if (queries !== undefined && queries.length > 0) {
        // A metric math alarm (components/variant-alarms.ts): the expression over the metrics it reads.
        const metrics = queries.flatMap((q) => (q.metric === undefined ? [] : [q.metric]));
        const expression = queries.find((q) => q.expression !== undefined)?.expression ?? "";
        return `${expression} of ${metrics.length} x ${String(metrics[0]?.stat)} ${String(metrics[0]?.metricName)} ${op} ${String(i.threshold)} `
          + `for ${String(i.evaluationPeriods)}x${String(metrics[0]?.period)}s`;
      }
      return `${String(i.extendedStatistic ?? i.statistic)} ${String(i.metricName)} ${op} ${String(i.threshold)} for ${String(i.evaluationPeriods)}x${String(i.period)}s`;
    }
    case "aws:appautoscaling/target:Target":
      return `${String(i.minCapacity)}-${String(i.maxCapacity)} instances`;
    case "aws:appautoscaling/policy:Policy": {
      const step = i.stepScalingPolicyConfiguration as Record<string, unknown> | undefined;
      if (step !== undefined) {
        const adjustments = (step.stepAdjustments ?? []) as Record<string, unknown>[];
        return `step ${adjustments.map((a) => `${Number(a.scalingAdjustment) >= 0 ? "+" : ""}${String(a.scalingAdjustment)}`).join("/")} `
          + `(${String(step.adjustmentType)}), cooldown ${String(step.cooldown)}s`;
      }
      const t = (i.targetTrackingScalingPolicyConfiguration ?? {}) as Record<string, unknown>;
      const custom = t.customizedMetricSpecification as Record<string, unknown> | undefined;
      const metric = custom === undefined ? "invocations/instance" : String(custom.metricName);
      return `${String(t.targetValue)} ${metric}, cooldown in ${String(t.scaleInCooldown)}s out ${String(t.scaleOutCooldown)}s`;
    }
    case "pulumi:providers:aws":
      return `allowed ${String(i.allowedAccountIds ?? "")}`;
    default:
      return "";
  }
}

function endpointSettings(config: DeploymentConfigInput): string {
  const alarms = (config.autoRollbackConfiguration?.alarms ?? []).length;
  const rolling = config.rollingUpdatePolicy;
  if (rolling) {
    return `rolling ${String(rolling.maximumBatchSize?.value)}%, wait ${String(rolling.waitIntervalInSeconds)}s, ${alarms} rollback alarms`;
  }
  const bg = config.blueGreenUpdatePolicy ?? {};
  const routing = bg.trafficRoutingConfiguration ?? {};
  const size = routing.canarySize ?? routing.linearStepSize;
  const strategy = String(routing.type ?? "ALL_AT_ONCE").toLowerCase().replace(/_/g, "-");
  return `${strategy}${size ? ` ${String(size.value)}%` : ""}, wait ${String(routing.waitIntervalInSeconds ?? 0)}s, `
    + `terminate after ${String(bg.terminationWaitInSeconds ?? 0)}s, ${alarms} rollback alarms`;
}

function money(value: number | null): string {
  return value === null ? "n/a" : `$${value.toFixed(2)}`;
}

/** The readable plan of each stack: resources, estimates, findings. */
export function renderPlans(plans: readonly StackPlan[]): string[] {
  const lines: string[] = [];
  for (const p of plans) {
    const errors = p.findings.filter((f) => f.severity === "error").length;
    lines.push(`Stack ${p.stack} (${p.file}): account ${p.account || "?"}, region ${p.region || "?"}, `
      + `${p.resources.filter((r) => r.custom).length} resources, ${errors} errors, ${p.findings.length - errors} warnings`);
    // Sorted by URN: a component's resources stay together.
    const rows = p.resources.filter((r) => r.custom).sort((a, b) => (a.urn < b.urn ? -1 : a.urn > b.urn ? 1 : 0)).map((r) => [
      shortType(r.type),
      r.name,
      r.physicalName === null ? (r.id === null ? "-" : `${r.id} (id)`) : `${r.physicalName}${r.autoNamed ? " (auto)" : ""}`,
      isGlobalType(r.type) ? `${r.accountId}/global` : `${r.accountId}/${r.region}`,
      settingsOf(r),
    ]);
    if (rows.length > 0) {
      lines.push(...table([["TYPE", "NAME", "PHYSICAL NAME", "ACCOUNT/REGION", "SETTINGS"], ...rows]).map((l) => `  ${l}`));
    }
    const e = p.estimates;
    if (e.endpoints.length > 0) {
      lines.push("", `  Estimates: provisioning assumed ${e.assumptions.provisioningMinutes.cpu} min (CPU) / ${e.assumptions.provisioningMinutes.accelerated} min `
        + `(GPU/accelerator) per fleet or batch, ${e.assumptions.provisioningMinutes.serverless} min serverless; the provider waits ${PROVIDER_WAIT_MINUTES} min for InService; on-demand prices for `
        + `${e.assumptions.prices.region} dated ${e.assumptions.prices.date}.`);
      lines.push(...table([
        ["ENDPOINT", "INSTANCES", "STRATEGY", "ROLLOUT", "DEPLOY COST", "MONTHLY"],
        ...e.endpoints.map((x) => [
          x.endpointName, `${x.instanceType} x${x.instanceCount}`, x.strategy, `${x.rolloutMinutes} min`, money(x.deployCostUsd), money(x.monthlyCostUsd),
        ]),
      ]).map((l) => `  ${l}`));
      lines.push(`  Monthly instance cost of the stack: ${money(e.monthlyCostUsd)}`);
      if (e.endpoints.some((x) => x.instanceType.startsWith("serverless"))) lines.push(`  ${SERVERLESS_COST_NOTE} (x = max concurrency)`);
    }
    lines.push(...renderFindings(p.findings), "");
  }
  return lines;
}

export function renderFindings(findings: readonly Finding[]): string[] {
  if (findings.length === 0) return ["  No findings."];
  return ["  Findings:", ...findings.map((f) => `    ${f.severity.toUpperCase()} [${f.check}] ${f.resource}`
    + `${f.configKey ? ` (${f.configKey})` : ""}: ${f.message}`)];
}

/** The readable diff: operations per resource with their causes, then endpoint settings. */
export function renderDiffs(diffs: readonly StackDiff[]): string[] {
  const lines: string[] = [];
  for (const d of diffs) {
    const title = d.mode === "promotion"
      ? `Promotion ${d.before.stack} -> ${d.after.stack}: ${d.after.stack} compared with ${d.before.stack} translated to account ${d.after.account}`
      : `Stack ${d.stack}: ${d.before.label} -> ${d.after.label}`;
    lines.push(title);
    for (const note of d.notes) lines.push(`  note: ${note}`);
    const counts = ["create", "update", "replace", "delete"].map((op) => `${d.changes.filter((c) => c.op === op).length} ${op}`);
    lines.push(`  ${counts.join(", ")}, ${d.unchanged} unchanged`);
    if (d.changes.length > 0) {
      lines.push(...table([
        ["OP", "TYPE", "NAME", "PHYSICAL NAME", "BECAUSE OF"],
        ...d.changes.map((c) => [
          c.op === "replace" ? `REPLACE${c.deleteFirst ? " (delete first)" : ""}` : c.op,
          shortType(c.type),
          c.name,
          c.physicalName.before === c.physicalName.after || c.physicalName.before === null || c.physicalName.after === null
            ? c.physicalName.after ?? c.physicalName.before ?? "-" : `${c.physicalName.before} -> ${c.physicalName.after}`,
          (c.op === "replace" ? c.causes : c.properties).join(", "),
        ]),
      ]).map((l) => `  ${l}`));
    }
    if (d.endpoints.length > 0 || d.stackSettings.length > 0) lines.push("", "  Endpoint settings that differ:");
    for (const e of d.endpoints) {
      lines.push(e.model.before === e.model.after
        ? `    ${e.endpoint}: model ${e.model.after ?? "(none)"} (the same)`
        : `    ${e.endpoint}: model ${e.model.before ?? "(none)"} -> ${e.model.after ?? "(none)"}`);
      for (const s of e.settings) lines.push(`      ${s.setting}: ${JSON.stringify(s.before) ?? "(unset)"} -> ${JSON.stringify(s.after) ?? "(unset)"}`);
    }
    for (const s of d.stackSettings) lines.push(`    (stack) ${s.setting}: ${JSON.stringify(s.before) ?? "(unset)"} -> ${JSON.stringify(s.after) ?? "(unset)"}`);
    lines.push(...renderFindings(d.findings), "");
  }
  return lines;
}
