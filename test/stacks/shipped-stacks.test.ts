import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { planStack } from "../../scripts/plan/engine";
import { readProjectConfig } from "../../stacks/config/files";
import { type DeploymentStack, deploymentStacks, type ProjectConfig, registryPlacement } from "../../stacks/config/schema";
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
const REGISTRY = registryPlacement(project);
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
  test("has a stack per stage, plus the dedicated registry's when it has one", () => {
    expect(stageNames).toEqual(project.stages.map((s: ProjectConfig["stages"][number]) => s.name));
    expect(stackNames.includes("registry")).toBe(project.registryAccountId !== undefined);
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

  it("GIVEN the registry placement THEN exactly its stack builds the registry, with one package group per model", () => {
    for (const stack of stackNames) {
      expect([stack, ofType(runs[stack].resources, "mlplatform:registry:RegistryAccount").length]).toEqual([stack, stack === REGISTRY.stack ? 1 : 0]);
    }
    expect(ofType(runs[REGISTRY.stack].resources, "aws:sagemaker/modelPackageGroup:ModelPackageGroup").map((r) => r.inputs.modelPackageGroupName).sort())
      .toEqual(project.models.map((m) => `${SERVICE}-${m}`).sort());
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
    const keys = Object.keys(readEndpoints(stage));
    const models = ofType(run.resources, "aws:sagemaker/model:Model");
    const configs = ofType(run.resources, "aws:sagemaker/endpointConfiguration:EndpointConfiguration");
    expect(models).toHaveLength(keys.length);
    expect(configs).toHaveLength(keys.length);
    for (const r of [...models, ...configs]) expect(r.inputs.name).toBeUndefined();
    expect(ofType(run.resources, "aws:sagemaker/endpoint:Endpoint").map((r) => r.inputs.name).sort())
      .toEqual(keys.map((k) => `${SERVICE}-${k}`).sort());
    expect(endpointKeys(stage).sort()).toEqual(keys.map((k) => `${SERVICE}-${k}`).sort());
  });

  it.each(stackNames)("GIVEN the %s stack THEN every workload role carries the stack's permissions boundary and the CI roles do not", async (stack) => {
    // The plan's provider model gives the boundary policy its real ARN (the bare mocks echo inputs only).
    const plan = await planStack(REPO_ROOT, stack);
    const boundaryArn = `arn:${PARTITION}:iam::${ACCOUNTS[stack]}:policy/${SERVICE}-${stack}-workload-boundary`;
    expect(plan.resources.filter((r) => r.type === "aws:iam/policy:Policy").map((r) => r.id)).toEqual([boundaryArn]);
    const roles = plan.resources.filter((r) => r.type === "aws:iam/role:Role");
    for (const role of roles) {
      const ci = /-(deployer|previewer)-role$/.test(role.name);
      expect([role.name, role.inputs.permissionsBoundary]).toEqual([role.name, ci ? undefined : boundaryArn]);
    }
    const workloadRoles = (stack === REGISTRY.stack ? 1 : 0) + (STAGES.some((s) => s.name === stack) ? 1 : 0);
    expect(roles.filter((r) => r.inputs.permissionsBoundary !== undefined)).toHaveLength(workloadRoles);
  });

  it.each(stackNames)("GIVEN the %s stack THEN every endpoint rolls back on alarms created in the same stack (the endpoint's account)", (stack) => {
    const alarmNames = new Set(ofType(runs[stack].resources, "aws:cloudwatch/metricAlarm:MetricAlarm").map((r) => r.inputs.name));
    for (const endpoint of ofType(runs[stack].resources, "aws:sagemaker/endpoint:Endpoint")) {
      const alarms = (endpoint.inputs.deploymentConfig as { autoRollbackConfiguration: { alarms: { alarmName: string }[] } })
        .autoRollbackConfiguration.alarms;
      expect(alarms.length).toBeGreaterThanOrEqual(2);
      for (const alarm of alarms) expect(alarmNames.has(alarm.alarmName)).toBe(true);
    }
  });

  if (REGISTRY.dedicated) {
    test("GIVEN the dedicated registry stack THEN it serves nothing: no stage bucket, execution role or endpoint", () => {
      const run = runs[REGISTRY.stack];
      expect(ofType(run.resources, "aws:sagemaker/endpoint:Endpoint")).toHaveLength(0);
      expect(ofType(run.resources, "aws:iam/role:Role").filter((r) => r.name.endsWith("-execution-role"))).toHaveLength(0);
      expect(ofType(run.resources, "aws:s3/bucket:Bucket").map((r) => r.inputs.bucket)).toEqual([`${SERVICE}-artifacts-${REGISTRY.accountId}-${region}`]);
    });
  }
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
    for (const model of ofType(runs[stage].resources, "aws:sagemaker/model:Model")) {
      const container = model.inputs.primaryContainer as { modelDataUrl?: string; modelPackageName?: string; image?: string };
      if (container.modelDataUrl) {
        const bucket = container.modelDataUrl.slice("s3://".length).split("/")[0];
        expect(readable).toContain(`arn:${PARTITION}:s3:::${bucket}/*`);
        expect(container.image?.startsWith(`${REGISTRY.accountId}.dkr.ecr.${region}.`)).toBe(true);
      } else {
        expect(container.modelPackageName?.startsWith(`arn:${PARTITION}:sagemaker:${region}:${REGISTRY.accountId}:model-package/${SERVICE}-`)).toBe(true);
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
