import {
  type AccountRef,
  ecrRepositoryArn,
  githubOidcProviderArn,
  modelPackageGroupArn,
  modelPackageGroupName,
  modelPackageVersionArn,
  REGISTRY_STACK,
  registryNames,
  roleArn,
  sagemakerArn,
  stageNames,
} from "../../components/names";
import type { PolicyDocument } from "../../components/policies";
import { evaluationName } from "../../scripts/lib/retrain/evaluation";
import { tuningJobName } from "../../scripts/lib/retrain/tuning";
import { FIXTURE_ROOT, FIXTURE_STAGES } from "../fixtures/project";
import { FIXTURE } from "../fixtures/service";
import { type AccessRequest, type Caller, canAssume, type ContextValue, evaluate } from "../support/iam-eval";
import { buildIamWorld, callerOf, type IamWorld } from "../support/iam-world";
import { copyProject } from "../support/stack-files";

/**
 * The model supply chain, evaluated: every role the fixture project's stacks create, with its
 * identity policies and boundary, against the registry's resource policies and the roles' trust
 * policies, as allowed / denied decisions for concrete actions on concrete ARNs. The escalation
 * paths of the supply-chain review are each a denied decision here.
 */

const SERVICE = FIXTURE.serviceName;
const REGION = FIXTURE.region;
const account = (accountId: string): AccountRef => ({ accountId, region: REGION, partition: "aws" });
// The fixture keeps its registry in the sandbox account (registryStage: sandbox).
const REGISTRY = account(FIXTURE.accounts.sandbox);
const REG = registryNames(SERVICE, REGISTRY);
const ARTIFACTS = `arn:aws:s3:::${REG.artifactBucket}`;
const [MODEL] = FIXTURE.models;
const GROUP = modelPackageGroupName(SERVICE, MODEL);
const VERSION_2 = modelPackageVersionArn(REGISTRY, GROUP, 2);
const APPROVED_ARTIFACT = `${ARTIFACTS}/${MODEL}/v2/model.tar.gz`;
const REPOSITORY = ecrRepositoryArn(REGISTRY, REG.ecrRepository);
const stage = (name: string) => stageNames(SERVICE, name, account(FIXTURE.accounts[name as keyof typeof FIXTURE.accounts]));
const registryStack = stageNames(SERVICE, REGISTRY_STACK, REGISTRY);
const SUB = "token.actions.githubusercontent.com:sub";

let world: IamWorld;
beforeAll(async () => {
  world = await buildIamWorld(FIXTURE_ROOT);
}, 120_000);

/** The decision for a role, with the resource policy and context the resource brings. */
function decide(caller: Caller | string, action: string, resource: string, context: Record<string, ContextValue> = {}): string {
  const who = typeof caller === "string" ? callerOf(world, caller) : caller;
  return evaluate({ caller: who, action, resource, ...resourceSide(resource), context: { ...keyContext(resource), ...context } }).decision;
}

/** The resource policy, owner and KMS rule of a resource ARN in the world. */
function resourceSide(resource: string): Partial<AccessRequest> {
  if (resource.startsWith(`${ARTIFACTS}`)) return { resourcePolicy: world.bucketPolicies.get(REG.artifactBucket), resourceAccountId: REGISTRY.accountId };
  if (resource.startsWith("arn:aws:s3:::")) {
    const bucket = resource.slice("arn:aws:s3:::".length).split("/")[0];
    const owner = Object.values(FIXTURE.accounts).find((id) => bucket.includes(id)) ?? REGISTRY.accountId;
    return { resourcePolicy: world.bucketPolicies.get(bucket), resourceAccountId: owner };
  }
  const key = [...world.keys.values()].find((k) => k.arn === resource);
  if (key !== undefined) return { resourcePolicy: key.policy, keyPolicyRequired: true };
  if (resource === REPOSITORY) return { resourcePolicy: world.repositoryPolicies.get(REG.ecrRepository) };
  if (resource.includes(":model-package/") || resource.includes(":model-package-group/")) {
    const group = resource.split("/")[1];
    return { resourcePolicy: world.groupPolicies.get(group) };
  }
  return {};
}

/** What KMS puts in the request context for a key: its aliases and tags. */
function keyContext(resource: string): Record<string, ContextValue> {
  const entry = [...world.keys.entries()].find(([, k]) => k.arn === resource);
  if (entry === undefined) return {};
  const [alias, key] = entry;
  return { "kms:ResourceAliases": [alias], ...Object.fromEntries(Object.entries(key.tags).map(([k, v]) => [`aws:ResourceTag/${k}`, v])) };
}

const keyArn = (alias: string) => {
  const key = world.keys.get(alias);
  if (key === undefined) throw new Error(`no key with ${alias}; keys: ${[...world.keys.keys()].join(", ")}`);
  return key.arn;
};
const NEW_OBJECT = { "s3:if-none-match": "*", "s3:ObjectCreationOperation": true };
const OVERWRITE = { "s3:ObjectCreationOperation": true };

/** A role with the worst inline policy its stack's deployer could write on it (anything, anywhere), under its boundary. */
function widenedByDeployer(roleName: string): Caller {
  const role = callerOf(world, roleName);
  const anything: PolicyDocument = { Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: "*", Resource: "*" }] };
  return { ...role, identityPolicies: [anything] };
}

describe("finding 1: no stage controls what the later stages load", () => {
  const sandbox = () => stage(FIXTURE_STAGES[0]);

  test("GIVEN the sandbox deployer (in the registry's account) THEN it may not change the artifact bucket's policy nor the registry key's", () => {
    expect(decide(sandbox().deployerRole, "s3:PutBucketPolicy", ARTIFACTS)).not.toBe("allow");
    expect(decide(sandbox().deployerRole, "s3:DeleteBucketPolicy", ARTIFACTS)).not.toBe("allow");
    expect(decide(sandbox().deployerRole, "kms:PutKeyPolicy", keyArn(REG.kmsAlias))).not.toBe("allow");
    expect(decide(sandbox().deployerRole, "kms:ScheduleKeyDeletion", keyArn(REG.kmsAlias))).not.toBe("allow");
  });

  test("GIVEN any role a stage deployer may change, with the widest policy it could write THEN it cannot write, delete or approve in the registry", () => {
    for (const name of FIXTURE_STAGES) {
      const role = widenedByDeployer(stage(name).executionRole);
      expect([name, decide(role, "s3:PutObject", APPROVED_ARTIFACT, OVERWRITE)]).toEqual([name, "explicit-deny"]);
      expect([name, decide(role, "s3:PutObject", `${ARTIFACTS}/${MODEL}/v3/model.tar.gz`, NEW_OBJECT)]).not.toEqual([name, "allow"]);
      expect([name, decide(role, "s3:DeleteObject", APPROVED_ARTIFACT)]).toEqual([name, "explicit-deny"]);
      expect([name, decide(role, "sagemaker:UpdateModelPackage", VERSION_2, { "sagemaker:ModelApprovalStatus": "Approved" })]).not.toEqual([name, "allow"]);
      expect([name, decide(role, "kms:PutKeyPolicy", keyArn(REG.kmsAlias))]).not.toEqual([name, "allow"]);
    }
  });

  test("GIVEN any deployer THEN it can neither create roles or keys nor change any role's trust policy", () => {
    for (const name of [...FIXTURE_STAGES, REGISTRY_STACK]) {
      const deployer = name === REGISTRY_STACK ? registryStack.deployerRole : stage(name).deployerRole;
      const own = (role: string) => `arn:aws:iam::${callerOf(world, deployer).accountId}:role/${role}`;
      expect(decide(deployer, "iam:UpdateAssumeRolePolicy", own(stage(name).executionRole))).toBe("explicit-deny");
      expect(decide(deployer, "iam:CreateRole", own(`${SERVICE}-anything`))).toBe("explicit-deny");
      expect(decide(deployer, "iam:UpdateAssumeRolePolicy", own(REG.approverRole))).toBe("explicit-deny");
      expect(decide(deployer, "iam:PutRolePermissionsBoundary", own(`${SERVICE}-anything`))).toBe("explicit-deny");
      // The keys it administers carry its stack's tags from creation, which it cannot put on another key.
      expect(decide(deployer, "kms:CreateKey", "*", { ["aws:RequestTag/mlplatform:stage"]: name })).toBe("explicit-deny");
      const otherKey = name === REGISTRY_STACK ? stage(FIXTURE_STAGES[0]).kmsAlias : REG.kmsAlias;
      expect(decide(deployer, "kms:TagResource", keyArn(otherKey), { "aws:RequestTag/mlplatform:stage": name })).not.toBe("allow");
    }
  });

  test("GIVEN a stage deployer THEN it may still change its execution role's inline policy, which the boundary caps", () => {
    const { deployerRole, executionRole, workloadBoundary } = stage(FIXTURE_STAGES[1]);
    const accountId = callerOf(world, deployerRole).accountId;
    const boundary = `arn:aws:iam::${accountId}:policy/${workloadBoundary}`;
    expect(decide(deployerRole, "iam:PutRolePolicy", `arn:aws:iam::${accountId}:role/${executionRole}`, { "iam:PermissionsBoundary": boundary })).toBe("allow");
    // Its own role carries no boundary: untouchable.
    expect(decide(deployerRole, "iam:PutRolePolicy", `arn:aws:iam::${accountId}:role/${deployerRole}`)).not.toBe("allow");
  });

  test("GIVEN a GitHub job in the sandbox environment THEN it may assume the sandbox deployer and none of the registry's roles", () => {
    const job = { federated: githubOidcProviderArn(REGISTRY) };
    const context = { [SUB]: `repo:${FIXTURE.repository}:environment:${FIXTURE_STAGES[0]}`, "token.actions.githubusercontent.com:aud": "sts.amazonaws.com" };
    const assume = (role: string) => canAssume({ trust: world.roles.get(role)!.trust, action: "sts:AssumeRoleWithWebIdentity", principal: job, context });
    expect(assume(sandbox().deployerRole)).toBe(true);
    for (const role of [registryStack.deployerRole, REG.publisherRole, REG.approverRole]) expect([role, assume(role)]).toEqual([role, false]);
  });

  test("GIVEN the publisher THEN it uploads new artifacts but can never replace or delete one", () => {
    expect(decide(REG.publisherRole, "s3:PutObject", `${ARTIFACTS}/${MODEL}/v3/model.tar.gz`, NEW_OBJECT)).toBe("allow");
    expect(decide(REG.publisherRole, "s3:PutObject", APPROVED_ARTIFACT, OVERWRITE)).toBe("explicit-deny");
    expect(decide(REG.publisherRole, "s3:DeleteObject", APPROVED_ARTIFACT)).toBe("explicit-deny");
    expect(decide(REG.publisherRole, "s3:DeleteObjectVersion", APPROVED_ARTIFACT)).toBe("explicit-deny");
    // Parts of a multipart upload carry no header; the completing call does.
    expect(decide(REG.publisherRole, "s3:PutObject", `${ARTIFACTS}/${MODEL}/v3/model.tar.gz`, { "s3:ObjectCreationOperation": false })).toBe("allow");
    // Training output stays writable, so only the training role writes there and no version may point at it.
    expect(decide(REG.publisherRole, "s3:PutObject", `${ARTIFACTS}/training/job-1/output/model.tar.gz`, NEW_OBJECT)).toBe("explicit-deny");
    expect(decide(REG.trainingRole, "s3:PutObject", `${ARTIFACTS}/training/job-1/output/model.tar.gz`, OVERWRITE)).toBe("allow");
    expect(decide(REG.trainingRole, "s3:PutObject", APPROVED_ARTIFACT, NEW_OBJECT)).not.toBe("allow");
  });

  test("GIVEN the registry's deployer THEN it manages the registry's policies but never what a version is made of, even through a policy it writes", () => {
    const deployer = registryStack.deployerRole;
    expect(decide(deployer, "s3:PutBucketPolicy", ARTIFACTS)).toBe("allow");
    expect(decide(deployer, "kms:PutKeyPolicy", keyArn(REG.kmsAlias))).toBe("allow");
    expect(decide(deployer, "sagemaker:PutModelPackageGroupPolicy", modelPackageGroupArn(REGISTRY, GROUP))).toBe("allow");
    expect(decide(deployer, "s3:PutObject", `${ARTIFACTS}/${MODEL}/v3/model.tar.gz`, NEW_OBJECT)).toBe("explicit-deny");
    expect(decide(deployer, "sagemaker:UpdateModelPackage", VERSION_2, { "sagemaker:ModelApprovalStatus": "Approved" })).toBe("explicit-deny");
    expect(decide(deployer, "ecr:PutImage", REPOSITORY)).toBe("explicit-deny");
    // A bucket policy it could write that names it directly still meets its identity's deny.
    const granting: PolicyDocument = { Version: "2012-10-17", Statement: [{ Effect: "Allow", Principal: { AWS: callerOf(world, deployer).arn }, Action: "s3:*", Resource: `${ARTIFACTS}/*` }] };
    expect(evaluate({ caller: callerOf(world, deployer), action: "s3:PutObject", resource: APPROVED_ARTIFACT, resourcePolicy: granting, resourceAccountId: REGISTRY.accountId, context: NEW_OBJECT }).decision)
      .toBe("explicit-deny");
  });
});

describe("finding 2: key reach is the stack's keys, not the account's", () => {
  test("GIVEN each stage deployer THEN it administers its own key and no other key of its account", () => {
    for (const name of FIXTURE_STAGES) {
      const { deployerRole, kmsAlias } = stage(name);
      expect([name, decide(deployerRole, "kms:ScheduleKeyDeletion", keyArn(kmsAlias))]).toEqual([name, "allow"]);
      const foreign = `arn:aws:kms:${REGION}:${callerOf(world, deployerRole).accountId}:key/someone-elses`;
      const untagged = evaluate({
        caller: callerOf(world, deployerRole),
        action: "kms:ScheduleKeyDeletion",
        resource: foreign,
        keyPolicyRequired: true,
        resourcePolicy: { Version: "2012-10-17", Statement: [{ Effect: "Allow", Principal: { AWS: `arn:aws:iam::${callerOf(world, deployerRole).accountId}:root` }, Action: "kms:*", Resource: "*" }] },
        context: { "aws:ResourceTag/mlplatform:service": "another-service" },
      });
      expect([name, untagged.decision]).toEqual([name, "implicit-deny"]);
      expect([name, decide(deployerRole, "kms:PutKeyPolicy", keyArn(REG.kmsAlias))]).not.toEqual([name, "allow"]);
    }
  });

  test("GIVEN an execution role THEN it decrypts with its stage key and the registry key only", () => {
    const { executionRole, kmsAlias } = stage(FIXTURE_STAGES[2]);
    const role = callerOf(world, executionRole);
    expect(decide(role, "kms:Decrypt", keyArn(kmsAlias))).toBe("allow");
    expect(decide(role, "kms:Decrypt", keyArn(REG.kmsAlias))).toBe("allow");
    // The widest inline policy its deployer could write does not reach other keys: the boundary names the two aliases.
    const widened = widenedByDeployer(executionRole);
    const other = `arn:aws:kms:${REGION}:${role.accountId}:key/other`;
    const ownerPolicy: PolicyDocument = { Version: "2012-10-17", Statement: [{ Effect: "Allow", Principal: { AWS: `arn:aws:iam::${role.accountId}:root` }, Action: "kms:*", Resource: "*" }] };
    expect(evaluate({ caller: widened, action: "kms:Decrypt", resource: other, keyPolicyRequired: true, resourcePolicy: ownerPolicy, context: { "kms:ResourceAliases": ["alias/other"] } }).decision)
      .toBe("implicit-deny");
  });
});

describe("finding 3: the registry flow has roles, and each does only its step", () => {
  test("GIVEN the publisher THEN it lists and registers versions only as PendingManualApproval, and pushes images", () => {
    expect(decide(REG.publisherRole, "sagemaker:ListModelPackages", modelPackageGroupArn(REGISTRY, GROUP))).toBe("allow");
    expect(decide(REG.publisherRole, "sagemaker:CreateModelPackage", modelPackageVersionArn(REGISTRY, GROUP, 3), { "sagemaker:ModelApprovalStatus": "PendingManualApproval" })).toBe("allow");
    expect(decide(REG.publisherRole, "sagemaker:CreateModelPackage", modelPackageVersionArn(REGISTRY, GROUP, 3), { "sagemaker:ModelApprovalStatus": "Approved" })).not.toBe("allow");
    expect(decide(REG.publisherRole, "sagemaker:UpdateModelPackage", VERSION_2, { "sagemaker:ModelApprovalStatus": "Approved" })).toBe("explicit-deny");
    expect(decide(REG.publisherRole, "ecr:PutImage", REPOSITORY)).toBe("allow");
    expect(decide(REG.publisherRole, "ecr:BatchDeleteImage", REPOSITORY)).not.toBe("allow");
  });

  test("GIVEN the approver THEN it approves or rejects and changes nothing else", () => {
    for (const status of ["Approved", "Rejected"]) {
      expect(decide(REG.approverRole, "sagemaker:UpdateModelPackage", VERSION_2, { "sagemaker:ModelApprovalStatus": status })).toBe("allow");
    }
    expect(decide(REG.approverRole, "sagemaker:DescribeModelPackage", VERSION_2)).toBe("allow");
    expect(decide(REG.approverRole, "s3:GetObject", APPROVED_ARTIFACT)).toBe("allow");
    expect(decide(REG.approverRole, "s3:PutObject", `${ARTIFACTS}/x/model.tar.gz`, NEW_OBJECT)).toBe("explicit-deny");
    expect(decide(REG.approverRole, "sagemaker:CreateModelPackage", modelPackageVersionArn(REGISTRY, GROUP, 3), { "sagemaker:ModelApprovalStatus": "PendingManualApproval" })).toBe("explicit-deny");
    expect(world.roles.get(REG.approverRole)?.boundary).toBeUndefined();
  });

  test("GIVEN every role of every stack THEN only the approver may change approval status", () => {
    const approvers = [...world.roles.values()].filter((r) => decide(r.name, "sagemaker:UpdateModelPackage", VERSION_2, { "sagemaker:ModelApprovalStatus": "Approved" }) === "allow");
    expect(approvers.map((r) => r.name)).toEqual([REG.approverRole]);
  });

  test("GIVEN every role of every stack THEN only the publisher may create artifacts outside training output, and no one may overwrite one", () => {
    const writers = [...world.roles.values()].filter((r) => decide(r.name, "s3:PutObject", `${ARTIFACTS}/${MODEL}/v9/model.tar.gz`, NEW_OBJECT) === "allow");
    expect(writers.map((r) => r.name).sort()).toEqual([REG.publisherRole]);
    const overwriters = [...world.roles.values()].filter((r) => decide(r.name, "s3:PutObject", APPROVED_ARTIFACT, OVERWRITE) === "allow");
    expect(overwriters).toEqual([]);
  });

  test("GIVEN every role of every stack THEN only the registry's deployer may change the artifact bucket's policy or the registry key's", () => {
    const bucketAdmins = [...world.roles.values()].filter((r) => decide(r.name, "s3:PutBucketPolicy", ARTIFACTS) === "allow");
    expect(bucketAdmins.map((r) => r.name)).toEqual([registryStack.deployerRole]);
    const keyAdmins = [...world.roles.values()].filter((r) => decide(r.name, "kms:PutKeyPolicy", keyArn(REG.kmsAlias)) === "allow");
    expect(keyAdmins.map((r) => r.name)).toEqual([registryStack.deployerRole]);
  });

  test("GIVEN the registry's reader THEN promotion and the CLI's reads work and nothing changes", () => {
    const reader = REG.readerRole;
    expect(decide(reader, "sagemaker:DescribeModelPackage", VERSION_2)).toBe("allow");
    expect(decide(reader, "sagemaker:ListModelPackages", modelPackageGroupArn(REGISTRY, GROUP))).toBe("allow");
    expect(decide(reader, "sagemaker:UpdateModelPackage", VERSION_2, { "sagemaker:ModelApprovalStatus": "Approved" })).not.toBe("allow");
    expect(decide(reader, "s3:PutBucketPolicy", ARTIFACTS)).not.toBe("allow");
  });

  test("GIVEN the default principals THEN the publisher trusts the registry-publish environment, the approver registry-approve, the reader promote and both", () => {
    const job = (environment: string) => ({
      [SUB]: `repo:${FIXTURE.repository}:environment:${environment}`, "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
    });
    const assume = (role: string, environment: string) => canAssume({
      trust: world.roles.get(role)!.trust, action: "sts:AssumeRoleWithWebIdentity", principal: { federated: githubOidcProviderArn(REGISTRY) }, context: job(environment),
    });
    expect(assume(REG.publisherRole, "registry-publish")).toBe(true);
    expect(assume(REG.publisherRole, "registry-approve")).toBe(false);
    expect(assume(REG.approverRole, "registry-approve")).toBe(true);
    expect(assume(REG.approverRole, "registry-publish")).toBe(false);
    expect(assume(REG.readerRole, "promote")).toBe(true);
    expect(assume(REG.readerRole, "registry-approve")).toBe(true);
    expect(assume(registryStack.deployerRole, "promote")).toBe(false);
    // The registry's previewer sees the registry stack's state: pull requests only.
    expect(assume(registryStack.previewerRole, "promote")).toBe(false);
    expect(assume(REG.publisherRole, "promote")).toBe(false);
  });
});

describe("the retraining loop: the publisher runs it, the training role runs its jobs", () => {
  const RUN = "20260301-040506-0a1b2c";
  const AT = new Date("2026-03-01T04:05:06Z");
  const sm = (type: string, name: string) => sagemakerArn(REGISTRY, `${type}/${name.toLowerCase()}`);
  const tuningJob = tuningJobName(MODEL, AT);
  const trainingJob = `${tuningJob}-001-0a1b2c3d`;
  const evaluation = evaluationName(trainingJob);
  const TRAINING_ROLE_ARN = roleArn(REGISTRY, REG.trainingRole);
  const toSageMaker = { "iam:PassedToService": "sagemaker.amazonaws.com" };

  test("GIVEN the publisher THEN it writes the loop's datasets, history rows, run state and model copies as new objects, and can never replace one", () => {
    for (const key of [`datasets/${MODEL}/${RUN}/train.csv`, `history/tuning/${MODEL}/${tuningJob}.json`, `runs/${MODEL}/${RUN}/data.json`, `models/${MODEL}/${RUN}/model.tar.gz`]) {
      expect([key, decide(REG.publisherRole, "s3:PutObject", `${ARTIFACTS}/${key}`, NEW_OBJECT)]).toEqual([key, "allow"]);
      expect([key, decide(REG.publisherRole, "s3:PutObject", `${ARTIFACTS}/${key}`, OVERWRITE)]).toEqual([key, "explicit-deny"]);
      expect([key, decide(REG.publisherRole, "s3:GetObject", `${ARTIFACTS}/${key}`)]).toEqual([key, "allow"]);
    }
    // The tuning job's model is training output: the publisher reads it (to copy it) and cannot write there.
    const artifact = `${ARTIFACTS}/training/${MODEL}/${tuningJob}/${trainingJob}/output/model.tar.gz`;
    expect(decide(REG.publisherRole, "s3:GetObject", artifact)).toBe("allow");
    expect(decide(REG.publisherRole, "s3:PutObject", artifact, NEW_OBJECT)).toBe("explicit-deny");
  });

  test("GIVEN the training role THEN its jobs read the datasets, write training output and evaluation predictions, and log as training and transform jobs", () => {
    expect(decide(REG.trainingRole, "s3:GetObject", `${ARTIFACTS}/datasets/${MODEL}/${RUN}/test.csv`)).toBe("allow");
    expect(decide(REG.trainingRole, "s3:PutObject", `${ARTIFACTS}/training/${MODEL}/${tuningJob}/evaluation/test.csv.out`, OVERWRITE)).toBe("allow");
    expect(decide(REG.trainingRole, "s3:PutObject", `${ARTIFACTS}/datasets/${MODEL}/${RUN}/test.csv`, NEW_OBJECT)).not.toBe("allow");
    const logs = (group: string) => decide(REG.trainingRole, "logs:PutLogEvents", `arn:aws:logs:${REGION}:${REGISTRY.accountId}:log-group:${group}:log-stream:${evaluation}/i-1`);
    expect([logs("/aws/sagemaker/TrainingJobs"), logs("/aws/sagemaker/TransformJobs")]).toEqual(["allow", "allow"]);
  });

  test("GIVEN the publisher THEN it starts and follows the model's tuning job, evaluation model and transform job, tagged, under its boundary", () => {
    const tags = { "aws:RequestTag/mlplatform:service": SERVICE, "aws:RequestTag/mlplatform:stage": REGISTRY_STACK, "aws:TagKeys": ["mlplatform:service", "mlplatform:stage"] };
    expect({
      tune: decide(REG.publisherRole, "sagemaker:CreateHyperParameterTuningJob", sm("hyper-parameter-tuning-job", tuningJob),
        { "sagemaker:NetworkIsolation": true, "sagemaker:InterContainerTrafficEncryption": true, ...tags }),
      followTuning: decide(REG.publisherRole, "sagemaker:DescribeHyperParameterTuningJob", sm("hyper-parameter-tuning-job", tuningJob)),
      bestTrainingJob: decide(REG.publisherRole, "sagemaker:DescribeTrainingJob", sm("training-job", trainingJob)),
      evaluationModel: decide(REG.publisherRole, "sagemaker:CreateModel", sm("model", evaluation), { "sagemaker:NetworkIsolation": true, ...tags }),
      evaluate: decide(REG.publisherRole, "sagemaker:CreateTransformJob", sm("transform-job", evaluation), tags),
      followEvaluation: decide(REG.publisherRole, "sagemaker:DescribeTransformJob", sm("transform-job", evaluation)),
      tagTuningJob: decide(REG.publisherRole, "sagemaker:AddTags", sm("hyper-parameter-tuning-job", tuningJob), tags),
      passTrainingRole: decide(REG.publisherRole, "iam:PassRole", TRAINING_ROLE_ARN, toSageMaker),
    }).toEqual({
      tune: "allow",
      followTuning: "allow",
      bestTrainingJob: "allow",
      evaluationModel: "allow",
      evaluate: "allow",
      followEvaluation: "allow",
      tagTuningJob: "allow",
      passTrainingRole: "allow",
    });
  });

  test("GIVEN every role of every stack THEN only the publisher may pass the training role to SageMaker, and no role may pass it elsewhere", () => {
    const passers = [...world.roles.values()].filter((r) => decide(r.name, "iam:PassRole", TRAINING_ROLE_ARN, toSageMaker) === "allow");
    expect(passers.map((r) => r.name)).toEqual([REG.publisherRole]);
    const elsewhere = [...world.roles.values()].filter((r) => decide(r.name, "iam:PassRole", TRAINING_ROLE_ARN, { "iam:PassedToService": "lambda.amazonaws.com" }) === "allow");
    expect(elsewhere).toEqual([]);
  });

  test("GIVEN every role of every stack THEN only the publisher may start a tuning job of the service's models", () => {
    const starters = [...world.roles.values()].filter((r) => decide(r.name, "sagemaker:CreateHyperParameterTuningJob", sm("hyper-parameter-tuning-job", tuningJob),
      { "aws:RequestTag/mlplatform:service": SERVICE, "sagemaker:NetworkIsolation": true, "sagemaker:InterContainerTrafficEncryption": true }) === "allow");
    expect(starters.map((r) => r.name)).toEqual([REG.publisherRole]);
  });
});

describe("finding 4: CI roles reach their stack's state and nothing else", () => {
  const STATE_BUCKET = "acme-test-pulumi-state";
  let stateWorld: IamWorld;
  let cleanup: () => void;
  beforeAll(async () => {
    const copy = copyProject(FIXTURE_STAGES[0], {
      project: (doc) => doc.setIn(["config", "mlplatform:stateBackend", "value"],
        { bucket: STATE_BUCKET, accountId: FIXTURE.accounts.sandbox, secretsKeyAlias: "alias/acme-test-secrets" }),
    });
    cleanup = copy.cleanup;
    stateWorld = await buildIamWorld(copy.dir);
  }, 120_000);
  afterAll(() => cleanup());

  const state = (stack: string, file = ".json") => `arn:aws:s3:::${STATE_BUCKET}/.pulumi/stacks/${SERVICE}/${stack}${file}`;
  const on = (roleName: string, action: string, resource: string, context: Record<string, ContextValue> = {}) => {
    const caller = callerOf(stateWorld, roleName);
    return evaluate({ caller, action, resource, resourceAccountId: caller.accountId, context }).decision;
  };

  test("GIVEN a stateBackend THEN each deployer writes its own stack's state and not another's", () => {
    const [first, second] = FIXTURE_STAGES;
    expect(on(stage(first).deployerRole, "s3:PutObject", state(first))).toBe("allow");
    expect(on(stage(first).deployerRole, "s3:GetObject", state(first))).toBe("allow");
    expect(on(stage(first).deployerRole, "s3:PutObject", state(second))).toBe("implicit-deny");
    expect(on(registryStack.deployerRole, "s3:PutObject", state(REGISTRY_STACK))).toBe("allow");
  });

  test("GIVEN a stateBackend THEN a previewer reads its stack's state, takes the lock, and writes no state", () => {
    const { previewerRole } = stage(FIXTURE_STAGES[1]);
    expect(on(previewerRole, "s3:GetObject", state(FIXTURE_STAGES[1]))).toBe("allow");
    expect(on(previewerRole, "s3:PutObject", `arn:aws:s3:::${STATE_BUCKET}/.pulumi/locks/${SERVICE}/${FIXTURE_STAGES[1]}/lock.json`)).toBe("allow");
    expect(on(previewerRole, "s3:PutObject", state(FIXTURE_STAGES[1]))).toBe("implicit-deny");
  });

  test("GIVEN a secrets key alias THEN deployers encrypt and decrypt with that key only", () => {
    const { deployerRole } = stage(FIXTURE_STAGES[2]);
    const key = `arn:aws:kms:${REGION}:${FIXTURE.accounts.sandbox}:key/state`;
    const ask = (alias: string) => evaluate({
      caller: callerOf(stateWorld, deployerRole),
      action: "kms:Decrypt",
      resource: key,
      keyPolicyRequired: true,
      resourcePolicy: { Version: "2012-10-17", Statement: [{ Effect: "Allow", Principal: { AWS: callerOf(stateWorld, deployerRole).arn }, Action: "kms:Decrypt", Resource: "*" }] },
      context: { "kms:ResourceAliases": [alias] },
    }).decision;
    expect(ask("alias/acme-test-secrets")).toBe("allow");
    expect(ask("alias/other")).toBe("implicit-deny");
  });
});
