import type { Document } from "yaml";
import { copyProject, endpointPath, type ProjectEdits, runStack } from "../support/stack-files";

/**
 * Each case is a broken copy of a shipped stack. The program must reject it before registering a
 * single resource, with a message that names the file, the key path and what was expected.
 */
interface BadCase {
  readonly title: string;
  readonly stage: string;
  readonly edits: ProjectEdits;
  /** Every line the error must contain. */
  readonly expected: readonly (string | RegExp)[];
}

const set = (path: (string | number)[], value: unknown) => (doc: Document) => doc.setIn(path, doc.createNode(value));
const remove = (path: (string | number)[]) => (doc: Document) => doc.deleteIn(path);

const REGISTRY_ARN = "arn:aws:sagemaker:eu-west-1:111111111111:model-package/fraud-detection-fraud-scorer/6";
const ECR = "111111111111.dkr.ecr.eu-west-1.amazonaws.com/fraud-detection-inference";

const cases: BadCase[] = [
  {
    title: "a misspelled top-level key",
    stage: "prod",
    edits: { stack: (doc) => { doc.setIn(["config", "mlplatform:endpoint"], doc.getIn(["config", "mlplatform:endpoints"])); doc.deleteIn(["config", "mlplatform:endpoints"]); } },
    expected: ["Pulumi.prod.yaml: mlplatform:endpoint: unknown key; did you mean mlplatform:endpoints?"],
  },
  {
    title: "a misspelled endpoint setting",
    stage: "qa",
    edits: { stack: set(endpointPath("fraud-scorer", "instanceCout"), 2) },
    expected: ["Pulumi.qa.yaml: mlplatform:endpoints.fraud-scorer.instanceCout: unknown key"],
  },
  {
    title: "a key in the project's own namespace instead of mlplatform",
    stage: "qa",
    edits: { stack: set(["config", "fraud-detection:endpoints"], {}) },
    expected: ["Pulumi.qa.yaml: fraud-detection:endpoints: unknown namespace \"fraud-detection\""],
  },
  {
    title: "another stage's account in aws:allowedAccountIds",
    stage: "prod",
    edits: { stack: set(["config", "aws:allowedAccountIds"], ["222222222222"]) },
    expected: ["Pulumi.prod.yaml: aws:allowedAccountIds: must be [\"333333333333\"]"],
  },
  {
    title: "no aws:allowedAccountIds",
    stage: "sandbox",
    edits: { stack: remove(["config", "aws:allowedAccountIds"]) },
    expected: ["Pulumi.sandbox.yaml: aws:allowedAccountIds: must be [\"111111111111\"]", "got nothing"],
  },
  {
    title: "an 11-digit account id",
    stage: "qa",
    edits: { project: set(["config", "mlplatform:stages", "value", 1, "accountId"], "22222222222") },
    expected: ["Pulumi.yaml: mlplatform:stages[1].accountId: must be a 12-digit AWS account id, got \"22222222222\""],
  },
  {
    title: "two stages in one account without declared sharing",
    stage: "qa",
    edits: { project: set(["config", "mlplatform:stages", "value", 1, "accountId"], "111111111111") },
    expected: ["Pulumi.yaml: mlplatform:stages[1].accountId: 111111111111 is already the account of stage \"sandbox\"", "shareAccountWith"],
  },
  {
    title: "a registry stage that is not a stage",
    stage: "qa",
    edits: { project: set(["config", "mlplatform:registryStage"], "tooling") },
    expected: ["Pulumi.yaml: mlplatform:registryStage: must be one of the stages (sandbox, qa, prod), got \"tooling\""],
  },
  {
    title: "a model package ARN without a version",
    stage: "prod",
    edits: { stack: set(endpointPath("fraud-scorer", "source", "modelPackageArn"), "arn:aws:sagemaker:eu-west-1:111111111111:model-package-group/fraud-detection-fraud-scorer") },
    expected: ["Pulumi.prod.yaml: mlplatform:endpoints.fraud-scorer.source.modelPackageArn: must be a versioned model package ARN"],
  },
  {
    title: "a model package in another region",
    stage: "prod",
    edits: { stack: set(endpointPath("fraud-scorer", "source", "modelPackageArn"), REGISTRY_ARN.replace("eu-west-1", "us-east-1")) },
    expected: ["mlplatform:endpoints.fraud-scorer.source.modelPackageArn: must be in region eu-west-1, got us-east-1"],
  },
  {
    title: "a model package outside the registry account",
    stage: "prod",
    edits: { stack: set(endpointPath("fraud-scorer", "source", "modelPackageArn"), REGISTRY_ARN.replace("111111111111", "222222222222")) },
    expected: ["Pulumi.prod.yaml: mlplatform:endpoints.fraud-scorer.source.modelPackageArn: must be in the registry account 111111111111, got 222222222222"],
  },
  {
    title: "a model package from another model's group",
    stage: "prod",
    edits: { stack: set(endpointPath("fraud-scorer", "source", "modelPackageArn"), REGISTRY_ARN.replace("fraud-scorer", "txn-embedder")) },
    expected: ["must be a version of the group fraud-detection-fraud-scorer, got fraud-detection-txn-embedder"],
  },
  {
    title: "an instance type SageMaker does not offer for endpoints",
    stage: "qa",
    edits: { stack: set(endpointPath("fraud-scorer", "instanceType"), "ml.m5.huge") },
    expected: ["Pulumi.qa.yaml: mlplatform:endpoints.fraud-scorer.instanceType: must be a SageMaker production-variant instance type such as ml.m5.large, got \"ml.m5.huge\""],
  },
  {
    title: "zero instances",
    stage: "qa",
    edits: { stack: set(endpointPath("fraud-scorer", "instanceCount"), 0) },
    expected: ["Pulumi.qa.yaml: mlplatform:endpoints.fraud-scorer.instanceCount: must be at least 1, got 0"],
  },
  {
    title: "a fractional instance count",
    stage: "qa",
    edits: { stack: set(endpointPath("fraud-scorer", "instanceCount"), 1.5) },
    expected: ["mlplatform:endpoints.fraud-scorer.instanceCount: must be a whole number, got 1.5"],
  },
  {
    title: "a canary larger than half the fleet",
    stage: "prod",
    edits: { stack: set(endpointPath("fraud-scorer", "deployment", "canarySizePercent"), 60) },
    expected: ["Pulumi.prod.yaml: mlplatform:endpoints.fraud-scorer.deployment.canarySizePercent: must be 1-50 percent, got 60"],
  },
  {
    title: "a linear step under 10%",
    stage: "qa",
    edits: { stack: set(endpointPath("fraud-scorer", "deployment", "stepSizePercent"), 5) },
    expected: ["Pulumi.qa.yaml: mlplatform:endpoints.fraud-scorer.deployment.stepSizePercent: must be 10-50 percent, got 5"],
  },
  {
    title: "a wait interval over an hour",
    stage: "prod",
    edits: { stack: set(endpointPath("fraud-scorer", "deployment", "waitSeconds"), 4000) },
    expected: ["mlplatform:endpoints.fraud-scorer.deployment.waitSeconds: must be 0-3600 seconds, got 4000"],
  },
  {
    title: "a negative termination wait",
    stage: "prod",
    edits: { stack: set(endpointPath("txn-embedder", "deployment", "terminationWaitSeconds"), -1) },
    expected: ["mlplatform:endpoints.txn-embedder.deployment.terminationWaitSeconds: must be 0-3600 seconds, got -1"],
  },
  {
    title: "an execution timeout under 600 seconds",
    stage: "prod",
    edits: { stack: set(endpointPath("fraud-scorer", "deployment", "maximumExecutionTimeoutSeconds"), 300) },
    expected: ["mlplatform:endpoints.fraud-scorer.deployment.maximumExecutionTimeoutSeconds: must be 600-14400 seconds, got 300"],
  },
  {
    title: "a rolling batch over 50%",
    stage: "qa",
    edits: { stack: set(endpointPath("fraud-scorer", "deployment"), { strategy: "rolling", batchSizePercent: 60, waitSeconds: 60 }) },
    expected: ["mlplatform:endpoints.fraud-scorer.deployment.batchSizePercent: must be 5-50 percent, got 60"],
  },
  {
    title: "an unknown deployment strategy",
    stage: "qa",
    edits: { stack: set(endpointPath("fraud-scorer", "deployment", "strategy"), "blue-green") },
    expected: ["Pulumi.qa.yaml: mlplatform:endpoints.fraud-scorer.deployment.strategy: strategy must be one of all-at-once, canary, linear, rolling"],
  },
  {
    title: "an endpoint name too long for auto-named children",
    stage: "sandbox",
    edits: { stack: (doc) => doc.setIn(["config", "mlplatform:endpoints", "fraud-scorer-with-a-much-too-long-name"], doc.getIn(endpointPath("fraud-scorer"))) },
    expected: [
      "Pulumi.sandbox.yaml: mlplatform:endpoints.fraud-scorer-with-a-much-too-long-name: name",
      /is too long: .* would reach 69 characters \(limit 63\); use at most 32 characters/,
    ],
  },
  {
    title: "an endpoint name with an underscore",
    stage: "sandbox",
    edits: { stack: (doc) => doc.setIn(["config", "mlplatform:endpoints", "fraud_scorer"], doc.getIn(endpointPath("fraud-scorer"))) },
    expected: ["Pulumi.sandbox.yaml: mlplatform:endpoints.fraud_scorer: endpoint names must be lowercase letters, digits and single hyphens"],
  },
  {
    title: "a model the project does not declare",
    stage: "qa",
    edits: { stack: set(endpointPath("fraud-scorer", "model"), "churn") },
    expected: ["Pulumi.qa.yaml: mlplatform:endpoints.fraud-scorer.model: must be one of the project's models (fraud-scorer, txn-embedder), got \"churn\""],
  },
  {
    title: "an image outside the registry's repository",
    stage: "prod",
    edits: { stack: set(endpointPath("txn-embedder", "source", "image"), "nvcr.io/nvidia/tritonserver:24.09-py3") },
    expected: [`Pulumi.prod.yaml: mlplatform:endpoints.txn-embedder.source.image: must be ${ECR}:<tag> or @sha256:<digest>`],
  },
  {
    title: "model data in a bucket the execution role cannot read",
    stage: "prod",
    edits: { stack: set(endpointPath("txn-embedder", "source", "modelDataUrl"), "s3://someone-elses-bucket/model.tar.gz") },
    expected: ["mlplatform:endpoints.txn-embedder.source.modelDataUrl: must be in the registry bucket fraud-detection-artifacts-111111111111-eu-west-1 or the stage bucket fraud-detection-prod-333333333333-eu-west-1, got bucket \"someone-elses-bucket\""],
  },
  {
    title: "more rollback alarms than SageMaker accepts",
    stage: "prod",
    edits: { stack: set(endpointPath("fraud-scorer", "alarms", "additionalRollbackAlarmNames"), Array.from({ length: 9 }, (_, i) => `extra-${i}`)) },
    expected: ["mlplatform:endpoints.fraud-scorer.alarms.additionalRollbackAlarmNames: allows at most 8 names"],
  },
  {
    title: "no endpoints at all",
    stage: "qa",
    edits: { stack: set(["config", "mlplatform:endpoints"], {}) },
    expected: ["Pulumi.qa.yaml: mlplatform:endpoints: must define at least one endpoint"],
  },
  {
    title: "a retention that is not a number",
    stage: "prod",
    edits: { stack: set(["config", "mlplatform:noncurrentVersionExpirationDays"], "a year") },
    expected: ["Pulumi.prod.yaml: mlplatform:noncurrentVersionExpirationDays: must be a whole number of days"],
  },
  {
    title: "a stack file that is not YAML",
    stage: "qa",
    edits: { stackText: "config:\n  mlplatform:endpoints: [\n" },
    expected: ["Pulumi.qa.yaml: (file): is not valid YAML"],
  },
  {
    title: "an encrypted secret the program cannot read offline",
    stage: "qa",
    edits: { stack: set(["config", "mlplatform:tags"], { secure: "v1:abc" }) },
    expected: ["Pulumi.qa.yaml: mlplatform:tags: is a secret"],
  },
];

describe("a broken stack file", () => {
  it.each(cases)("GIVEN $title WHEN the $stage stack runs THEN it is rejected naming the file and key", async ({ stage, edits, expected }) => {
    const copy = copyProject(stage, edits);
    let registered = 0;
    try {
      // The run rejects only once registrations in flight have settled, so the count is final.
      const error = await runStack(stage, copy.dir, () => { registered += 1; }).then(() => undefined, (e: Error) => e);
      expect(error).toBeInstanceOf(Error);
      const message = error?.message ?? "";
      for (const line of expected) {
        if (typeof line === "string") expect(message).toContain(line);
        else expect(message).toMatch(line);
      }
      expect(registered).toBe(0);
    } finally {
      copy.cleanup();
    }
  });

  it("GIVEN several mistakes in one file WHEN the stack runs THEN every mistake is reported at once", async () => {
    const copy = copyProject("prod", {
      stack: (doc) => {
        doc.setIn(endpointPath("fraud-scorer", "instanceCount"), 0);
        doc.setIn(endpointPath("txn-embedder", "deployment", "canarySizePercent"), 70);
      },
    });
    try {
      const message = await runStack("prod", copy.dir).then(() => "", (error: Error) => error.message);
      expect(message).toContain("mlplatform:endpoints.fraud-scorer.instanceCount: must be at least 1");
      expect(message).toContain("mlplatform:endpoints.txn-embedder.deployment.canarySizePercent: must be 1-50 percent, got 70");
    } finally {
      copy.cleanup();
    }
  });

  it("GIVEN a stack name that is no stage WHEN it runs THEN the stages are listed", async () => {
    const copy = copyProject("qa", {});
    try {
      const { copyFileSync } = await import("node:fs");
      copyFileSync(`${copy.dir}/Pulumi.qa.yaml`, `${copy.dir}/Pulumi.staging.yaml`);
      await expect(runStack("staging", copy.dir)).rejects.toThrow(
        "Pulumi.yaml: mlplatform:stages: has no stage \"staging\" (the stack name); stages are sandbox, qa, prod");
    } finally {
      copy.cleanup();
    }
  });

  it("GIVEN a config mistake WHEN the program rejects it THEN the error is a RunError, which Pulumi prints without a stack trace", async () => {
    const copy = copyProject("qa", { stack: set(endpointPath("fraud-scorer", "instanceCount"), 0) });
    try {
      const error = await runStack("qa", copy.dir).then(() => undefined, (e: Error) => e);
      const pulumi = await import("@pulumi/pulumi");
      expect(pulumi.RunError.isInstance(error)).toBe(true);
    } finally {
      copy.cleanup();
    }
  });
});
