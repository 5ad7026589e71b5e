import { endpointKeyResolver, FindingSink } from "./findings";
import { type DeletionIntent, howToConfirm, intendedBy, isDestructive, NO_INTENT, STATEFUL_TYPES } from "./intent";
import { identityOf, nameProperty } from "./naming";
import { forcesReplacement, valueAt } from "./replacement";
import { shortType } from "./types";
import type { Finding, Operation, PlannedResource, StackPlan } from "./types";

export type { Operation } from "./types";
import type { EndpointConfig, StackConfig } from "../../stacks/config/schema";

/**
 * `plan diff`: what would happen to each resource going from one plan to another. Two modes:
 * - revision: the same stack with its stack files at another git revision (the change under review);
 * - promotion: one stack compared with another (`--from qa --to prod`); the first is translated into
 *   the second's account and stage names first, so only real setting differences remain.
 * Replacement follows the per-type table in replacement.ts; generated names follow naming.ts, so a
 * replaced Model gets a new name and whatever references it changes too, as in a real deployment.
 */


export interface ResourceChange {
  readonly op: Operation;
  readonly urn: string;
  readonly type: string;
  readonly name: string;
  readonly physicalName: { readonly before: string | null; readonly after: string | null };
  /** Every changed input path (`productionVariants[0].modelName`). */
  readonly properties: string[];
  /** The changed paths that force the replacement (empty unless op is replace). */
  readonly causes: string[];
  /** Replaced delete-first: an explicit name cannot exist twice, so the old one goes before the new one comes. */
  readonly deleteFirst: boolean;
}

export interface SettingChange {
  readonly setting: string;
  readonly before: unknown;
  readonly after: unknown;
}

/** One stack-file endpoint on both sides: its model version and the settings that differ. */
export interface EndpointComparison {
  readonly endpoint: string;
  readonly model: { readonly before: string | null; readonly after: string | null };
  readonly settings: SettingChange[];
}

export interface StackDiff {
  readonly mode: "revision" | "promotion";
  readonly stack: string;
  readonly before: { readonly label: string; readonly stack: string; readonly account: string };
  readonly after: { readonly label: string; readonly stack: string; readonly account: string };
  readonly changes: ResourceChange[];
  readonly unchanged: number;
  readonly endpoints: EndpointComparison[];
  /** Stack-wide settings that differ (tags, bucket expiry). */
  readonly stackSettings: SettingChange[];
  readonly findings: Finding[];
  readonly notes: string[];
}

export interface DiffOptions {
  readonly mode: "revision" | "promotion";
  readonly beforeLabel: string;
  readonly afterLabel: string;
  readonly notes?: readonly string[];
  /**
   * Which deletions and replacements of an Endpoint, a bucket or a KMS key the change intends
   * (revision mode): those are warnings, every other one an error (intent.ts).
   */
  readonly intent?: DeletionIntent;
}

export function diffPlans(before: StackPlan, after: StackPlan, options: DiffOptions): StackDiff {
  // A revision keeps the stack: a changed account there is a real move, so nothing is translated.
  const translated = options.mode === "promotion" ? translate(before, after) : before.resources;
  const old = new Map(translated.filter((r) => r.custom).map((r) => [r.urn, r]));
  const changes: ResourceChange[] = [];
  let unchanged = 0;
  for (const r of after.resources) {
    if (!r.custom) continue;
    const prior = old.get(r.urn);
    old.delete(r.urn);
    if (!prior) {
      changes.push(change("create", r, null, r.physicalName, [], []));
      continue;
    }
    // As Pulumi does: a change to an ignored input (or below it) is no change.
    const ignored = (path: string) => (r.ignoreChanges ?? []).some((input) => path === input || path.startsWith(`${input}.`) || path.startsWith(`${input}[`));
    const properties = changedPaths(comparable(prior), comparable(r)).filter((p) => !ignored(p));
    if (properties.length === 0) {
      unchanged++;
      continue;
    }
    const forcing = properties.filter((p) => forcesReplacement(r.type, p));
    if (forcing.length === 0) {
      changes.push(change("update", r, prior.physicalName, r.physicalName, properties, []));
      continue;
    }
    const generated = r.autoNamed ? nameProperty(r.type) : undefined;
    const causes = forcing.filter((p) => p !== generated);
    changes.push(change("replace", r, prior.physicalName, r.physicalName, properties, causes.length > 0 ? causes : forcing));
  }
  for (const r of old.values()) changes.push(change("delete", r, r.physicalName, null, [], []));

  const sink = new FindingSink(after.stack);
  reportHazards(sink, changes, after, options.mode, options.intent ?? NO_INTENT);
  if (options.mode === "revision") {
    reportAdminChanges(sink, changes, before, after);
    reportAutoscaledInstanceTypeChanges(sink, changes, before, after);
  }
  return {
    mode: options.mode,
    stack: after.stack,
    before: { label: options.beforeLabel, stack: before.stack, account: before.account },
    after: { label: options.afterLabel, stack: after.stack, account: after.account },
    changes,
    unchanged,
    endpoints: compareEndpoints(before.config, after.config),
    stackSettings: compareStackSettings(before.config, after.config),
    findings: sink.findings,
    notes: [...(options.notes ?? [])],
  };
}

function change(
  op: Operation, r: PlannedResource, before: string | null, after: string | null, properties: string[], causes: string[],
): ResourceChange {
  const named = nameProperty(r.type) !== undefined && !r.autoNamed;
  return {
    op,
    urn: r.urn,
    type: r.type,
    name: r.name,
    physicalName: { before, after },
    properties,
    causes,
    deleteFirst: op === "replace" && named && before === after,
  };
}

/** Inputs as the provider would see them: with the generated name filled in. */
function comparable(r: PlannedResource): Record<string, unknown> {
  const prop = nameProperty(r.type);
  return prop !== undefined && r.autoNamed && r.physicalName !== null ? { ...r.inputs, [prop]: r.physicalName } : { ...r.inputs };
}

/** Paths of every leaf that differs; JSON documents (policies) are compared as documents. */
export function changedPaths(before: unknown, after: unknown, path = ""): string[] {
  const a = asDocument(before);
  const b = asDocument(after);
  if (Array.isArray(a) && Array.isArray(b)) {
    const out: string[] = [];
    for (let i = 0; i < Math.max(a.length, b.length); i++) out.push(...changedPaths(a[i], b[i], `${path}[${i}]`));
    return out;
  }
  if (isObject(a) && isObject(b)) {
    const out: string[] = [];
    for (const key of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) {
      out.push(...changedPaths(a[key], b[key], path === "" ? key : `${path}.${key}`));
    }
    return out;
  }
  return JSON.stringify(a) === JSON.stringify(b) ? [] : [path];
}

function asDocument(value: unknown): unknown {
  if (typeof value !== "string" || !/^\s*[[{]/.test(value)) return value;
  try {
    return JSON.parse(value);
  } catch {
    return value;
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/**
 * The `before` plan in `after`'s terms: its stage name and account replaced, and every generated
 * name and id recomputed there, in registration order (dependencies register first), so a resource
 * whose identity inputs are equal after translation gets the same name as on the other side.
 *
 * When the other side also refers to `before`'s account (the registry stage: other stages name its
 * bucket, key and model packages), that account is replaced only in values that are clearly the
 * stage's own: ones naming the stage or a generated name or id, and bare account ids.
 */
function translate(before: StackPlan, after: StackPlan): PlannedResource[] {
  const exact = new Map<string, string>();
  const stage = new RegExp(`(?<![A-Za-z0-9])${escape(before.stack)}(?![A-Za-z0-9])`);
  const stageAll = new RegExp(stage.source, "g");
  const shared = before.account !== "" && after.resources.some((r) => JSON.stringify(r.inputs).includes(before.account));
  const swap = (text: string): string => {
    let out = text;
    let own = !shared || out === before.account || stage.test(out);
    for (const [from, to] of exact) {
      if (out.includes(from)) {
        out = out.split(from).join(to);
        own = true;
      }
    }
    if (own && before.account !== "") out = out.split(before.account).join(after.account);
    return out.replace(stageAll, after.stack);
  };
  const deep = (value: unknown): unknown => {
    if (typeof value === "string") {
      const doc = asDocument(value);
      return doc === value ? swap(value) : JSON.stringify(deep(doc));
    }
    if (Array.isArray(value)) return value.map(deep);
    if (isObject(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [swap(k), deep(v)]));
    return value;
  };
  return before.resources.map((r) => {
    const inputs = deep(r.inputs) as Record<string, unknown>;
    const name = swap(r.name);
    const region = r.region === before.region ? after.region : r.region;
    const accountId = r.accountId === before.account ? after.account : r.accountId;
    let { physicalName, id } = r;
    if (r.custom) {
      const identity = identityOf(r.type, name, inputs, { accountId, region });
      if (r.physicalName !== null && identity.physicalName !== undefined && r.physicalName !== identity.physicalName && r.autoNamed) {
        exact.set(r.physicalName, identity.physicalName);
      }
      if (r.id !== null && r.id !== identity.id && r.id !== r.physicalName && r.physicalName === null) exact.set(r.id, identity.id);
      physicalName = identity.physicalName ?? null;
      id = identity.id;
    }
    return { ...r, urn: swap(r.urn), name, parent: r.parent === null ? null : swap(r.parent), inputs, physicalName, id, accountId, region };
  });
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

// ---- findings ------------------------------------------------------------------------------------

function reportHazards(
  sink: FindingSink, changes: readonly ResourceChange[], after: StackPlan, mode: "revision" | "promotion", intent: DeletionIntent,
): void {
  const byUrn = new Map(after.resources.map((r) => [r.urn, r]));
  const keyOf = after.config ? endpointKeyResolver(after.resources, after.config) : () => null;
  const endpointKey = (urn: string): string | null => {
    const resource = byUrn.get(urn);
    return resource ? keyOf(resource) : null;
  };
  for (const c of changes) {
    const at = { urn: c.urn, name: c.name };
    const key = endpointKey(c.urn);
    const configKey = key === null ? null
      : c.causes.some((p) => p.startsWith("deploymentConfig.autoRollbackConfiguration"))
        ? `mlplatform:endpoints.${key}.alarms.additionalRollbackAlarmNames` : `mlplatform:endpoints.${key}`;
    const what = `${shortType(c.type)} ${c.physicalName.before ?? c.name}`;
    if (mode === "revision" && isDestructive(c)) {
      const where = `${what} in stack ${after.stack}`;
      const action = c.op === "replace" ? `REPLACE ${where}, caused by ${c.causes.join(", ")}` : `DELETE ${where}`;
      const consequence = c.op === "replace" ? replaceConsequence(c.type) : deleteConsequence(c.type);
      const intended = intendedBy(intent, c);
      if (intended === undefined) {
        sink.add("replacement", at, configKey, `${action}: ${consequence}. ${howToConfirm(c)}`);
      } else {
        sink.add("replacement-hazard", at, configKey, `${action}: ${consequence} (intended: ${intended})`);
      }
    } else if (mode === "promotion" && c.op === "replace" && STATEFUL_TYPES.has(c.type)) {
      sink.add("replacement-hazard", at, configKey, `the stacks differ in ${c.causes.join(", ")}, which replaces the ${shortType(c.type)} `
        + `when changed: copying this setting across would ${c.type === "aws:sagemaker/endpoint:Endpoint" ? "replace the live endpoint" : "replace it"}`);
    } else if (mode === "revision" && c.op === "replace" && c.deleteFirst) {
      sink.add("replacement-hazard", at, configKey, `REPLACE ${what} delete-first (its explicit name cannot exist twice), caused by ${c.causes.join(", ")}: `
        + "it is missing for a moment during the update");
    }
  }
}

/**
 * IAM and key changes that the stack's deployer role may not make (components/ci-policies.ts): it
 * creates, deletes and replaces no role, creates no KMS key, changes no trust policy or boundary,
 * and changes only the inline policies of roles that carry the stack's boundary. In CI such a change fails with AccessDenied,
 * so the diff says who must apply it.
 */
function reportAdminChanges(sink: FindingSink, changes: readonly ResourceChange[], before: StackPlan, after: StackPlan): void {
  const roles = new Map([...before.resources, ...after.resources]
    .filter((r) => r.type === "aws:iam/role:Role").map((r) => [String(r.inputs.name ?? r.name), r]));
  const apply = `apply it with administrator credentials of account ${after.account} (\`pulumi up -s ${after.stack}\`) before the deploy job runs, `
    + "or that job fails with AccessDenied";
  for (const c of changes) {
    const at = { urn: c.urn, name: c.name };
    let what: string | undefined;
    if (c.type === "aws:iam/role:Role") {
      if (c.op !== "update") {what = `${c.op.toUpperCase()} role ${c.physicalName.before ?? c.physicalName.after ?? c.name}: deployers create and delete no role`;} else if (c.properties.some((p) => p.startsWith("assumeRolePolicy") || p.startsWith("permissionsBoundary"))) {
        what = `role ${c.physicalName.after ?? c.name}: its trust policy or boundary changes, which no deployer may do`;
      }
    } else if (c.type === "aws:kms/key:Key" && (c.op === "create" || c.op === "replace")) {
      what = `${c.op.toUpperCase()} KMS key ${c.name}: deployers create no keys (the stack's tags, which key management requires, go on at creation)`;
    } else if (c.type === "aws:iam/policy:Policy") {
      what = `${c.op} of the permissions boundary ${c.physicalName.before ?? c.physicalName.after ?? c.name}: boundaries are the administrator's`;
    } else if (c.type === "aws:iam/rolePolicy:RolePolicy") {
      const resource = [...after.resources, ...before.resources].find((r) => r.urn === c.urn);
      const role = roles.get(String(resource?.inputs.role));
      if (role === undefined || role.inputs.permissionsBoundary === undefined) {
        what = `${c.op} of the policy of role ${String(resource?.inputs.role ?? c.name)}, which carries no boundary (a deployer, previewer or the approver)`;
      }
    }
    if (what !== undefined) sink.add("admin-change", at, null, `${what}; ${apply}`);
  }
}

/**
 * UpdateEndpoint fails when it changes the instance type of a variant that is registered with
 * Application Auto Scaling (DESIGN §5.6), and Pulumi would deregister a removed target only after
 * the update. So a change of instanceType on an endpoint that is autoscaled before and after is an
 * error that names the two deployments that do it.
 */
function reportAutoscaledInstanceTypeChanges(sink: FindingSink, changes: readonly ResourceChange[], before: StackPlan, after: StackPlan): void {
  if (before.config === undefined || after.config === undefined) return;
  const keyOf = endpointKeyResolver(after.resources, after.config);
  for (const [key, endpoint] of Object.entries(after.config.endpoints)) {
    const prior = before.config.endpoints[key];
    // Either scaling registers the variant: target tracking on invocations, or scale to zero on the backlog.
    const scaled = (e: typeof endpoint | undefined) => e?.autoscaling !== undefined || e?.async?.scaleToZero !== undefined;
    if (!scaled(prior) || !scaled(endpoint) || prior?.instanceType === endpoint.instanceType) continue;
    // Only when pulumi up would change the variants: not where the program ignores them (the canary
    // deployer changes the type itself, deregistering the variant first).
    const config = after.resources.find((r) => r.type === "aws:sagemaker/endpointConfiguration:EndpointConfiguration" && keyOf(r) === key);
    const variantsChange = changes.find((c) => c.urn === config?.urn)?.properties.some((p) => p.startsWith("productionVariants"));
    if (variantsChange !== true) continue;
    const resource = after.resources.find((r) => r.type === "aws:sagemaker/endpoint:Endpoint" && keyOf(r) === key);
    const update = changes.find((c) => c.urn === resource?.urn);
    const at = { urn: resource?.urn ?? "", name: resource?.name ?? key };
    sink.add("autoscaling-instance-type", at, `mlplatform:endpoints.${key}.instanceType`, `${prior?.instanceType} -> ${endpoint.instanceType} on an autoscaled `
      + `endpoint${update === undefined ? "" : ` (${update.op} of ${shortType(update.type)})`}: UpdateEndpoint refuses to change the instance type of a `
      + "variant registered with Application Auto Scaling. Deploy it in two steps: first remove autoscaling (or async.scaleToZero) from endpoint "
      + `${key} in ${after.file} and deploy (the scaling target and policies are deregistered), then change instanceType, put it back and deploy`);
  }
}

/** What replacing a stateful resource costs. */
function replaceConsequence(type: string): string {
  if (type === "aws:sagemaker/endpoint:Endpoint") {
    return "the endpoint is deleted and created again under the same name, so it serves nothing in between "
      + "(keep the rollback alarm list fixed, DESIGN §5.2)";
  }
  return type === "aws:s3/bucket:Bucket" ? "the bucket and every object version in it would have to be deleted first"
    : "a new key replaces it and data encrypted under the old key becomes unreadable once it is deleted";
}

/** What deleting a stateful resource costs. */
function deleteConsequence(type: string): string {
  if (type === "aws:sagemaker/endpoint:Endpoint") return "clients calling it will fail";
  return type === "aws:s3/bucket:Bucket" ? "its data goes with it"
    : "data encrypted under it becomes unreadable once its deletion window ends";
}

// ---- endpoint settings ---------------------------------------------------------------------------

/** "model-package fraud-detection-fraud-scorer/7" or "image fraud-detection-inference:tag (s3://...)". */
function modelLabel(endpoint: EndpointConfig): string {
  const source = endpoint.source;
  if ("modelPackageArn" in source) return `model-package ${source.modelPackageArn.split(":model-package/").pop() ?? source.modelPackageArn}`;
  return `image ${source.image.split("/").pop() ?? source.image} (${source.modelDataUrl})`;
}

function compareEndpoints(before: StackConfig | undefined, after: StackConfig | undefined): EndpointComparison[] {
  const a = before?.endpoints ?? {};
  const b = after?.endpoints ?? {};
  const out: EndpointComparison[] = [];
  for (const key of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) {
    const x = a[key];
    const y = b[key];
    const settings = changedPaths(settingsOf(x), settingsOf(y)).map((setting) => ({
      setting, before: valueAt(settingsOf(x), setting), after: valueAt(settingsOf(y), setting),
    }));
    const model = { before: x ? modelLabel(x) : null, after: y ? modelLabel(y) : null };
    if (settings.length > 0 || model.before !== model.after) out.push({ endpoint: key, model, settings });
  }
  return out;
}

function settingsOf(endpoint: EndpointConfig | undefined): Record<string, unknown> {
  if (!endpoint) return {};
  const { source: _source, ...rest } = endpoint;
  void _source;
  return rest;
}

function compareStackSettings(before: StackConfig | undefined, after: StackConfig | undefined): SettingChange[] {
  const pick = (c: StackConfig | undefined) => ({ tags: c?.tags ?? {}, noncurrentVersionExpirationDays: c?.noncurrentVersionExpirationDays });
  const a = pick(before);
  const b = pick(after);
  return changedPaths(a, b).map((setting) => ({ setting, before: valueAt(a, setting), after: valueAt(b, setting) }));
}
