import { ECR_PULL_ACTIONS, ECR_PUSH_ACTIONS, type PolicyDocument, type RegistryAccess, type Statement } from "../../components/policies";
import { approverPolicy, githubSubject, publisherPolicy, readerPolicy, registryRoleTrustPolicy, type RolePrincipal } from "../../components/registry-roles";
import { evaluationName } from "../../scripts/lib/retrain/evaluation";
import { tuningJobName } from "../../scripts/lib/retrain/tuning";
import { FIXTURE } from "../fixtures/service";
import { canAssume, type Caller, type ContextValue, evaluate } from "../support/iam-eval";

const REGION = FIXTURE.region;
/** The registry lives in the sandbox account, as in the other component tests. */
const REGISTRY = { accountId: FIXTURE.accounts.sandbox, region: REGION };
const MODELS = ["churn-scorer", "risk-ranker"];
const REPO = FIXTURE.repository;
const PROVIDER = "arn:aws:iam::404040404041:oidc-provider/token.actions.githubusercontent.com";
const AUD = "token.actions.githubusercontent.com:aud";
const SUB = "token.actions.githubusercontent.com:sub";
const ARTIFACT_BUCKET = "arn:aws:s3:::churn-predictor-artifacts-404040404041-ap-southeast-4";
const REGISTRY_KEYS = "arn:aws:kms:ap-southeast-4:404040404041:key/*";
const REGISTRY_ALIAS = "alias/churn-predictor-registry";
const REPOSITORY = "arn:aws:ecr:ap-southeast-4:404040404041:repository/churn-predictor-inference";
const GROUP = (model: string) => `arn:aws:sagemaker:ap-southeast-4:404040404041:model-package-group/churn-predictor-${model}`;
const VERSIONS = (model: string) => `arn:aws:sagemaker:ap-southeast-4:404040404041:model-package/churn-predictor-${model}/*`;
const VERSION_3 = "arn:aws:sagemaker:ap-southeast-4:404040404041:model-package/churn-predictor-churn-scorer/3";
/** Every group and every version of the service, by its name prefix: what the approver and the reader reach. */
const ALL_GROUPS = "arn:aws:sagemaker:ap-southeast-4:404040404041:model-package-group/churn-predictor-*";
const ALL_VERSIONS = "arn:aws:sagemaker:ap-southeast-4:404040404041:model-package/churn-predictor-*/*";
/** A version of a model added after the policies were applied. */
const NEW_MODEL_VERSION = "arn:aws:sagemaker:ap-southeast-4:404040404041:model-package/churn-predictor-fraud-flagger/1";
/** A version of another service in the same account. */
const OTHER_SERVICE_VERSION = "arn:aws:sagemaker:ap-southeast-4:404040404041:model-package/loan-scorer-default-model/1";
const MODEL_OBJECT = `${ARTIFACT_BUCKET}/models/churn-scorer/3/model.tar.gz`;
/** A CI role in another account, trusted by exact ARN. */
const CI_ROLE = "arn:aws:iam::404040404043:role/ml-pipeline";
/** People's SSO roles in the prod account: the suffix is random, so they are trusted by pattern. */
const SSO_PATTERN = "arn:aws:iam::404040404043:role/aws-reserved/sso.amazonaws.com/*/AWSReservedSSO_ModelApprover_*";
const SSO_ROLE = "arn:aws:iam::404040404043:role/aws-reserved/sso.amazonaws.com/ap-southeast-2/AWSReservedSSO_ModelApprover_0a1b2c3d4e5f";

function access(ecrRepository: boolean, models: readonly string[] = MODELS): RegistryAccess {
  return { serviceName: FIXTURE.serviceName, registry: REGISTRY, models, ecrRepository };
}

function list<T>(value: T | T[] | undefined): T[] {
  return value === undefined ? [] : ([] as T[]).concat(value);
}

function bySid(document: PolicyDocument, sid: string): Statement {
  const found = document.Statement.filter((s) => s.Sid === sid);
  if (found.length !== 1) throw new Error(`expected one statement ${sid}, found ${found.length}`);
  return found[0];
}

/** Allow statements that grant an action matching the predicate. */
function granting(document: PolicyDocument, predicate: (action: string) => boolean): Statement[] {
  return document.Statement.filter((s) => s.Effect === "Allow" && list(s.Action).some(predicate));
}

function allowedActions(document: PolicyDocument): string[] {
  return document.Statement.filter((s) => s.Effect === "Allow").flatMap((s) => list(s.Action));
}

/** A role in the registry account whose only identity policy is `document`. */
function roleWith(document: PolicyDocument, name: string): Caller {
  return { arn: `arn:aws:iam::404040404041:role/${name}`, accountId: REGISTRY.accountId, identityPolicies: [document] };
}

function decide(caller: Caller, action: string, resource: string, context?: Record<string, ContextValue>): string {
  return evaluate({ caller, action, resource, context }).decision;
}

/** Whether a GitHub job with this subject may assume a role of this trust. */
function githubJobAssumes(trust: PolicyDocument, sub: string, aud = "sts.amazonaws.com"): boolean {
  return canAssume({ trust, action: "sts:AssumeRoleWithWebIdentity", principal: { federated: PROVIDER }, context: { [AUD]: aud, [SUB]: sub } });
}

function roleAssumes(trust: PolicyDocument, arn: string): boolean {
  return canAssume({ trust, action: "sts:AssumeRole", principal: { aws: arn } });
}

describe("githubSubject", () => {
  test.each<[string, Extract<RolePrincipal, { type: "github" }>, string]>([
    ["an environment", { type: "github", repository: REPO, environment: "registry-approve" }, `repo:${REPO}:environment:registry-approve`],
    ["a branch", { type: "github", repository: REPO, branch: "main" }, `repo:${REPO}:ref:refs/heads/main`],
    ["a workflow on a branch", { type: "github", repository: REPO, workflow: "publish.yml", branch: "main" },
      `repo:${REPO}:*:job_workflow_ref:${REPO}/.github/workflows/publish.yml@refs/heads/main`],
    ["a workflow in an environment", { type: "github", repository: REPO, workflow: "publish.yml", environment: "registry-publish" },
      `repo:${REPO}:environment:registry-publish:job_workflow_ref:${REPO}/.github/workflows/publish.yml@*`],
    ["a workflow in an environment on a branch", { type: "github", repository: REPO, workflow: "publish.yml", environment: "registry-publish", branch: "main" },
      `repo:${REPO}:environment:registry-publish:job_workflow_ref:${REPO}/.github/workflows/publish.yml@refs/heads/main`],
  ])("GIVEN %s WHEN the subject is built THEN it is GitHub's subject form with * for what is not bound", (_, principal, expected) => {
    expect(githubSubject(principal)).toBe(expected);
  });

  test("GIVEN an environment and a branch without a workflow WHEN the subject is built THEN it throws: GitHub's default subject carries one or the other", () => {
    expect(() => githubSubject({ type: "github", repository: REPO, environment: "registry-publish", branch: "main" }))
      .toThrow(`githubSubject: ${REPO}: an environment and a branch together need a workflow (the default subject carries one or the other)`);
  });

  test.each<[string, Extract<RolePrincipal, { type: "github" }>]>([
    ["a repository alone", { type: "github", repository: REPO }],
    ["a workflow alone", { type: "github", repository: REPO, workflow: "publish.yml" }],
  ])("GIVEN %s WHEN the subject is built THEN it throws: it would admit any ref, pull requests included", (_, principal) => {
    expect(() => githubSubject(principal))
      .toThrow(`githubSubject: ${REPO}: name an environment or a branch (a workflow alone would admit any ref, pull requests included)`);
  });
});

describe("registryRoleTrustPolicy", () => {
  const environment: RolePrincipal = { type: "github", repository: REPO, environment: "registry-approve" };
  const branch: RolePrincipal = { type: "github", repository: REPO, branch: "main" };
  const workflow: RolePrincipal = { type: "github", repository: REPO, workflow: "publish.yml", branch: "main" };

  test("GIVEN GitHub principals WHEN the trust is built THEN one statement admits their subjects through the account's own provider, audience STS", () => {
    expect(registryRoleTrustPolicy(REGISTRY, [environment, branch, workflow]).Statement).toEqual([{
      Sid: "GithubJobs",
      Effect: "Allow",
      Principal: { Federated: PROVIDER },
      Action: "sts:AssumeRoleWithWebIdentity",
      Condition: {
        StringEquals: { [AUD]: "sts.amazonaws.com" },
        StringLike: {
          [SUB]: [
            `repo:${REPO}:environment:registry-approve`,
            `repo:${REPO}:ref:refs/heads/main`,
            `repo:${REPO}:*:job_workflow_ref:${REPO}/.github/workflows/publish.yml@refs/heads/main`,
          ],
        },
      },
    }]);
  });

  test("GIVEN an environment principal WHEN a job asks THEN only jobs of that environment of that repository, for STS, may assume", () => {
    const trust = registryRoleTrustPolicy(REGISTRY, [environment]);
    expect(githubJobAssumes(trust, `repo:${REPO}:environment:registry-approve`)).toBe(true);
    expect(githubJobAssumes(trust, `repo:${REPO}:environment:registry-publish`)).toBe(false);
    expect(githubJobAssumes(trust, `repo:${REPO}:pull_request`)).toBe(false);
    expect(githubJobAssumes(trust, "repo:acme-test-org/other:environment:registry-approve")).toBe(false);
    expect(githubJobAssumes(trust, `repo:${REPO}:environment:registry-approve`, "some-other-audience")).toBe(false);
  });

  test("GIVEN a branch principal WHEN a job asks THEN only pushes to that branch may assume", () => {
    const trust = registryRoleTrustPolicy(REGISTRY, [branch]);
    expect(githubJobAssumes(trust, `repo:${REPO}:ref:refs/heads/main`)).toBe(true);
    expect(githubJobAssumes(trust, `repo:${REPO}:ref:refs/heads/feature`)).toBe(false);
  });

  test("GIVEN a workflow principal WHEN a job asks THEN only that workflow file at that branch may assume, in any context", () => {
    const trust = registryRoleTrustPolicy(REGISTRY, [workflow]);
    const wf = (file: string, ref: string) => `job_workflow_ref:${REPO}/.github/workflows/${file}@${ref}`;
    expect(githubJobAssumes(trust, `repo:${REPO}:environment:registry-publish:${wf("publish.yml", "refs/heads/main")}`)).toBe(true);
    expect(githubJobAssumes(trust, `repo:${REPO}:ref:refs/heads/main:${wf("publish.yml", "refs/heads/main")}`)).toBe(true);
    expect(githubJobAssumes(trust, `repo:${REPO}:ref:refs/heads/main:${wf("other.yml", "refs/heads/main")}`)).toBe(false);
    expect(githubJobAssumes(trust, `repo:${REPO}:ref:refs/heads/dev:${wf("publish.yml", "refs/heads/dev")}`)).toBe(false);
  });

  test("GIVEN exact role ARNs of two accounts WHEN the trust is built THEN each account's root is trusted, narrowed to its roles by ArnLike on aws:PrincipalArn, in first-seen order", () => {
    const other = "arn:aws:iam::404040404042:role/ml-release";
    const second = "arn:aws:iam::404040404043:role/ml-retrain";
    const roles = [CI_ROLE, other, second].map((roleArn): RolePrincipal => ({ type: "role", roleArn }));
    expect(registryRoleTrustPolicy(REGISTRY, roles).Statement).toEqual([
      {
        Sid: "RolesOf404040404043",
        Effect: "Allow",
        Principal: { AWS: "arn:aws:iam::404040404043:root" },
        Action: "sts:AssumeRole",
        Condition: { ArnLike: { "aws:PrincipalArn": [CI_ROLE, second] } },
      },
      {
        Sid: "RolesOf404040404042",
        Effect: "Allow",
        Principal: { AWS: "arn:aws:iam::404040404042:root" },
        Action: "sts:AssumeRole",
        Condition: { ArnLike: { "aws:PrincipalArn": [other] } },
      },
    ]);
  });

  test("GIVEN an exact role ARN WHEN roles ask THEN that role may assume and another role of its account may not", () => {
    const trust = registryRoleTrustPolicy(REGISTRY, [{ type: "role", roleArn: CI_ROLE }]);
    expect(roleAssumes(trust, CI_ROLE)).toBe(true);
    expect(roleAssumes(trust, "arn:aws:iam::404040404043:role/ml-pipeline-2")).toBe(false);
  });

  test("GIVEN role patterns WHEN the trust is built THEN each trusts its account's root (in its partition), narrowed to the pattern by ArnLike on aws:PrincipalArn", () => {
    const china = "arn:aws-cn:iam::444444444444:role/ops-*";
    expect(registryRoleTrustPolicy(REGISTRY, [{ type: "role", roleArn: SSO_PATTERN }, { type: "role", roleArn: china }]).Statement).toEqual([
      {
        Sid: "RolesOf404040404043",
        Effect: "Allow",
        Principal: { AWS: "arn:aws:iam::404040404043:root" },
        Action: "sts:AssumeRole",
        Condition: { ArnLike: { "aws:PrincipalArn": [SSO_PATTERN] } },
      },
      {
        Sid: "RolesOf444444444444",
        Effect: "Allow",
        Principal: { AWS: "arn:aws-cn:iam::444444444444:root" },
        Action: "sts:AssumeRole",
        Condition: { ArnLike: { "aws:PrincipalArn": [china] } },
      },
    ]);
  });

  test("GIVEN roles named in the trust, of two accounts WHEN roles ask THEN each named role may assume through its account's root, and no other role or root of either account may", () => {
    const other = "arn:aws:iam::404040404042:role/ml-release";
    const trust = registryRoleTrustPolicy(REGISTRY, [{ type: "role", roleArn: CI_ROLE }, { type: "role", roleArn: other }]);
    // No role ARN as a Principal: IAM accepts the trust before the roles exist.
    expect(trust.Statement.flatMap((s) => (typeof s.Principal === "object" ? list(s.Principal.AWS) : [])))
      .toEqual(["arn:aws:iam::404040404043:root", "arn:aws:iam::404040404042:root"]);
    expect([CI_ROLE, other].map((arn) => roleAssumes(trust, arn))).toEqual([true, true]);
    expect(roleAssumes(trust, "arn:aws:iam::404040404043:role/ml-release")).toBe(false);
    expect(roleAssumes(trust, "arn:aws:iam::404040404042:role/ml-pipeline")).toBe(false);
    expect(roleAssumes(trust, "arn:aws:iam::404040404043:role/ml-pipeline-admin")).toBe(false);
    expect(roleAssumes(trust, "arn:aws:iam::404040404043:root")).toBe(false);
  });

  test("GIVEN a role pattern WHEN roles ask THEN a matching role of that account may assume, other roles of the account may not", () => {
    const trust = registryRoleTrustPolicy(REGISTRY, [{ type: "role", roleArn: SSO_PATTERN }]);
    expect(roleAssumes(trust, SSO_ROLE)).toBe(true);
    expect(roleAssumes(trust, "arn:aws:iam::404040404043:role/aws-reserved/sso.amazonaws.com/ap-southeast-2/AWSReservedSSO_Admin_0a1b2c3d4e5f")).toBe(false);
    expect(roleAssumes(trust, "arn:aws:iam::404040404043:role/ml-pipeline")).toBe(false);
  });

  test("GIVEN every kind of principal WHEN the trust is built THEN GitHub jobs come first, then one statement for the account's exact roles and patterns together", () => {
    const trust = registryRoleTrustPolicy(REGISTRY, [{ type: "role", roleArn: SSO_PATTERN }, { type: "role", roleArn: CI_ROLE }, environment]);
    expect(trust.Statement.map((s) => s.Sid)).toEqual(["GithubJobs", "RolesOf404040404043"]);
    expect(bySid(trust, "RolesOf404040404043").Condition).toEqual({ ArnLike: { "aws:PrincipalArn": [SSO_PATTERN, CI_ROLE] } });
    expect(trust.Statement.filter((s) => "Resource" in s)).toEqual([]);
  });

  test.each([
    ["a pattern whose account is not a 12-digit id", "arn:aws:iam::*:role/ml-*"],
    ["a user rather than a role", "arn:aws:iam::404040404043:user/ml-pipeline"],
    ["a role name without its ARN", "ml-pipeline"],
  ])("GIVEN %s WHEN the trust is built THEN it throws naming it", (_, roleArn) => {
    expect(() => registryRoleTrustPolicy(REGISTRY, [environment, { type: "role", roleArn }]))
      .toThrow(`registryRoleTrustPolicy: not a role ARN: ${roleArn}`);
  });

  test("GIVEN a GitHub principal that names neither an environment nor a branch WHEN the trust is built THEN it throws rather than admit pull requests", () => {
    expect(() => registryRoleTrustPolicy(REGISTRY, [environment, { type: "github", repository: REPO, workflow: "publish.yml" }]))
      .toThrow(`githubSubject: ${REPO}: name an environment or a branch`);
  });

  test("GIVEN no principals WHEN the trust is built THEN it throws: a role nobody may assume is a mistake", () => {
    expect(() => registryRoleTrustPolicy(REGISTRY, [])).toThrow("registryRoleTrustPolicy: at least one principal is required");
  });
});

describe("publisherPolicy", () => {
  const withEcr = publisherPolicy(access(true));
  const withoutEcr = publisherPolicy(access(false));
  const publisher = roleWith(withEcr, "churn-predictor-registry-publisher");

  test("GIVEN two models WHEN the publisher policy is built THEN it registers versions in exactly their groups, only as PendingManualApproval", () => {
    expect(granting(withEcr, (a) => a === "sagemaker:CreateModelPackage")).toEqual([{
      Sid: "RegisterPendingVersions",
      Effect: "Allow",
      Action: "sagemaker:CreateModelPackage",
      Resource: [VERSIONS("churn-scorer"), VERSIONS("risk-ranker")],
      Condition: { StringEquals: { "sagemaker:ModelApprovalStatus": "PendingManualApproval" } },
    }]);
  });

  test.each([
    ["PendingManualApproval", "allow"],
    ["Approved", "implicit-deny"],
    ["Rejected", "implicit-deny"],
  ])("GIVEN the publisher WHEN it registers a version with status %s THEN the decision is %s", (status, decision) => {
    expect(decide(publisher, "sagemaker:CreateModelPackage", VERSION_3, { "sagemaker:ModelApprovalStatus": status })).toBe(decision);
  });

  test("GIVEN the publisher WHEN the policy is built THEN it never approves, changes or deletes a version: an explicit Deny, and no Allow", () => {
    expect(bySid(withEcr, "NeverApproveOrDelete")).toEqual({
      Sid: "NeverApproveOrDelete",
      Effect: "Deny",
      Action: ["sagemaker:DeleteModelPackage", "sagemaker:UpdateModelPackage"],
      Resource: [VERSIONS("churn-scorer"), VERSIONS("risk-ranker")],
    });
    expect(allowedActions(withEcr).filter((a) => /^sagemaker:(Update|Delete)ModelPackage$/.test(a))).toEqual([]);
    expect(decide(publisher, "sagemaker:UpdateModelPackage", VERSION_3, { "sagemaker:ModelApprovalStatus": "Approved" })).toBe("explicit-deny");
  });

  test("GIVEN the publisher WHEN the policy is built THEN it uploads artifacts anywhere but under training/, which it may never write", () => {
    expect(bySid(withEcr, "UploadArtifacts")).toMatchObject({ Effect: "Allow", Action: "s3:PutObject", Resource: `${ARTIFACT_BUCKET}/*` });
    expect(bySid(withEcr, "NoTrainingOutputWrites")).toEqual({
      Sid: "NoTrainingOutputWrites", Effect: "Deny", Action: "s3:PutObject", Resource: `${ARTIFACT_BUCKET}/training/*`,
    });
    expect(decide(publisher, "s3:PutObject", MODEL_OBJECT)).toBe("allow");
    expect(decide(publisher, "s3:PutObject", `${ARTIFACT_BUCKET}/training/job-1/output/model.tar.gz`)).toBe("explicit-deny");
  });

  test("GIVEN the publisher WHEN the policy is built THEN it deletes no artifact", () => {
    expect(allowedActions(withEcr).filter((a) => a.startsWith("s3:Delete"))).toEqual([]);
    expect(decide(publisher, "s3:DeleteObject", MODEL_OBJECT)).toBe("implicit-deny");
  });

  test("GIVEN the publisher WHEN the policy is built THEN it encrypts only with the registry key, found by its alias", () => {
    expect(bySid(withEcr, "RegistryKeyWrite")).toEqual({
      Sid: "RegistryKeyWrite",
      Effect: "Allow",
      Action: ["kms:Encrypt", "kms:GenerateDataKey"],
      Resource: REGISTRY_KEYS,
      Condition: { "ForAnyValue:StringEquals": { "kms:ResourceAliases": REGISTRY_ALIAS } },
    });
  });

  test("GIVEN an ECR repository WHEN the publisher policy is built THEN it pushes to the registry repository and may not delete images", () => {
    expect(bySid(withEcr, "PushImages")).toEqual({
      Sid: "PushImages",
      Effect: "Allow",
      Action: ["ecr:CompleteLayerUpload", "ecr:InitiateLayerUpload", "ecr:PutImage", "ecr:UploadLayerPart"],
      Resource: REPOSITORY,
    });
    expect(allowedActions(withEcr)).not.toContain("ecr:BatchDeleteImage");
    expect(ECR_PUSH_ACTIONS).toContain("ecr:BatchDeleteImage");
  });

  test("GIVEN an ECR repository WHEN the publisher policy is built THEN it reads images too, and logs in to ECR", () => {
    expect(bySid(withEcr, "ReadImages").Action).toEqual([...ECR_PULL_ACTIONS, "ecr:DescribeImages", "ecr:ListImages"]);
    expect(bySid(withEcr, "EcrLogin")).toMatchObject({ Action: "ecr:GetAuthorizationToken", Resource: "*" });
  });

  test("GIVEN no ECR repository WHEN the publisher policy is built THEN it has no ECR action", () => {
    expect(allowedActions(withoutEcr).filter((a) => a.startsWith("ecr:"))).toEqual([]);
  });

  test("GIVEN two models WHEN the publisher policy is built THEN it reads what the reader reads: every version and group of the service, the artifacts and the bucket listing", () => {
    expect(withEcr.Statement.slice(0, readerPolicy(access(true)).Statement.length)).toEqual(readerPolicy(access(true)).Statement);
    expect(bySid(withEcr, "ReadVersions").Resource).toEqual([ALL_VERSIONS, ALL_GROUPS]);
    expect(bySid(withEcr, "ReadGroups").Resource).toEqual(ALL_GROUPS);
    expect([bySid(withEcr, "ReadArtifacts").Resource, bySid(withEcr, "ListArtifacts").Resource]).toEqual([`${ARTIFACT_BUCKET}/*`, ARTIFACT_BUCKET]);
  });
});

describe("publisherPolicy: the retraining loop", () => {
  const publisher = roleWith(publisherPolicy(access(true)), "churn-predictor-registry-publisher");
  const TRAINING_ROLE = "arn:aws:iam::404040404041:role/churn-predictor-sagemaker-training";
  const AT = new Date("2026-03-01T04:05:06Z");
  /** The names the loop gives a model's resources: its tuning job, a training job of it, the evaluation's model and transform job. */
  function loopNames(model: string) {
    const tuningJob = tuningJobName(model, AT);
    const trainingJob = `${tuningJob}-001-0a1b2c3d`;
    return { tuningJob, trainingJob, evaluation: evaluationName(trainingJob) };
  }
  const arn = (type: string, name: string) => `arn:aws:sagemaker:ap-southeast-4:404040404041:${type}/${name.toLowerCase()}`;
  /** The loop's Create calls carry the stack tags (scripts/lib/retrain/tuning.ts retrainTags). */
  const TAGGED = { "aws:RequestTag/mlplatform:service": "churn-predictor", "aws:RequestTag/mlplatform:stage": "registry", "aws:TagKeys": ["mlplatform:service", "mlplatform:stage"] };
  const SECURE_TUNING = { ...TAGGED, "sagemaker:NetworkIsolation": true, "sagemaker:InterContainerTrafficEncryption": true };
  const ISOLATED_MODEL = { ...TAGGED, "sagemaker:NetworkIsolation": true };

  test.each([...MODELS, "customer-lifetime-valuex"])("GIVEN model %s WHEN the loop starts and follows its jobs under the names it gives them THEN each call is allowed", (model) => {
    const { tuningJob, trainingJob, evaluation } = loopNames(model);
    expect([
      decide(publisher, "sagemaker:CreateHyperParameterTuningJob", arn("hyper-parameter-tuning-job", tuningJob), SECURE_TUNING),
      decide(publisher, "sagemaker:DescribeHyperParameterTuningJob", arn("hyper-parameter-tuning-job", tuningJob)),
      decide(publisher, "sagemaker:DescribeTrainingJob", arn("training-job", trainingJob)),
      decide(publisher, "sagemaker:CreateModel", arn("model", evaluation), ISOLATED_MODEL),
      decide(publisher, "sagemaker:CreateTransformJob", arn("transform-job", evaluation), TAGGED),
      decide(publisher, "sagemaker:DescribeTransformJob", arn("transform-job", evaluation)),
      decide(publisher, "sagemaker:AddTags", arn("hyper-parameter-tuning-job", tuningJob), TAGGED),
      decide(publisher, "sagemaker:AddTags", arn("training-job", trainingJob), TAGGED),
      decide(publisher, "sagemaker:AddTags", arn("model", evaluation), TAGGED),
    ]).toEqual(Array(9).fill("allow"));
  });

  test("GIVEN more models WHEN the publisher policy is built THEN the loop's statements are the same: the policy does not grow with the models", () => {
    const loop = (models: readonly string[]) => publisherPolicy(access(true, models)).Statement.filter((st) => st.Sid?.startsWith("Retrain"));
    expect(loop([...MODELS, "fraud-flagger", "doc-embedder"])).toEqual(loop(MODELS));
  });

  const OTHER_SERVICE = { ...TAGGED, "aws:RequestTag/mlplatform:service": "loan-scorer" };
  test.each([
    ["a tuning job tagged for another service", "sagemaker:CreateHyperParameterTuningJob", arn("hyper-parameter-tuning-job", "x-20260301040506"), { ...SECURE_TUNING, ...OTHER_SERVICE }],
    ["an untagged tuning job", "sagemaker:CreateHyperParameterTuningJob", arn("hyper-parameter-tuning-job", "x-20260301040506"),
      { "sagemaker:NetworkIsolation": true, "sagemaker:InterContainerTrafficEncryption": true }],
    ["a tuning job whose containers have network access", "sagemaker:CreateHyperParameterTuningJob", arn("hyper-parameter-tuning-job", "churn-scorer-20260301040506"),
      { ...SECURE_TUNING, "sagemaker:NetworkIsolation": false }],
    ["a tuning job without encrypted traffic between its instances", "sagemaker:CreateHyperParameterTuningJob", arn("hyper-parameter-tuning-job", "churn-scorer-20260301040506"),
      { ...SECURE_TUNING, "sagemaker:InterContainerTrafficEncryption": false }],
    ["an evaluation model with network access", "sagemaker:CreateModel", arn("model", "churn-scorer-20260301040506-001-0a1b2c3d-eval"), { ...ISOLATED_MODEL, "sagemaker:NetworkIsolation": false }],
    ["an untagged model (an endpoint's)", "sagemaker:CreateModel", arn("model", "churn-predictor-fraud-model-abc1234"), { "sagemaker:NetworkIsolation": true }],
    ["a transform job tagged for another service", "sagemaker:CreateTransformJob", arn("transform-job", "x-eval"), OTHER_SERVICE],
    ["a tag of another key on a job of the loop", "sagemaker:AddTags", arn("training-job", "churn-scorer-20260301040506-001-0a1b2c3d"), { ...TAGGED, "aws:TagKeys": ["owner"] }],
    ["a training job of its own", "sagemaker:CreateTrainingJob", arn("training-job", "churn-scorer-20260301040506"), TAGGED],
    ["an endpoint", "sagemaker:CreateEndpoint", arn("endpoint", "churn-scorer-x"), TAGGED],
  ])("GIVEN the publisher WHEN it creates %s THEN it is not allowed", (_, action, resource, context) => {
    expect(decide(publisher, action, resource, context)).toBe("implicit-deny");
  });

  test("GIVEN the publisher WHEN it passes a role THEN only the training role, only to SageMaker, is allowed", () => {
    const pass = (role: string, service: string) => decide(publisher, "iam:PassRole", role, { "iam:PassedToService": service });
    expect(pass(TRAINING_ROLE, "sagemaker.amazonaws.com")).toBe("allow");
    expect(pass(TRAINING_ROLE, "lambda.amazonaws.com")).toBe("implicit-deny");
    expect(pass("arn:aws:iam::404040404041:role/churn-predictor-sandbox-sagemaker-execution", "sagemaker.amazonaws.com")).toBe("implicit-deny");
    expect(pass("arn:aws:iam::404040404041:role/churn-predictor-registry-publisher", "sagemaker.amazonaws.com")).toBe("implicit-deny");
  });

  test("GIVEN no database secret WHEN the publisher policy is built THEN it reads no secret", () => {
    expect(allowedActions(publisherPolicy(access(true))).filter((a) => a.startsWith("secretsmanager:"))).toEqual([]);
  });

  test("GIVEN the database secret of retraining.yaml WHEN the publisher policy is built THEN it reads that secret and no other", () => {
    const secret = "arn:aws:secretsmanager:ap-southeast-4:404040404041:secret:retrain/warehouse-AbCdEf";
    const withSecret = roleWith(publisherPolicy(access(true), { databaseSecretArn: secret }), "churn-predictor-registry-publisher");
    expect(decide(withSecret, "secretsmanager:GetSecretValue", secret)).toBe("allow");
    expect(decide(withSecret, "secretsmanager:GetSecretValue", "arn:aws:secretsmanager:ap-southeast-4:404040404041:secret:prod/payments-AbCdEf")).toBe("implicit-deny");
  });
});

describe("approverPolicy", () => {
  const withEcr = approverPolicy(access(true));
  const withoutEcr = approverPolicy(access(false));
  const approver = roleWith(withEcr, "churn-predictor-registry-approver");

  test("GIVEN the service WHEN the approver policy is built THEN it updates the service's versions, by its name prefix, only to Approved or Rejected", () => {
    expect(granting(withEcr, (a) => a === "sagemaker:UpdateModelPackage")).toEqual([{
      Sid: "ApproveOrReject",
      Effect: "Allow",
      Action: "sagemaker:UpdateModelPackage",
      Resource: ALL_VERSIONS,
      Condition: { StringEquals: { "sagemaker:ModelApprovalStatus": ["Approved", "Rejected"] } },
    }]);
  });

  test.each([
    ["one more model", [...MODELS, "fraud-flagger"]],
    ["one model fewer", MODELS.slice(0, 1)],
  ])("GIVEN %s WHEN the approver policy is built THEN it is the same policy: adding a model needs no administrator", (_, models) => {
    expect(approverPolicy(access(true, models))).toEqual(withEcr);
    expect(JSON.stringify(withEcr)).not.toMatch(/churn-scorer|risk-ranker/);
  });

  test("GIVEN a model added after the approver policy was applied WHEN the approver approves its version THEN it is allowed; another service's version is not", () => {
    expect(decide(approver, "sagemaker:UpdateModelPackage", NEW_MODEL_VERSION, { "sagemaker:ModelApprovalStatus": "Approved" })).toBe("allow");
    expect(decide(approver, "sagemaker:UpdateModelPackage", OTHER_SERVICE_VERSION, { "sagemaker:ModelApprovalStatus": "Approved" })).toBe("implicit-deny");
  });

  test.each([
    ["Approved", "allow"],
    ["Rejected", "allow"],
    ["PendingManualApproval", "implicit-deny"],
  ])("GIVEN the approver WHEN it sets a version's status to %s THEN the decision is %s", (status, decision) => {
    expect(decide(approver, "sagemaker:UpdateModelPackage", VERSION_3, { "sagemaker:ModelApprovalStatus": status })).toBe(decision);
  });

  test("GIVEN the approver WHEN the policy is built THEN it explicitly denies writing or deleting artifacts, versions and images", () => {
    expect(bySid(withEcr, "ChangeNothingElse")).toEqual({
      Sid: "ChangeNothingElse",
      Effect: "Deny",
      Action: ["s3:DeleteObject", "s3:PutObject", "sagemaker:CreateModelPackage", "sagemaker:DeleteModelPackage", ...ECR_PUSH_ACTIONS],
      Resource: [`${ARTIFACT_BUCKET}/*`, ALL_VERSIONS, REPOSITORY],
    });
  });

  test.each([
    ["s3:PutObject", MODEL_OBJECT],
    ["s3:DeleteObject", MODEL_OBJECT],
    ["sagemaker:CreateModelPackage", VERSION_3],
    ["sagemaker:DeleteModelPackage", VERSION_3],
    ["sagemaker:CreateModelPackage", NEW_MODEL_VERSION],
    ["ecr:PutImage", REPOSITORY],
    ["ecr:BatchDeleteImage", REPOSITORY],
  ])("GIVEN the approver WHEN it asks for %s THEN it is denied explicitly, whatever else it is granted", (action, resource) => {
    const widened: Caller = { ...approver, identityPolicies: [withEcr, { Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: action, Resource: resource }] }] };
    expect(decide(widened, action, resource)).toBe("explicit-deny");
  });

  test("GIVEN the approver WHEN the policy is built THEN every other Allow is a read", () => {
    const reads = allowedActions(withEcr).filter((a) => a !== "sagemaker:UpdateModelPackage");
    expect(reads.filter((a) => !/^[a-z0-9]+:(Describe|Get|List|BatchGet|BatchCheck)[A-Z]/.test(a) && a !== "kms:Decrypt")).toEqual([]);
    expect(reads.length).toBeGreaterThan(0);
  });

  test("GIVEN no ECR repository WHEN the approver policy is built THEN it grants no ECR action", () => {
    expect(allowedActions(withoutEcr).filter((a) => a.startsWith("ecr:"))).toEqual([]);
  });
});

describe("readerPolicy", () => {
  const withEcr = readerPolicy(access(true));
  const withoutEcr = readerPolicy(access(false));
  const reader = roleWith(withEcr, "churn-predictor-registry-reader");
  const READ = /^[a-z0-9]+:(Describe|Get|List|BatchGet|BatchCheck)[A-Z]/;

  test("GIVEN an ECR repository WHEN the reader policy is built THEN it reads versions, groups, artifacts, the key and images, and nothing else", () => {
    expect(withEcr.Statement).toEqual([
      { Sid: "ReadVersions", Effect: "Allow", Action: ["sagemaker:DescribeModelPackage", "sagemaker:ListModelPackages"], Resource: [ALL_VERSIONS, ALL_GROUPS] },
      { Sid: "ReadGroups", Effect: "Allow", Action: "sagemaker:DescribeModelPackageGroup", Resource: ALL_GROUPS },
      { Sid: "ReadArtifacts", Effect: "Allow", Action: "s3:GetObject", Resource: `${ARTIFACT_BUCKET}/*` },
      { Sid: "ListArtifacts", Effect: "Allow", Action: "s3:ListBucket", Resource: ARTIFACT_BUCKET },
      {
        Sid: "RegistryKeyRead",
        Effect: "Allow",
        Action: ["kms:Decrypt", "kms:DescribeKey"],
        Resource: REGISTRY_KEYS,
        Condition: { "ForAnyValue:StringEquals": { "kms:ResourceAliases": REGISTRY_ALIAS } },
      },
      { Sid: "ReadImages", Effect: "Allow", Action: [...ECR_PULL_ACTIONS, "ecr:DescribeImages", "ecr:ListImages"], Resource: REPOSITORY },
      { Sid: "EcrLogin", Effect: "Allow", Action: "ecr:GetAuthorizationToken", Resource: "*" },
    ]);
  });

  test("GIVEN no ECR repository WHEN the reader policy is built THEN it has no ECR action", () => {
    expect(allowedActions(withoutEcr).filter((a) => a.startsWith("ecr:"))).toEqual([]);
    expect(withoutEcr.Statement).toEqual(withEcr.Statement.filter((s) => !list(s.Action).some((a) => a.startsWith("ecr:"))));
  });

  test("GIVEN the reader WHEN the policy is built THEN every Allow is a read (or a decrypt), with no Deny needed", () => {
    expect(allowedActions(withEcr).filter((a) => !READ.test(a) && a !== "kms:Decrypt")).toEqual([]);
    expect(withEcr.Statement.filter((s) => s.Effect !== "Allow")).toEqual([]);
  });

  test.each([
    ["one more model", [...MODELS, "fraud-flagger"]],
    ["one model fewer", MODELS.slice(0, 1)],
  ])("GIVEN %s WHEN the reader policy is built THEN it is the same policy: adding a model needs no administrator", (_, models) => {
    expect(readerPolicy(access(true, models))).toEqual(withEcr);
    expect(JSON.stringify(withEcr)).not.toMatch(/churn-scorer|risk-ranker/);
  });

  test.each([
    ["describes a version", "sagemaker:DescribeModelPackage", VERSION_3, {}],
    ["describes a version of a model added later", "sagemaker:DescribeModelPackage", NEW_MODEL_VERSION, {}],
    ["lists a group's versions", "sagemaker:ListModelPackages", GROUP("churn-scorer"), {}],
    ["describes a group", "sagemaker:DescribeModelPackageGroup", GROUP("risk-ranker"), {}],
    ["reads an artifact", "s3:GetObject", MODEL_OBJECT, {}],
    ["decrypts with the registry key", "kms:Decrypt", "arn:aws:kms:ap-southeast-4:404040404041:key/k", { "kms:ResourceAliases": [REGISTRY_ALIAS] }],
    ["pulls an image", "ecr:BatchGetImage", REPOSITORY, {}],
  ])("GIVEN the reader WHEN it %s THEN it is allowed", (_, action, resource, context) => {
    expect(decide(reader, action, resource, context)).toBe("allow");
  });

  test.each([
    ["writes an artifact", "s3:PutObject", MODEL_OBJECT, {}],
    ["deletes an artifact", "s3:DeleteObject", MODEL_OBJECT, {}],
    ["registers a version", "sagemaker:CreateModelPackage", VERSION_3, { "sagemaker:ModelApprovalStatus": "PendingManualApproval" }],
    ["approves a version", "sagemaker:UpdateModelPackage", VERSION_3, { "sagemaker:ModelApprovalStatus": "Approved" }],
    ["deletes a version", "sagemaker:DeleteModelPackage", VERSION_3, {}],
    ["pushes an image", "ecr:PutImage", REPOSITORY, {}],
    ["encrypts with the registry key", "kms:Encrypt", "arn:aws:kms:ap-southeast-4:404040404041:key/k", { "kms:ResourceAliases": [REGISTRY_ALIAS] }],
    ["decrypts with another key", "kms:Decrypt", "arn:aws:kms:ap-southeast-4:404040404041:key/k", { "kms:ResourceAliases": ["alias/other"] }],
    ["describes another service's version", "sagemaker:DescribeModelPackage", OTHER_SERVICE_VERSION, {}],
  ])("GIVEN the reader WHEN it %s THEN it is not allowed", (_, action, resource, context) => {
    expect(decide(reader, action, resource, context)).toBe("implicit-deny");
  });

  test("GIVEN the publisher and the approver WHEN their policies are built THEN each holds every reader statement (whoever may write may read)", () => {
    expect(publisherPolicy(access(true)).Statement).toEqual(expect.arrayContaining(withEcr.Statement));
    expect(approverPolicy(access(true)).Statement).toEqual(expect.arrayContaining(withEcr.Statement));
  });
});
