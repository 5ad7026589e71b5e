import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { canaryDeployerNames } from "../../components/canary-contract";
import { planStack } from "../../scripts/plan/engine";
import { readProjectConfig } from "../../stacks/config/files";
import { type DeploymentStack, deploymentStacks, type ProjectConfig, REGISTRY_STACK, type TrustedPrincipal } from "../../stacks/config/schema";
import type { OfflineRun, RegisteredResource } from "../../stacks/offline-run";
import { FIXTURE } from "../fixtures/service";
import { ofType } from "../support/mocks";
import { policyInput } from "../support/resources";
import { copyProject, endpointPath, REPO_ROOT, runStack } from "../support/stack-files";

/**
 * Whole-stack invariants of the service's own stacks: every stack the service definition has
 * (Pulumi.yaml, written by projen from .projenrc.ts), run through the real program from the
 * repository's own stack files. Expectations come from the definition and the stack files, so the
 * tests hold for any service a team defines, not only for the example the template ships with.
 */

const { project, region } = readProjectConfig(REPO_ROOT);
const STACKS: DeploymentStack[] = deploymentStacks(project);
const STAGES = STACKS.filter((s) => s.kind === "stage");
/**
 * The registry's stack and account, read from the definition as its documentation states it: a
 * dedicated account (registryAccountId), else the account of registryStage, else of the first stage.
 */
const REGISTRY = {
  stack: REGISTRY_STACK,
  accountId: project.registryAccountId
    ?? project.stages.find((s: ProjectConfig["stages"][number]) => s.name === (project.registryStage ?? project.stages[0].name))!.accountId,
};
const SERVICE = project.serviceName;
const ACCOUNTS: Record<string, string> = Object.fromEntries(STACKS.map((s) => [s.name, s.accountId]));
// The partition of the shipped region, written out: no service of this template runs in China, GovCloud or ISO regions yet.
const PARTITION = region.startsWith("cn-") ? "aws-cn" : region.startsWith("us-gov-") ? "aws-us-gov" : "aws";

type Doc = import("../../components/policies").PolicyDocument;

const runs: Record<string, OfflineRun> = {};

beforeAll(async () => {
  for (const stack of STACKS) runs[stack.name] = await runStack(stack.name, REPO_ROOT);
});

function one(run: OfflineRun, type: string, nameSuffix: string): RegisteredResource {
  const found = ofType(run.resources, type).filter((r) => r.name.endsWith(nameSuffix));
  expect(found).toHaveLength(1);
  return found[0];
}

function statement(d: Doc, sid: string) {
  const found = d.Statement.find((s) => s.Sid === sid);
  if (!found) throw new Error(`no statement ${sid}`);
  return found;
}

const list = (value: unknown): string[] => ([] as string[]).concat(value as string | string[]);
const stackNames = STACKS.map((s) => s.name);
const stageNames = STAGES.map((s) => s.name);
const endpointKeys = (stage: string) => ofType(runs[stage].resources, "mlplatform:sagemaker:BlueGreenEndpoint").map((r) => r.name);

describe("the service definition", () => {
  test("has the registry's stack first, in the registry's account, then a stack per stage in promotion order", () => {
    expect(STACKS).toEqual([
      { name: REGISTRY_STACK, accountId: REGISTRY.accountId, kind: "registry" },
      ...project.stages.map((s: ProjectConfig["stages"][number]) => ({ name: s.name, accountId: s.accountId, kind: "stage" })),
    ]);
  });

  test.each(stackNames)("has a stack file for the %s stack", (stack) => {
    expect(existsSync(join(REPO_ROOT, `Pulumi.${stack}.yaml`))).toBe(true);
  });
});

describe("the shipped stacks", () => {
  it.each(stackNames)("GIVEN the %s stack THEN it has exactly one AWS provider, pinned to its own account and region", (stack) => {
    const providers = ofType(runs[stack].resources, "pulumi:providers:aws");
    expect(providers).toHaveLength(1);
    expect(providers[0].inputs.allowedAccountIds).toEqual(JSON.stringify([ACCOUNTS[stack]]));
    expect(providers[0].inputs.region).toBe(region);
  });

  it.each(stackNames)("GIVEN the %s stack THEN every cloud resource is created through that provider", (stack) => {
    const provider = ofType(runs[stack].resources, "pulumi:providers:aws")[0];
    const custom = runs[stack].resources.filter((r) => r.custom && r.type !== "pulumi:providers:aws");
    expect(custom.length).toBeGreaterThan(5);
    for (const resource of custom) expect(resource.provider).toBe(`${provider.urn}::${provider.name}-id`);
  });

  it("GIVEN the registry placement THEN exactly the registry stack builds the registry, with one package group per model", () => {
    for (const stack of stackNames) {
      expect([stack, ofType(runs[stack].resources, "mlplatform:registry:RegistryAccount").length]).toEqual([stack, stack === REGISTRY.stack ? 1 : 0]);
    }
    expect(ofType(runs[REGISTRY.stack].resources, "aws:sagemaker/modelPackageGroup:ModelPackageGroup").map((r) => r.inputs.modelPackageGroupName).sort())
      .toEqual(project.models.map((m) => `${SERVICE}-${m}`).sort());
  });

  it.each(stageNames)("GIVEN the %s stage THEN it holds no registry resource, even in the registry's account", (stage) => {
    const run = runs[stage];
    const registryTypes = ["aws:sagemaker/modelPackageGroup:ModelPackageGroup", "aws:ecr/repository:Repository", "aws:ecr/repositoryPolicy:RepositoryPolicy"];
    for (const type of registryTypes) expect([type, ofType(run.resources, type)]).toEqual([type, []]);
    expect(ofType(run.resources, "aws:s3/bucket:Bucket").map((r) => r.inputs.bucket)).not.toContain(`${SERVICE}-artifacts-${REGISTRY.accountId}-${region}`);
    expect(ofType(run.resources, "aws:kms/alias:Alias").map((r) => r.inputs.name)).not.toContain(`alias/${SERVICE}-registry`);
    expect(ofType(run.resources, "aws:iam/role:Role").map((r) => r.inputs.name))
      .toEqual(expect.not.arrayContaining([`${SERVICE}-sagemaker-training`, `${SERVICE}-registry-publisher`, `${SERVICE}-registry-approver`]));
    expect(run.outputs.registry).toBeUndefined();
  });

  it.each(stageNames)("GIVEN the %s stage THEN it has its own bucket, execution role and CI roles, named for its account", (stage) => {
    const run = runs[stage];
    expect(one(run, "aws:s3/bucket:Bucket", `${stage}-bucket-bucket`).inputs.bucket).toBe(`${SERVICE}-${stage}-${ACCOUNTS[stage]}-${region}`);
    expect(one(run, "aws:iam/role:Role", "-execution-role").inputs.name).toBe(`${SERVICE}-${stage}-sagemaker-execution`);
    expect(one(run, "aws:iam/role:Role", "-deployer-role").inputs.name).toBe(`${SERVICE}-${stage}-deployer`);
    expect(one(run, "aws:iam/role:Role", "-previewer-role").inputs.name).toBe(`${SERVICE}-${stage}-previewer`);
  });

  it.each(stageNames)("GIVEN the %s stage THEN it serves exactly the endpoints of its stack file, each under its stable name", (stage) => {
    const run = runs[stage];
    const endpoints = readEndpoints(stage);
    const keys = Object.keys(endpoints);
    // One Model per endpoint, and one more per further variant of an A/B test.
    const abVariants = Object.values(endpoints)
      .reduce<number>((n, e) => n + ((e as { abTest?: { variants: unknown[] } }).abTest?.variants.length ?? 0), 0);
    const models = ofType(run.resources, "aws:sagemaker/model:Model");
    const configs = ofType(run.resources, "aws:sagemaker/endpointConfiguration:EndpointConfiguration");
    expect(models).toHaveLength(keys.length + abVariants);
    expect(configs).toHaveLength(keys.length);
    for (const r of [...models, ...configs]) expect(r.inputs.name).toBeUndefined();
    expect(ofType(run.resources, "aws:sagemaker/endpoint:Endpoint").map((r) => r.inputs.name).sort())
      .toEqual(keys.map((k) => `${SERVICE}-${k}`).sort());
    expect(endpointKeys(stage).sort()).toEqual(keys.map((k) => `${SERVICE}-${k}`).sort());
  });

  it.each(stackNames)("GIVEN the %s stack THEN every workload role carries the stack's permissions boundary, and the CI, approver and reader roles do not", async (stack) => {
    // The plan's provider model gives the boundary policy its real ARN (the bare mocks echo inputs only).
    const plan = await planStack(REPO_ROOT, stack);
    const boundaryArn = `arn:${PARTITION}:iam::${ACCOUNTS[stack]}:policy/${SERVICE}-${stack}-workload-boundary`;
    expect(plan.resources.filter((r) => r.type === "aws:iam/policy:Policy").map((r) => r.id)).toEqual([boundaryArn]);
    const roles = plan.resources.filter((r) => r.type === "aws:iam/role:Role");
    // The deployer may change the policies of bounded roles only: never its own, the previewer's, the approver's or the reader's.
    // CI and approval roles, and the canary deployers' state machine roles: no deployer may change their policies.
    const unbounded = (name: string) => /-(deployer|previewer|approver|reader|canary)-role$/.test(name);
    for (const role of roles) {
      expect([role.name, role.inputs.permissionsBoundary]).toEqual([role.name, unbounded(role.name) ? undefined : boundaryArn]);
    }
    // The registry's training and publisher roles; a stage's execution role.
    const bounded = roles.filter((r) => r.inputs.permissionsBoundary !== undefined).map((r) => r.inputs.name as string).sort();
    expect(bounded).toEqual(stack === REGISTRY.stack
      ? [`${SERVICE}-registry-publisher`, `${SERVICE}-sagemaker-training`]
      : [`${SERVICE}-${stack}-sagemaker-execution`]);
  });

  it.each(stackNames)("GIVEN the %s stack THEN every endpoint rolls back on alarms created in the same stack (the endpoint's account)", (stack) => {
    const alarmNames = new Set(ofType(runs[stack].resources, "aws:cloudwatch/metricAlarm:MetricAlarm").map((r) => r.inputs.name));
    for (const endpoint of ofType(runs[stack].resources, "aws:sagemaker/endpoint:Endpoint")) {
      const guardrails = endpoint.inputs.deploymentConfig as { autoRollbackConfiguration: { alarms: { alarmName: string }[] } } | undefined;
      // The canary deployer's endpoints roll back on its canary alarms, which its state machine reads.
      const deployer = canaryDeployerNames(String(endpoint.inputs.name));
      const alarms = guardrails?.autoRollbackConfiguration.alarms.map((a) => a.alarmName)
        ?? [deployer.invocation4xxAlarm, deployer.invocation5xxAlarm, deployer.modelLatencyAlarm];
      expect(alarms.length).toBeGreaterThanOrEqual(2);
      for (const alarm of alarms) expect([alarm, alarmNames.has(alarm)]).toEqual([alarm, true]);
    }
  });

  test("GIVEN the registry stack THEN it serves nothing: no stage bucket, key, execution role or endpoint", () => {
    const run = runs[REGISTRY.stack];
    expect(ofType(run.resources, "aws:sagemaker/endpoint:Endpoint")).toHaveLength(0);
    expect(ofType(run.resources, "aws:iam/role:Role").filter((r) => r.name.endsWith("-execution-role"))).toHaveLength(0);
    expect(ofType(run.resources, "aws:s3/bucket:Bucket").map((r) => r.inputs.bucket)).toEqual([`${SERVICE}-artifacts-${REGISTRY.accountId}-${region}`]);
    expect(ofType(run.resources, "aws:kms/alias:Alias").map((r) => r.inputs.name)).toEqual([`alias/${SERVICE}-registry`]);
    expect(run.outputs).toMatchObject({ bucketName: undefined, executionRoleArn: undefined, endpointNames: {} });
  });

  it.each(stackNames)("GIVEN the %s stack THEN it creates the account's GitHub OIDC provider exactly when asked to and it is the account's first stack", (stack) => {
    const ci = project.ciPrincipal;
    const asked = ci.type === "github-oidc" && ci.createOidcProvider;
    const first = STACKS.find((s) => s.accountId === ACCOUNTS[stack])?.name === stack;
    expect(ofType(runs[stack].resources, "aws:iam/openIdConnectProvider:OpenIdConnectProvider")).toHaveLength(asked && first ? 1 : 0);
  });
});

/** The endpoints of a stage's stack file, as written there (the file is read on its own, not through the program). */
function readEndpoints(stage: string): Record<string, unknown> {
  const doc = parse(readFileSync(join(REPO_ROOT, `Pulumi.${stage}.yaml`), "utf8")) as { config?: Record<string, unknown> } | null;
  return (doc?.config?.["mlplatform:endpoints"] ?? {}) as Record<string, unknown>;
}

describe("the cross-account grants", () => {
  const registryRun = () => runs[REGISTRY.stack];

  function executionRoleArn(stage: string): string {
    return `arn:${PARTITION}:iam::${ACCOUNTS[stage]}:role/${String(one(runs[stage], "aws:iam/role:Role", "-execution-role").inputs.name)}`;
  }

  function executionPolicy(stage: string): Doc {
    return policyInput(one(runs[stage], "aws:iam/rolePolicy:RolePolicy", "-execution-policy"), "policy");
  }

  it("GIVEN the registry bucket policy THEN it grants read to exactly the execution roles the stage stacks create", () => {
    const policy: Doc = policyInput(one(registryRun(), "aws:s3/bucketPolicy:BucketPolicy", "registry-artifacts-policy"), "policy");
    const read = statement(policy, "ConsumersReadArtifacts");
    expect(list(read.Condition?.ArnEquals["aws:PrincipalArn"]).sort()).toEqual(stageNames.map(executionRoleArn).sort());
    expect(list((read.Principal as { AWS: string[] }).AWS).sort()).toEqual(stageNames.map((s) => `arn:${PARTITION}:iam::${ACCOUNTS[s]}:root`).sort());
  });

  it.each(stageNames)("GIVEN the %s execution role THEN it reads exactly the bucket the registry stack creates", (stage) => {
    const registryBucket = String(one(registryRun(), "aws:s3/bucket:Bucket", "registry-artifacts-bucket").inputs.bucket);
    const policy = executionPolicy(stage);
    expect(statement(policy, "RegistryArtifacts").Resource).toBe(`arn:${PARTITION}:s3:::${registryBucket}/*`);
    expect(statement(policy, "RegistryArtifactsList").Resource).toBe(`arn:${PARTITION}:s3:::${registryBucket}`);
  });

  it.each(stageNames)("GIVEN the %s execution role THEN it decrypts with the registry key through the alias the registry creates", (stage) => {
    const alias = String(one(registryRun(), "aws:kms/alias:Alias", "registry-key-alias").inputs.name);
    const grant = statement(executionPolicy(stage), "RegistryKeyByAlias");
    expect(grant.Resource).toBe(`arn:${PARTITION}:kms:${region}:${REGISTRY.accountId}:key/*`);
    expect(grant.Condition?.["ForAnyValue:StringEquals"]["kms:ResourceAliases"]).toBe(alias);
  });

  it("GIVEN the registry key policy THEN it lets exactly the stages' execution roles decrypt", () => {
    const policy: Doc = policyInput(one(registryRun(), "aws:kms/key:Key", "registry-key-key"), "policy");
    const grant = statement(policy, "ConsumersDecrypt");
    expect(list(grant.Action).sort()).toEqual(["kms:Decrypt", "kms:DescribeKey"]);
    expect(list(grant.Condition?.ArnEquals["aws:PrincipalArn"]).sort()).toEqual(stageNames.map(executionRoleArn).sort());
  });

  it.each(stageNames)("GIVEN the %s execution role THEN the model groups it may read are the ones the registry shares with its account", (stage) => {
    const groups = ofType(registryRun().resources, "aws:sagemaker/modelPackageGroup:ModelPackageGroup").map((g) => String(g.inputs.modelPackageGroupName));
    const groupArns = groups.map((g) => `arn:${PARTITION}:sagemaker:${region}:${REGISTRY.accountId}:model-package-group/${g}`).sort();
    expect(list(statement(executionPolicy(stage), "RegistryModelGroups").Resource).sort()).toEqual(groupArns);
    for (const groupPolicy of ofType(registryRun().resources, "aws:sagemaker/modelPackageGroupPolicy:ModelPackageGroupPolicy")) {
      const shared: Doc = policyInput(groupPolicy, "resourcePolicy");
      expect(list((statement(shared, "ConsumersUseVersions").Principal as { AWS: string[] }).AWS)).toContain(`arn:${PARTITION}:iam::${ACCOUNTS[stage]}:root`);
    }
  });

  if (project.ecrRepository) {
    it.each(stageNames)("GIVEN the %s execution role THEN it pulls from exactly the repository the registry creates, which lets it pull", (stage) => {
      const repo = one(registryRun(), "aws:ecr/repository:Repository", "registry-images");
      expect(statement(executionPolicy(stage), "RegistryImages").Resource)
        .toBe(`arn:${PARTITION}:ecr:${region}:${REGISTRY.accountId}:repository/${String(repo.inputs.name)}`);
      const repoPolicy: Doc = policyInput(one(registryRun(), "aws:ecr/repositoryPolicy:RepositoryPolicy", "registry-images-policy"), "policy");
      expect(list(statement(repoPolicy, "ConsumersPull").Condition?.ArnEquals["aws:PrincipalArn"])).toContain(executionRoleArn(stage));
    });
  }

  it.each(stageNames)("GIVEN the %s stack's served images and model data THEN they come from the registry its execution role may read", (stage) => {
    const policy = executionPolicy(stage);
    const readable = list(statement(policy, "RegistryArtifacts").Resource);
    const ownBucket = list(statement(policy, "OwnBucketObjects").Resource);
    for (const model of ofType(runs[stage].resources, "aws:sagemaker/model:Model")) {
      const container = model.inputs.primaryContainer as { modelDataUrl?: string; modelPackageName?: string; image?: string; mode?: string };
      if (container.mode === "MultiModel") {
        // A multi-model container reads its models from the stage's own bucket (copied there from the registry).
        const bucket = String(container.modelDataUrl).slice("s3://".length).split("/")[0];
        expect(ownBucket).toContain(`arn:${PARTITION}:s3:::${bucket}/*`);
        expect(container.image?.startsWith(`${REGISTRY.accountId}.dkr.ecr.${region}.`)).toBe(true);
      } else if (container.modelDataUrl) {
        const bucket = container.modelDataUrl.slice("s3://".length).split("/")[0];
        expect(readable).toContain(`arn:${PARTITION}:s3:::${bucket}/*`);
        expect(container.image?.startsWith(`${REGISTRY.accountId}.dkr.ecr.${region}.`)).toBe(true);
      } else {
        expect(container.modelPackageName?.startsWith(`arn:${PARTITION}:sagemaker:${region}:${REGISTRY.accountId}:model-package/${SERVICE}-`)).toBe(true);
      }
    }
  });
});

describe("the registry's roles for people and pipelines", () => {
  const ci = project.ciPrincipal;
  const ciRepository = ci.type === "github-oidc" ? ci.repository : undefined;
  /** The template's documented defaults: GitHub environments of the CI repository. */
  const DEFAULT_ENVIRONMENTS = { publishers: "registry-publish", approvers: "registry-approve" } as const;
  const declared = (key: "publishers" | "approvers"): readonly TrustedPrincipal[] => project[key] ?? [{ github: { environment: DEFAULT_ENVIRONMENTS[key] } }];

  interface TrustStatement {
    Principal: { AWS?: string | string[]; Federated?: string };
    Condition?: Record<string, Record<string, string | string[]>>;
  }
  interface TrustDoc { Statement: TrustStatement[] }
  interface Admitted { subjects: string[]; roles: string[] }
  const trustOf = (role: string): TrustDoc => policyInput(one(runs[REGISTRY.stack], "aws:iam/role:Role", `registry-${role}-role`), "assumeRolePolicy");

  /**
   * Who a trust policy admits: GitHub OIDC subjects, and roles (exact ARNs, or ARN patterns through
   * the account root). A role admitted through a root must be of that root's account.
   */
  function admitted(trust: TrustDoc): Admitted {
    const subjects = trust.Statement.flatMap((s) => [s.Condition?.StringEquals, s.Condition?.StringLike])
      .flatMap((c) => list(c?.["token.actions.githubusercontent.com:sub"] ?? []));
    const roles = trust.Statement.flatMap((s) => {
      if (s.Condition?.ArnLike?.["aws:PrincipalArn"] === undefined) return list(s.Principal.AWS ?? []);
      const arns = list(s.Condition.ArnLike["aws:PrincipalArn"]);
      for (const arn of arns) expect([arn, s.Principal.AWS]).toEqual([arn, arn.replace(/^(arn:[\w-]+:iam::\d{12}):role\/.*$/, "$1:root")]);
      return arns;
    });
    return { subjects, roles };
  }

  /** Whether a GitHub OIDC subject is that of a declared GitHub principal (its repository, environment, branch and workflow). */
  function subjectOf(subject: string, p: Extract<TrustedPrincipal, { github: unknown }>["github"]): boolean {
    const repository = p.repository ?? ciRepository;
    return subject.startsWith(`repo:${repository}:`)
      && (p.environment === undefined || subject.includes(`:environment:${p.environment}`))
      && (p.branch === undefined || subject.includes(`refs/heads/${p.branch}`))
      && (p.workflow === undefined || subject.includes(`:job_workflow_ref:${repository}/.github/workflows/${p.workflow}@`));
  }

  /** Fails unless the trust admits each principal exactly once, and nothing else besides `also`. */
  function expectAdmitsExactly(trust: TrustDoc, principals: readonly TrustedPrincipal[], also: Admitted = { subjects: [], roles: [] }) {
    const { subjects, roles } = admitted(trust);
    const github = principals.flatMap((p) => ("github" in p ? [p.github] : []));
    const otherSubjects = subjects.filter((s) => !also.subjects.includes(s));
    expect(otherSubjects).toHaveLength(github.length);
    for (const p of github) expect([p, otherSubjects.filter((s) => subjectOf(s, p))]).toEqual([p, [expect.any(String)]]);
    expect(roles.filter((r) => !also.roles.includes(r)).sort()).toEqual(principals.flatMap((p) => ("roleArn" in p ? [p.roleArn] : [])).sort());
    for (const s of also.subjects) expect(subjects).toContain(s);
    for (const r of also.roles) expect(roles).toContain(r);
  }

  test("GIVEN the publisher role THEN it trusts exactly the definition's publishers (default: the registry-publish environment)", () => {
    expectAdmitsExactly(trustOf("publisher"), declared("publishers"));
  });

  test("GIVEN the approver role THEN it trusts exactly the definition's approvers (default: the registry-approve environment)", () => {
    expectAdmitsExactly(trustOf("approver"), declared("approvers"));
  });

  test("GIVEN the registry's reader role THEN it trusts the promote environment, every stage's deployer, and the publishers and approvers", () => {
    const promote = ciRepository === undefined ? [] : [`repo:${ciRepository}:environment:promote`];
    // Each stage's deployer role, as its own stack names it, in the stage's account (it runs `models add`).
    const deployers = STAGES.map((s) => `arn:${PARTITION}:iam::${s.accountId}:role/${String(one(runs[s.name], "aws:iam/role:Role", "-deployer-role").inputs.name)}`);
    expect(deployers).toEqual(STAGES.map((s) => `arn:${PARTITION}:iam::${s.accountId}:role/${SERVICE}-${s.name}-deployer`));
    const trust = trustOf("reader");
    expectAdmitsExactly(trust, [...declared("publishers"), ...declared("approvers")], { subjects: promote, roles: deployers });
    // Each exactly once (statements go by account, so not necessarily in stage order).
    expect(admitted(trust).roles.filter((r) => deployers.includes(r)).sort()).toEqual([...deployers].sort());
  });

  test("GIVEN every stack's previewer, the registry's included THEN it trusts pull requests (or the CI role) alone", () => {
    for (const stack of stackNames) {
      const previewer = admitted(policyInput(one(runs[stack], "aws:iam/role:Role", `${stack}-previewer-role`), "assumeRolePolicy") as TrustDoc);
      expect([stack, previewer]).toEqual([stack, ci.type === "github-oidc"
        ? { subjects: [`repo:${ci.repository}:pull_request`], roles: [] }
        : { subjects: [], roles: [ci.roleArn] }]);
    }
  });

  test("GIVEN the registry's deployer THEN it trusts only the registry's own GitHub environment, as every stack's deployer trusts its own", () => {
    for (const stack of stackNames) {
      const deployer = policyInput(one(runs[stack], "aws:iam/role:Role", `${stack}-deployer-role`), "assumeRolePolicy") as TrustDoc;
      const { subjects } = admitted(deployer);
      expect([stack, subjects]).toEqual([stack, ciRepository === undefined ? [] : [`repo:${ciRepository}:environment:${stack}`]]);
    }
  });
});

describe("the state backend", () => {
  const backend = project.stateBackend;
  const stateResources = (stack: string, role: "deployer" | "previewer") => {
    const policy: Doc = policyInput(one(runs[stack], "aws:iam/rolePolicy:RolePolicy", `${stack}-${role}-policy`), "policy");
    return policy.Statement.filter((s) => /^State/.test(s.Sid ?? "")).flatMap((s) => list(s.Resource));
  };

  it.each(stackNames)("GIVEN the %s stack THEN its CI roles reach its own state in the definition's state bucket, and no other stack's", (stack) => {
    for (const role of ["deployer", "previewer"] as const) {
      const resources = stateResources(stack, role);
      if (backend === undefined) {
        expect([role, resources]).toEqual([role, []]);
        continue;
      }
      const bucket = `arn:${PARTITION}:s3:::${backend.bucket}`;
      expect(resources).toContain(`${bucket}/.pulumi/stacks/${SERVICE}/${stack}.json*`);
      for (const resource of resources) expect(resource === bucket || resource.startsWith(`${bucket}/.pulumi/`)).toBe(true);
      for (const other of stackNames.filter((s) => s !== stack)) {
        expect(resources.filter((r) => r.includes(`/${SERVICE}/${other}.`) || r.includes(`/${SERVICE}/${other}/`))).toEqual([]);
      }
    }
  });
});

describe("the endpoint invariants (fixture project)", () => {
  async function endpointsAfter(stage: string, edit: (doc: import("yaml").Document) => void) {
    const copy = copyProject(stage, { stack: edit });
    try {
      return await runStack(stage, copy.dir);
    } finally {
      copy.cleanup();
    }
  }

  function endpointSummary(run: OfflineRun) {
    return ofType(run.resources, "aws:sagemaker/endpoint:Endpoint").map((e) => ({
      name: e.inputs.name,
      alarms: (e.inputs.deploymentConfig as { autoRollbackConfiguration: unknown }).autoRollbackConfiguration,
    }));
  }

  const scorer = FIXTURE.models[0];
  let before: OfflineRun;
  beforeAll(async () => { before = await runStack("prod"); });

  it("GIVEN a new model version in prod WHEN the stack runs THEN the Model changes while each Endpoint's name and rollback alarms do not", async () => {
    const after = await endpointsAfter("prod", (d) => d.setIn(endpointPath(scorer, "source", "version"), 8));
    const modelOf = (run: OfflineRun) => one(run, "aws:sagemaker/model:Model", `${scorer}-model`).inputs.primaryContainer;
    expect(modelOf(after)).toEqual({ modelPackageName: `arn:aws:sagemaker:${FIXTURE.region}:${FIXTURE.accounts.sandbox}:model-package/${FIXTURE.serviceName}-${scorer}/8` });
    expect(modelOf(after)).not.toEqual(modelOf(before));
    expect(endpointSummary(after)).toEqual(endpointSummary(before));
  });

  it("GIVEN a new instance type in prod WHEN the stack runs THEN the EndpointConfiguration changes while each Endpoint's name and rollback alarms do not", async () => {
    const after = await endpointsAfter("prod", (d) => d.setIn(endpointPath(scorer, "instanceType"), "ml.c5.4xlarge"));
    const variantsOf = (run: OfflineRun) => one(run, "aws:sagemaker/endpointConfiguration:EndpointConfiguration", `${scorer}-config`).inputs.productionVariants;
    expect(variantsOf(after)).not.toEqual(variantsOf(before));
    expect(endpointSummary(after)).toEqual(endpointSummary(before));
  });
});
