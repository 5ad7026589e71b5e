// The module object itself, not an ES namespace copy (whose properties are read-only), so its helper can be swapped.
// eslint-disable-next-line @typescript-eslint/no-require-imports
import promiseDebugging = require("@pulumi/pulumi/runtime/debuggable");
import type { MockResourceArgs } from "@pulumi/pulumi/runtime/mocks";
import { estimateStack } from "./estimates";
import {
  checkCanaryDeployers, checkOfConfigProblem, checkResources, checkRollouts, endpointKeyResolver, FindingSink, stackUrn,
} from "./findings";
import { type Identity, identityOf } from "./naming";
import type { Finding, PlannedResource, StackPlan } from "./types";
import { isEndpointArgsError } from "../../components/blue-green-endpoint";
import { type AccountRef, endpointNames } from "../../components/names";
import { readProjectFile, readStackConfigFiles } from "../../stacks/config/files";
import { ConfigError, type FileProblem, loadStackConfig, PROJECT_FILE, stackFileName } from "../../stacks/config/load";
import { CONFIG_NAMESPACE, REGISTRY_STACK, type StackConfig } from "../../stacks/config/schema";
import { type RegisteredResource, runStackOffline } from "../../stacks/offline-run";

/**
 * The offline plan of one stack: validate its config with the program's own loader, run the real
 * program under Pulumi's mock runtime with a resolver that behaves like the AWS provider (naming.ts),
 * then check every registered resource and estimate each endpoint's rollout and cost.
 */

/** What the plan needs of Pulumi.yaml before any stack runs: the project name, service name and stages. */
export interface ProjectInfo {
  readonly name: string;
  readonly serviceName: string | undefined;
  /** Stack names in deploy order: the registry's, then the stages as Pulumi.yaml lists them. */
  readonly stages: string[];
  /** Account of each stage and the project's region, as written (for stacks whose config fails validation). */
  readonly accounts: Readonly<Record<string, string>>;
  readonly region: string;
}

export function readProjectInfo(projectDir: string): ProjectInfo {
  const doc = readProjectFile(projectDir);
  const stages = doc.config[`${CONFIG_NAMESPACE}:stages`];
  const serviceName = doc.config[`${CONFIG_NAMESPACE}:serviceName`];
  const names = Array.isArray(stages) ? stages.map((s) => (s as { name?: unknown } | null)?.name).filter((n): n is string => typeof n === "string") : [];
  if (names.length === 0) {
    throw new ConfigError([{ file: PROJECT_FILE, path: `${CONFIG_NAMESPACE}:stages`, message: "must list the stages, each with a name and an accountId" }]);
  }
  const accounts: Record<string, string> = {};
  for (const stage of Array.isArray(stages) ? stages as { name?: unknown; accountId?: unknown }[] : []) {
    if (typeof stage?.name === "string") accounts[stage.name] = String(stage.accountId ?? "");
  }
  // The registry's stack comes first, in a dedicated account or in that of registryStage (default: the first stage).
  const registryAccountId = doc.config[`${CONFIG_NAMESPACE}:registryAccountId`];
  const registryStage = doc.config[`${CONFIG_NAMESPACE}:registryStage`];
  accounts[REGISTRY_STACK] = registryAccountId !== undefined ? String(registryAccountId)
    : accounts[typeof registryStage === "string" ? registryStage : names[0]] ?? "";
  names.unshift(REGISTRY_STACK);
  const region = doc.config["aws:region"];
  return {
    name: doc.name,
    serviceName: typeof serviceName === "string" ? serviceName : undefined,
    stages: names,
    accounts,
    region: typeof region === "string" ? region : "",
  };
}

/**
 * Pulumi's runtime dresses every promise it creates for debugging (runtime/debuggable.js): a stack
 * trace, three extra properties, an entry in a leak-detection set and two extra promise reactions.
 * It also captures a stack trace for every resource (Resource.callsites, with an unlimited depth)
 * and formats each one as text; under ts-node every frame is also mapped through source maps. The
 * traces were 85% of a stack's run time, and the wrapping costs about 20 ms of a plan of the shipped
 * stacks (over 6,000 promises: each resource input becomes an Output with four). The plan uses none of
 * it: the traces locate resources in program source for the engine's diagnostics, and leaks are the
 * plan's own business (it waits for every registration). So while the program runs, traces are
 * captured at depth 0 and formatted as "", and promises are left as they are. If a Pulumi release
 * moves the debugging helper, only the saving is lost.
 * Set MLPLATFORM_PLAN_STACK_TRACES=1 to keep all of it when debugging the program.
 */
export async function withoutRuntimeDebugging<T>(fn: () => Promise<T>): Promise<T> {
  if (process.env.MLPLATFORM_PLAN_STACK_TRACES === "1") return fn();
  const { stackTraceLimit, prepareStackTrace } = Error;
  const helper = promiseDebugging as { debuggablePromise?: unknown };
  const debuggablePromise = helper.debuggablePromise;
  Error.stackTraceLimit = 0;
  Error.prepareStackTrace = () => "";
  if (typeof debuggablePromise === "function") helper.debuggablePromise = <P>(promise: P): P => promise;
  try {
    return await fn();
  } finally {
    Error.stackTraceLimit = stackTraceLimit;
    Error.prepareStackTrace = prepareStackTrace;
    if (typeof debuggablePromise === "function") helper.debuggablePromise = debuggablePromise;
  }
}

/** The provider resource's account and region, from its (JSON-encoded) inputs. */
function providerAccount(inputs: Record<string, unknown>, fallback: AccountRef): AccountRef {
  let accountId = fallback.accountId;
  try {
    const ids = JSON.parse(String(inputs.allowedAccountIds ?? "[]")) as unknown[];
    if (ids.length === 1) accountId = String(ids[0]);
  } catch {
    // keep the stack's account
  }
  return { accountId, region: typeof inputs.region === "string" ? inputs.region : fallback.region };
}

/** The plan of a stack that registers nothing (its config is invalid, or it does not exist). */
export function emptyPlan(stage: string, account = "", region = "", findings: Finding[] = []): StackPlan {
  return { stack: stage, file: stackFileName(stage), account, region, resources: [], findings, estimates: estimateStack([], () => null) };
}

/** Runs one stack from the stack files in `projectDir`. */
export async function planStack(projectDir: string, stage: string, project = readProjectInfo(projectDir)): Promise<StackPlan> {
  const sink = new FindingSink(stage);
  const file = stackFileName(stage);
  const rootUrn = stackUrn(stage, project.name);
  const componentUrn = (key: string) => project.serviceName === undefined ? rootUrn
    : `urn:pulumi:${stage}::${project.name}::mlplatform:sagemaker:BlueGreenEndpoint::${endpointNames(project.serviceName, key).endpoint}`;
  const reportConfigProblems = (problems: readonly FileProblem[]) => {
    for (const p of problems) {
      const key = /^mlplatform:endpoints\.([^.[]+)/.exec(p.path)?.[1];
      const urn = key === undefined ? rootUrn : componentUrn(key);
      sink.add(checkOfConfigProblem(p), { urn, name: urn.split("::").pop() ?? stage }, p.path === "(file)" ? null : p.path, `${p.file}: ${p.message}`);
    }
  };
  const empty = (account = project.accounts[stage] ?? "", region = project.region) => emptyPlan(stage, account, region, sink.findings);

  let raw: Record<string, string>;
  let config: StackConfig;
  try {
    raw = readStackConfigFiles(projectDir, stage);
    config = loadStackConfig(stage, raw);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    reportConfigProblems(error.problems);
    return empty();
  }
  const account: AccountRef = { accountId: config.accountId, region: config.region };

  /** What the provider model made of each registered resource, and where it lives, by `type::name`. */
  const provided = new Map<string, { identity: Identity; where: AccountRef }>();
  const resolve = (args: MockResourceArgs, ignoreChanges: readonly string[]) => {
    const inputs = (args.inputs ?? {}) as Record<string, unknown>;
    const where = args.type.startsWith("pulumi:providers:") ? providerAccount(inputs, account) : providerOf(args.provider) ?? account;
    const identity = identityOf(args.type, args.name, inputs, where, ignoreChanges);
    provided.set(`${args.type}::${args.name}`, { identity, where });
    return { id: identity.id, state: identity.state };
  };
  // Provider references are "urn::id"; the provider registered first, under its own URN.
  const providerOf = (ref: string | undefined): AccountRef | undefined => {
    if (!ref) return undefined;
    const urn = ref.slice(0, ref.lastIndexOf("::"));
    const [type, name] = [urn.split("::")[2]?.split("$").pop() ?? "", urn.split("::").pop() ?? ""];
    return provided.get(`${type}::${name}`)?.where;
  };

  let registered: RegisteredResource[] = [];
  try {
    registered = (await withoutRuntimeDebugging(() => runStackOffline({ project: project.name, stage, config: raw, resolve }))).resources;
  } catch (error) {
    reportProgramError(sink, error, rootUrn, componentUrn, config);
    return { ...empty(config.accountId, config.region), config };
  }

  const resources: PlannedResource[] = registered.map((r) => {
    const { identity, where } = provided.get(`${r.type}::${r.name}`) ?? { identity: undefined, where: account };
    return {
      urn: r.urn,
      type: r.type,
      name: r.name,
      parent: r.parent ?? null,
      custom: r.custom,
      physicalName: r.custom ? identity?.physicalName ?? null : null,
      autoNamed: r.custom ? identity?.autoNamed ?? false : false,
      id: r.custom ? identity?.id ?? null : null,
      accountId: where.accountId,
      region: where.region,
      inputs: r.inputs,
      ignoreChanges: r.ignoreChanges,
    };
  });

  const endpointKeyOf = endpointKeyResolver(resources, config);
  checkResources(sink, { resources, endpointKeyOf });
  const estimates = estimateStack(resources, endpointKeyOf, (key) => config.endpoints[key]?.deployment);
  checkRollouts(sink, estimates.endpoints);
  checkCanaryDeployers(sink, estimates.endpoints, config);
  return { stack: stage, file, account: config.accountId, region: config.region, resources, findings: sink.findings, estimates, config };
}

/** Plans several stacks one after another (the mock runtime is process-wide). */
export async function planStacks(projectDir: string, stages: readonly string[]): Promise<StackPlan[]> {
  const project = readProjectInfo(projectDir);
  const plans: StackPlan[] = [];
  for (const stage of stages) plans.push(await planStack(projectDir, stage, project));
  return plans;
}

/**
 * The program stopped. When an endpoint component refused its arguments, each of its structured
 * problems (components/endpoint-rules.ts) is a finding of its own check, at its stack-file key;
 * anything else is one `program` finding.
 */
function reportProgramError(sink: FindingSink, error: unknown, rootUrn: string, componentUrn: (key: string) => string, config: StackConfig): void {
  const message = error instanceof Error ? error.message : String(error);
  if (!isEndpointArgsError(error)) {
    sink.add("program", { urn: rootUrn, name: rootUrn.split("::").pop() ?? "" }, null, `the program stopped: ${message.split("\n")[0]}`);
    return;
  }
  const key = Object.keys(config.endpoints).find((k) => endpointNames(config.project.serviceName, k).endpoint === error.endpointName);
  const urn = key === undefined ? rootUrn : componentUrn(key);
  const at = { urn, name: urn.split("::").pop() ?? "" };
  for (const problem of error.problems) {
    const configKey = key === undefined ? null : [`${CONFIG_NAMESPACE}:endpoints.${key}`, problem.field].filter((p) => p !== "").join(".");
    sink.add(problem.check, at, configKey, `${error.component} "${error.endpointName}": ${problem.message}`);
  }
}
