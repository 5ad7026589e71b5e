import {
  accountRootArn,
  alarmArn,
  anyAccountRoleArn,
  bucketArn,
  ecrRegistryHost,
  ecrRepositoryArn,
  endpointChildNames,
  endpointNames,
  githubOidcProviderArn,
  kmsAliasArn,
  kmsKeysArn,
  logGroupArn,
  longestEndpointName,
  modelPackageGroupArn,
  modelPackageGroupName,
  modelPackagesArn,
  REGISTRY_STACK,
  registryNames,
  roleArn,
  SAGEMAKER_NAME_MAX,
  SAGEMAKER_NAME_PATTERN,
  sagemakerArn,
  stageNames,
  TRAINING_OUTPUT_PREFIX,
} from "../../components/names";
import { FIXTURE } from "../fixtures/service";

const SANDBOX = { accountId: FIXTURE.accounts.sandbox, region: FIXTURE.region };
const CHINA = { accountId: "444444444444", region: "cn-north-1", partition: "aws-cn" };
/** Longest inputs the config schema accepts: a 20-character service, a 10-character stage, the longest region name. */
const LONGEST_SERVICE = "abcdefghij-klmnopqrs";
const LONGEST_STAGE = "stage12345";
const LONGEST_REGION = { accountId: "999999999999", region: "ap-southeast-5" };
/** S3 bucket names and IAM role names. */
const S3_BUCKET_MAX = 63;
const IAM_ROLE_MAX = 64;

describe("registryNames", () => {
  test("GIVEN a service and registry account WHEN named THEN the bucket holds service, account and region, and alias, repository and roles hold the service", () => {
    expect(registryNames(FIXTURE.serviceName, SANDBOX)).toEqual({
      artifactBucket: "churn-predictor-artifacts-404040404041-ap-southeast-4",
      kmsAlias: "alias/churn-predictor-registry",
      ecrRepository: "churn-predictor-inference",
      trainingRole: "churn-predictor-sagemaker-training",
      publisherRole: "churn-predictor-registry-publisher",
      approverRole: "churn-predictor-registry-approver",
      readerRole: "churn-predictor-registry-reader",
    });
  });

  test("GIVEN the registry's stack WHEN its CI roles are named THEN none is a registry role (each role has one purpose)", () => {
    const stack = stageNames(FIXTURE.serviceName, REGISTRY_STACK, SANDBOX);
    const registry = registryNames(FIXTURE.serviceName, SANDBOX);
    const roles = [
      stack.deployerRole, stack.previewerRole, stack.executionRole,
      registry.trainingRole, registry.publisherRole, registry.approverRole, registry.readerRole,
    ];
    expect(new Set(roles).size).toBe(roles.length);
  });

  test("GIVEN a 20-character service in the longest region name WHEN named THEN the artifact bucket fits in 63 characters", () => {
    expect(LONGEST_SERVICE).toHaveLength(20);
    expect(registryNames(LONGEST_SERVICE, LONGEST_REGION).artifactBucket.length).toBeLessThanOrEqual(S3_BUCKET_MAX);
  });

  test("GIVEN a 20-character service WHEN named THEN the training, publisher, approver and reader roles fit in 64 characters", () => {
    const names = registryNames(LONGEST_SERVICE, LONGEST_REGION);
    for (const role of [names.trainingRole, names.publisherRole, names.approverRole, names.readerRole]) {
      expect(role.length).toBeLessThanOrEqual(IAM_ROLE_MAX);
    }
  });

  test("GIVEN a service WHEN its registry roles are named THEN each starts with the service prefix (the registry's resource policies deny by that prefix)", () => {
    const names = registryNames(FIXTURE.serviceName, SANDBOX);
    for (const role of [names.trainingRole, names.publisherRole, names.approverRole, names.readerRole]) {
      expect(role.startsWith(`${FIXTURE.serviceName}-`)).toBe(true);
    }
  });
});

describe("REGISTRY_STACK and TRAINING_OUTPUT_PREFIX", () => {
  test("GIVEN the registry's own stack WHEN named THEN it is registry, and its deployer is the service's registry deployer role", () => {
    expect(REGISTRY_STACK).toBe("registry");
    expect(stageNames(FIXTURE.serviceName, REGISTRY_STACK, SANDBOX).deployerRole).toBe("churn-predictor-registry-deployer");
  });

  test("GIVEN the training output prefix WHEN used as a key prefix THEN it is training/ and ends in a slash, so training-data/ keys are not training output", () => {
    expect(TRAINING_OUTPUT_PREFIX).toBe("training/");
    expect("training-data/x.csv".startsWith(TRAINING_OUTPUT_PREFIX)).toBe(false);
  });
});

describe("stageNames", () => {
  test("GIVEN a service, stage and account WHEN named THEN each name holds the service and stage", () => {
    expect(stageNames(FIXTURE.serviceName, "qa", { accountId: FIXTURE.accounts.qa, region: FIXTURE.region })).toEqual({
      bucket: "churn-predictor-qa-404040404042-ap-southeast-4",
      kmsAlias: "alias/churn-predictor-qa",
      executionRole: "churn-predictor-qa-sagemaker-execution",
      deployerRole: "churn-predictor-qa-deployer",
      previewerRole: "churn-predictor-qa-previewer",
      workloadBoundary: "churn-predictor-qa-workload-boundary",
    });
  });

  test("GIVEN a 20-character service and 10-character stage in the longest region name WHEN named THEN the bucket fits in 63 characters", () => {
    expect(stageNames(LONGEST_SERVICE, LONGEST_STAGE, LONGEST_REGION).bucket.length).toBeLessThanOrEqual(S3_BUCKET_MAX);
  });

  test("GIVEN a 20-character service and 10-character stage WHEN named THEN every role fits in 64 characters", () => {
    const names = stageNames(LONGEST_SERVICE, LONGEST_STAGE, LONGEST_REGION);
    for (const role of [names.executionRole, names.deployerRole, names.previewerRole]) {
      expect(role.length).toBeLessThanOrEqual(IAM_ROLE_MAX);
    }
  });

  test("GIVEN two stages in one account WHEN named THEN their buckets and roles differ", () => {
    const qa = stageNames("svc", "qa", SANDBOX);
    const dev = stageNames("svc", "dev", SANDBOX);
    for (const key of Object.keys(qa) as (keyof typeof qa)[]) {
      expect(qa[key]).not.toBe(dev[key]);
    }
  });
});

describe("modelPackageGroupName", () => {
  test("GIVEN a service and model WHEN named THEN the group is service-model", () => {
    expect(modelPackageGroupName(FIXTURE.serviceName, FIXTURE.models[0])).toBe("churn-predictor-churn-scorer");
  });

  test("GIVEN a 20-character service and 24-character model WHEN named THEN the group is a valid SageMaker name", () => {
    const group = modelPackageGroupName(LONGEST_SERVICE, "abcdefghijkl-mnopqrstuvw");
    expect(group.length).toBeLessThanOrEqual(SAGEMAKER_NAME_MAX);
    expect(group).toMatch(SAGEMAKER_NAME_PATTERN);
  });
});

describe("endpointNames", () => {
  test("GIVEN a service and endpoint key WHEN named THEN the endpoint is service-key and its children and alarms derive from it", () => {
    expect(endpointNames(FIXTURE.serviceName, "scorer")).toEqual({
      endpoint: "churn-predictor-scorer",
      modelLogical: "churn-predictor-scorer-model",
      endpointConfigLogical: "churn-predictor-scorer-config",
      errorAlarm: "churn-predictor-scorer-invocation-5xx",
      latencyAlarm: "churn-predictor-scorer-model-latency",
      asyncSuccessTopic: "churn-predictor-scorer-async-success",
      asyncErrorTopic: "churn-predictor-scorer-async-error",
      backlogAlarm: "churn-predictor-scorer-backlog-without-capacity",
    });
  });

  test("GIVEN an endpoint name WHEN its children are named THEN the model, config and alarm names extend it", () => {
    expect(endpointChildNames("my-endpoint")).toEqual({
      endpoint: "my-endpoint",
      modelLogical: "my-endpoint-model",
      endpointConfigLogical: "my-endpoint-config",
      errorAlarm: "my-endpoint-invocation-5xx",
      latencyAlarm: "my-endpoint-model-latency",
      asyncSuccessTopic: "my-endpoint-async-success",
      asyncErrorTopic: "my-endpoint-async-error",
      backlogAlarm: "my-endpoint-backlog-without-capacity",
    });
  });

  test("GIVEN an endpoint WHEN named THEN every SageMaker name matches the SageMaker pattern", () => {
    const names = endpointNames(FIXTURE.serviceName, "scorer");
    for (const name of [names.endpoint, names.modelLogical, names.endpointConfigLogical]) {
      expect(name).toMatch(SAGEMAKER_NAME_PATTERN);
    }
  });
});

describe("longestEndpointName", () => {
  test("GIVEN an endpoint WHEN measured THEN it is the config logical name plus the auto-name suffix", () => {
    // "svc-ep-config" (13) + "-abc1234" (8) is longer than "svc-ep-model" + 8 and than "svc-ep".
    expect(longestEndpointName("svc-ep")).toBe(21);
  });

  test("GIVEN an endpoint whose config name exactly fills the limit once auto-named WHEN measured THEN it is 63", () => {
    // 63 - 8 = 55 characters of "<service>-<key>-config": a 48-character "<service>-<key>".
    const key = "k".repeat(48 - "svc-".length);
    expect(longestEndpointName(`svc-${key}`)).toBe(SAGEMAKER_NAME_MAX);
  });
});

describe("SAGEMAKER_NAME_PATTERN", () => {
  test.each(["a", "model-1", "a--b", "A".repeat(63)])("GIVEN %p WHEN matched THEN it is a valid SageMaker name", (name) => {
    expect(name).toMatch(SAGEMAKER_NAME_PATTERN);
  });

  test.each(["", "-a", "a-", "a_b", "a.b", "A".repeat(64)])("GIVEN %p WHEN matched THEN it is rejected", (name) => {
    expect(name).not.toMatch(SAGEMAKER_NAME_PATTERN);
  });
});

describe("ARNs", () => {
  test("GIVEN an account without a partition WHEN an ARN is built THEN the partition is aws", () => {
    expect(roleArn(SANDBOX, "r")).toBe("arn:aws:iam::404040404041:role/r");
  });

  test("GIVEN an account in aws-cn WHEN ARNs are built THEN they use that partition", () => {
    expect(roleArn(CHINA, "r")).toBe("arn:aws-cn:iam::444444444444:role/r");
    expect(bucketArn(CHINA, "b")).toBe("arn:aws-cn:s3:::b");
    expect(sagemakerArn(CHINA, "endpoint/e")).toBe("arn:aws-cn:sagemaker:cn-north-1:444444444444:endpoint/e");
  });

  test("GIVEN a role pattern WHEN named in any account THEN the account field is * and the partition is the account's", () => {
    expect(anyAccountRoleArn(SANDBOX, "svc-*")).toBe("arn:aws:iam::*:role/svc-*");
    expect(anyAccountRoleArn(CHINA, "svc-*")).toBe("arn:aws-cn:iam::*:role/svc-*");
  });

  test("GIVEN an account WHEN its root is named THEN the ARN ends in :root", () => {
    expect(accountRootArn(SANDBOX)).toBe("arn:aws:iam::404040404041:root");
  });

  test("GIVEN a bucket WHEN its ARN is built THEN it has no region or account", () => {
    expect(bucketArn(SANDBOX, "my-bucket")).toBe("arn:aws:s3:::my-bucket");
  });

  test("GIVEN an alias WHEN its ARN is built THEN it is in the account and region", () => {
    expect(kmsAliasArn(SANDBOX, "alias/svc-registry")).toBe("arn:aws:kms:ap-southeast-4:404040404041:alias/svc-registry");
  });

  test("GIVEN an account WHEN its keys are named THEN the ARN covers every key of that account and region only", () => {
    expect(kmsKeysArn(SANDBOX)).toBe("arn:aws:kms:ap-southeast-4:404040404041:key/*");
  });

  test("GIVEN a repository WHEN its ARN and registry host are built THEN both are in the account and region", () => {
    expect(ecrRepositoryArn(SANDBOX, "svc-inference")).toBe("arn:aws:ecr:ap-southeast-4:404040404041:repository/svc-inference");
    expect(ecrRegistryHost(SANDBOX)).toBe("404040404041.dkr.ecr.ap-southeast-4.amazonaws.com");
  });

  test("GIVEN a model package group WHEN its ARNs are built THEN the group ARN names the group and the versions ARN every version in it", () => {
    expect(modelPackageGroupArn(SANDBOX, "svc-m")).toBe("arn:aws:sagemaker:ap-southeast-4:404040404041:model-package-group/svc-m");
    expect(modelPackagesArn(SANDBOX, "svc-m")).toBe("arn:aws:sagemaker:ap-southeast-4:404040404041:model-package/svc-m/*");
  });

  test("GIVEN a log group and an alarm WHEN their ARNs are built THEN they are in the account and region", () => {
    expect(logGroupArn(SANDBOX, "/aws/sagemaker/x")).toBe("arn:aws:logs:ap-southeast-4:404040404041:log-group:/aws/sagemaker/x");
    expect(alarmArn(SANDBOX, "a")).toBe("arn:aws:cloudwatch:ap-southeast-4:404040404041:alarm:a");
  });

  test("GIVEN an account WHEN its GitHub OIDC provider is named THEN the ARN ends in the GitHub token host", () => {
    expect(githubOidcProviderArn(SANDBOX)).toBe("arn:aws:iam::404040404041:oidc-provider/token.actions.githubusercontent.com");
  });
});
