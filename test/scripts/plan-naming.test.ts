import { changedPaths } from "../../scripts/plan/diff";
import { planStack } from "../../scripts/plan/engine";
import { deploymentOf, estimateEndpoint } from "../../scripts/plan/estimates";
import { identityOf, isModelledType } from "../../scripts/plan/naming";
import { forcesReplacement, REPLACEMENT_RULES } from "../../scripts/plan/replacement";
import { shortType } from "../../scripts/plan/types";
import type { PlannedResource } from "../../scripts/plan/types";
import { FIXTURE_ROOT, FIXTURE_STACKS } from "../fixtures/project";

/** The provider model of the plan, without running the program: naming, ids and ARNs, replacement, estimates. */

const PROD = { accountId: "404040404043", region: "ap-southeast-4" };
const MODEL = "aws:sagemaker/model:Model";
const modelInputs = (version: number, tags: Record<string, string> = {}) => ({
  executionRoleArn: "arn:aws:iam::404040404043:role/churn-predictor-prod-sagemaker-execution",
  primaryContainer: { modelPackageName: `arn:aws:sagemaker:ap-southeast-4:404040404041:model-package/churn-predictor-churn-scorer/${version}` },
  tags,
});

describe("auto-naming", () => {
  it("GIVEN a Model without a name WHEN the provider names it THEN it is the logical name, '-' and 7 hex digits, with a lowercase ARN", () => {
    const id = identityOf(MODEL, "Churn-Scorer-model", modelInputs(6), PROD);
    expect(id.autoNamed).toBe(true);
    expect(id.physicalName).toMatch(/^Churn-Scorer-model-[0-9a-f]{7}$/);
    expect(id.id).toBe(id.physicalName);
    expect(id.state.name).toBe(id.physicalName);
    expect(id.state.arn).toBe(`arn:aws:sagemaker:ap-southeast-4:404040404043:model/${id.physicalName?.toLowerCase()}`);
  });

  it("GIVEN the same inputs twice WHEN named THEN the name is the same, and a tag change keeps it", () => {
    const first = identityOf(MODEL, "scorer-model", modelInputs(6), PROD).physicalName;
    expect(identityOf(MODEL, "scorer-model", modelInputs(6), PROD).physicalName).toBe(first);
    expect(identityOf(MODEL, "scorer-model", modelInputs(6, { team: "ml" }), PROD).physicalName).toBe(first);
  });

  it("GIVEN a replacement-forcing change WHEN named THEN the future name changes, as a real replacement's would", () => {
    expect(identityOf(MODEL, "scorer-model", modelInputs(7), PROD).physicalName).not.toBe(identityOf(MODEL, "scorer-model", modelInputs(6), PROD).physicalName);
  });

  it("GIVEN an explicit name WHEN named THEN it is kept as given and not marked auto-named", () => {
    const id = identityOf("aws:sagemaker/endpoint:Endpoint", "scorer-endpoint", { name: "churn-predictor-churn-scorer", endpointConfigName: "c" }, PROD);
    expect(id).toMatchObject({ physicalName: "churn-predictor-churn-scorer", autoNamed: false, id: "churn-predictor-churn-scorer" });
    expect(id.state.arn).toBe("arn:aws:sagemaker:ap-southeast-4:404040404043:endpoint/churn-predictor-churn-scorer");
  });

  it("GIVEN an S3 bucket without a name WHEN named THEN pulumi-aws lowercases the logical name first", () => {
    const id = identityOf("aws:s3/bucket:Bucket", "Data-Bucket", {}, PROD);
    expect(id.physicalName).toMatch(/^data-bucket-[0-9a-f]{7}$/);
    expect(id.state).toMatchObject({ arn: `arn:aws:s3:::${id.physicalName}`, bucketRegionalDomainName: `${id.physicalName}.s3.ap-southeast-4.amazonaws.com` });
  });

  it.each([
    ["aws:iam/role:Role", { name: "r" }, "r", { arn: "arn:aws:iam::404040404043:role/r" }],
    ["aws:iam/rolePolicy:RolePolicy", { name: "p", role: "r" }, "r:p", {}],
    ["aws:cloudwatch/metricAlarm:MetricAlarm", { name: "a" }, "a", { arn: "arn:aws:cloudwatch:ap-southeast-4:404040404043:alarm:a" }],
    ["aws:kms/alias:Alias", { name: "alias/x", targetKeyId: "k" }, "alias/x",
      { arn: "arn:aws:kms:ap-southeast-4:404040404043:alias/x", targetKeyArn: "arn:aws:kms:ap-southeast-4:404040404043:key/k" }],
    ["aws:ecr/repository:Repository", { name: "repo" }, "repo",
      { arn: "arn:aws:ecr:ap-southeast-4:404040404043:repository/repo", repositoryUrl: "404040404043.dkr.ecr.ap-southeast-4.amazonaws.com/repo" }],
    ["aws:s3/bucketPolicy:BucketPolicy", { bucket: "b", policy: "{}" }, "b", {}],
  ])("GIVEN a %s WHEN named THEN its id and outputs have the type's real format", (type, inputs, id, state) => {
    const identity = identityOf(type, "logical", inputs, PROD);
    expect(identity.id).toBe(id);
    expect(identity.state).toMatchObject(state);
  });

  it("GIVEN a KMS key WHEN named THEN it gets a UUID key id and an ARN in the stage's account and region", () => {
    const id = identityOf("aws:kms/key:Key", "key", { description: "d" }, PROD);
    expect(id.physicalName).toBeUndefined();
    expect(id.state.arn).toBe(`arn:aws:kms:ap-southeast-4:404040404043:key/${id.id}`);
    expect(id.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-8[0-9a-f]{3}-[0-9a-f]{12}$/);
  });
});

describe("the replacement table", () => {
  it.each([
    ["aws:sagemaker/endpoint:Endpoint", "name", true],
    ["aws:sagemaker/endpoint:Endpoint", "deploymentConfig.autoRollbackConfiguration.alarms[0].alarmName", true],
    ["aws:sagemaker/endpoint:Endpoint", "endpointConfigName", false],
    ["aws:sagemaker/endpoint:Endpoint", "deploymentConfig.blueGreenUpdatePolicy.terminationWaitInSeconds", false],
    ["aws:sagemaker/endpoint:Endpoint", "deploymentConfig", true],
    [MODEL, "primaryContainer.environment.X", true],
    [MODEL, "tags.team", false],
    ["aws:sagemaker/endpointConfiguration:EndpointConfiguration", "productionVariants[0].instanceType", true],
    ["aws:cloudwatch/metricAlarm:MetricAlarm", "threshold", false],
    ["aws:s3/bucket:Bucket", "bucket", true],
    ["aws:s3/bucketPolicy:BucketPolicy", "policy.Statement[0].Effect", false],
    ["aws:kms/key:Key", "policy", false],
    ["aws:kms/alias:Alias", "targetKeyId", false],
    ["some:unknown/type:Type", "anything", true],
  ])("GIVEN %s WHEN %s changes THEN replacement is %s", (type, path, replaces) => {
    expect(forcesReplacement(type, path)).toBe(replaces);
  });

  it("GIVEN every rule WHEN read THEN it cites where it comes from", () => {
    for (const rule of Object.values(REPLACEMENT_RULES)) expect(rule.source.length).toBeGreaterThan(20);
  });
});

describe("changedPaths", () => {
  it("GIVEN two policy documents as JSON strings WHEN compared THEN the path goes into the document", () => {
    const a = { policy: JSON.stringify({ Statement: [{ Effect: "Allow", Resource: "a" }] }), n: 1 };
    const b = { policy: JSON.stringify({ Statement: [{ Effect: "Allow", Resource: "b" }] }), n: 1 };
    expect(changedPaths(a, b)).toEqual(["policy.Statement[0].Resource"]);
  });

  it("GIVEN a list that grows WHEN compared THEN the new index is the changed path", () => {
    expect(changedPaths({ alarms: [{ alarmName: "a" }] }, { alarms: [{ alarmName: "a" }, { alarmName: "b" }] })).toEqual(["alarms[1]"]);
  });
});

describe("rollout and cost estimates", () => {
  const endpoint = (deploymentConfig: unknown): PlannedResource => ({
    urn: "urn:x",
    type: "aws:sagemaker/endpoint:Endpoint",
    name: "e",
    parent: null,
    custom: true,
    physicalName: "e",
    autoNamed: false,
    id: "e",
    accountId: PROD.accountId,
    region: PROD.region,
    inputs: { deploymentConfig },
  });

  it("GIVEN a linear deployment in 25% steps of a 4-instance fleet WHEN estimated THEN it bakes once per step plus the termination wait", () => {
    const e = estimateEndpoint(endpoint({
      blueGreenUpdatePolicy: {
        trafficRoutingConfiguration: { type: "LINEAR", waitIntervalInSeconds: 120, linearStepSize: { type: "CAPACITY_PERCENT", value: 25 } },
        terminationWaitInSeconds: 300,
      },
    }), { instanceType: "ml.m5.large", instanceCount: 4 }, "k");
    // 10 min provisioning + 4 x 2 min + 5 min; the green fleet of 4 doubles the fleet for 23 min.
    expect(e).toMatchObject({ strategy: "linear", rolloutMinutes: 23, provisioningRounds: 1, waitMinutes: 13 });
    // ml.m5.large is $0.115 an hour: 4 x 0.115 x 23/60 = 0.176; 4 x 0.115 x 730 h = 335.80.
    expect(e.deployCostUsd).toBe(0.18);
    expect(e.monthlyCostUsd).toBe(335.8);
  });

  it("GIVEN a rolling update of 4 GPU instances in 50% batches WHEN estimated THEN each batch is provisioned in turn", () => {
    const e = estimateEndpoint(endpoint({
      rollingUpdatePolicy: { maximumBatchSize: { type: "CAPACITY_PERCENT", value: 50 }, waitIntervalInSeconds: 600 },
    }), { instanceType: "ml.g5.xlarge", instanceCount: 4 }, "k");
    expect(e).toMatchObject({ strategy: "rolling", provisioningRounds: 2, provisioningMinutes: 15, rolloutMinutes: 50 });
    // Two extra instances (one batch) for 50 minutes.
    // Two extra ml.g5.xlarge ($1.408 an hour) for 50 minutes: 2.347.
    expect(e.deployCostUsd).toBe(2.35);
  });

  it("GIVEN an instance type without a price WHEN estimated THEN the costs are unknown, not zero", () => {
    const e = estimateEndpoint(endpoint({ blueGreenUpdatePolicy: { trafficRoutingConfiguration: { type: "ALL_AT_ONCE", waitIntervalInSeconds: 0 } } }),
      { instanceType: "ml.m5.24xlarge", instanceCount: 1 }, null);
    expect(e).toMatchObject({ hourlyUsd: null, deployCostUsd: null, monthlyCostUsd: null, rolloutMinutes: 10 });
  });

  it("GIVEN a canary sized in instances WHEN read as guardrails THEN the size becomes a share of the fleet", () => {
    expect(deploymentOf({
      blueGreenUpdatePolicy: { trafficRoutingConfiguration: { type: "CANARY", waitIntervalInSeconds: 60, canarySize: { type: "INSTANCE_COUNT", value: 1 } } },
    }, 4)).toEqual({ strategy: "canary", canarySizePercent: 25, waitSeconds: 60, terminationWaitSeconds: 0, maximumExecutionTimeoutSeconds: undefined });
  });
});

describe("shortType", () => {
  it.each([
    ["aws:sagemaker/endpoint:Endpoint", "sagemaker:Endpoint"],
    ["pulumi:providers:aws", "provider:aws"],
    ["mlplatform:sagemaker:BlueGreenEndpoint", "sagemaker:BlueGreenEndpoint"],
  ])("GIVEN %s WHEN shortened THEN it reads %s", (type, short) => {
    expect(shortType(type)).toBe(short);
  });
});

describe("coverage of the program's resource types", () => {
  it("GIVEN every fixture stack, the registry's included, WHEN planned THEN each cloud resource type has a naming model and a replacement rule with its source", async () => {
    const types = new Set<string>();
    for (const stage of FIXTURE_STACKS) {
      for (const r of (await planStack(FIXTURE_ROOT, stage)).resources) if (r.custom) types.add(r.type);
    }
    expect(types.size).toBeGreaterThan(15);
    // The registry's own types come from the registry stack alone.
    expect([...types]).toEqual(expect.arrayContaining(["aws:sagemaker/modelPackageGroup:ModelPackageGroup", "aws:ecr/repository:Repository"]));
    const unmodelled = [...types].filter((t) => !isModelledType(t));
    const unruled = [...types].filter((t) => REPLACEMENT_RULES[t] === undefined || REPLACEMENT_RULES[t].source.length === 0);
    expect({ unmodelled, unruled }).toEqual({ unmodelled: [], unruled: [] });
  });
});
