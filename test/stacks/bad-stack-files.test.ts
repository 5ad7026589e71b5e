import { copyFileSync } from "node:fs";
import { join } from "node:path";
import type { Document } from "yaml";
import { checkModelPackageArn } from "../../stacks/config/schema";
import { ofType } from "../support/mocks";
import { copyProject, endpointPath, type ProjectEdits, runStack } from "../support/stack-files";

/**
 * Each case is a broken copy of a fixture stack (test/fixtures/project). The program must reject it
 * before registering a single resource, with a message that names the file, the key path and what
 * was expected. Expected messages are written out in full: every line of the error, nothing more.
 */
interface BadCase {
  readonly title: string;
  readonly stage: string;
  readonly edits: ProjectEdits;
  /** Every problem line of the error, in order (a RegExp where the text is the YAML parser's). */
  readonly expected: readonly (string | RegExp)[];
}

const set = (path: (string | number)[], value: unknown) => (doc: Document) => doc.setIn(path, doc.createNode(value));
const remove = (path: (string | number)[]) => (doc: Document) => doc.deleteIn(path);
const source = (endpoint: string, value: Record<string, unknown>) => set(endpointPath(endpoint, "source"), value);

/** Where the fixture's registry (sandbox, 404040404041, ap-southeast-4) keeps what the stack files name. */
const ARTIFACTS = "churn-predictor-artifacts-404040404041-ap-southeast-4";
const ECR = "404040404041.dkr.ecr.ap-southeast-4.amazonaws.com/churn-predictor-inference";
const DIGEST = `sha256:${"0123456789abcdef".repeat(4)}`;
const SOURCE_FORMS = "either version: <n> (a registry model package version) or imageTag (or imageDigest) with modelDataKey";
const DAYS = "must be a whole number of days, 1-3650";

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
    edits: { stack: set(endpointPath("churn-scorer", "instanceCout"), 2) },
    expected: ["Pulumi.qa.yaml: mlplatform:endpoints.churn-scorer.instanceCout: unknown key (check the spelling)"],
  },
  {
    title: "a key in the project's own namespace instead of mlplatform",
    stage: "qa",
    edits: { stack: set(["config", "churn-predictor:endpoints"], {}) },
    expected: ["Pulumi.qa.yaml: churn-predictor:endpoints: unknown namespace \"churn-predictor\": this program reads mlplatform:<key> (and aws:, pulumi: settings)"],
  },
  {
    title: "another stage's account in aws:allowedAccountIds",
    stage: "prod",
    edits: { stack: set(["config", "aws:allowedAccountIds"], ["404040404042"]) },
    expected: ["Pulumi.prod.yaml: aws:allowedAccountIds: must be [\"404040404043\"]: the stack's account from Pulumi.yaml, so the provider refuses any other account; got [\"404040404042\"]"],
  },
  {
    title: "no aws:allowedAccountIds",
    stage: "sandbox",
    edits: { stack: remove(["config", "aws:allowedAccountIds"]) },
    expected: ["Pulumi.sandbox.yaml: aws:allowedAccountIds: must be [\"404040404041\"]: the stack's account from Pulumi.yaml, so the provider refuses any other account; got nothing"],
  },
  {
    title: "an aws:region in the stack file other than the service's",
    stage: "qa",
    edits: { stack: set(["config", "aws:region"], "us-east-1") },
    expected: ["Pulumi.qa.yaml: aws:region: is us-east-1, but the service deploys every stack into ap-southeast-4 (region in .projenrc.ts, "
      + "mlplatform:region in Pulumi.yaml); remove aws:region from Pulumi.qa.yaml"],
  },
  {
    title: "an 11-digit account id",
    stage: "qa",
    edits: { project: set(["config", "mlplatform:stages", "value", 1, "accountId"], "40404040404") },
    expected: ["Pulumi.yaml: mlplatform:stages[1].accountId: must be a 12-digit AWS account id, got \"40404040404\""],
  },
  {
    title: "two stages in one account without declared sharing",
    stage: "qa",
    edits: { project: set(["config", "mlplatform:stages", "value", 1, "accountId"], "404040404041") },
    expected: ["Pulumi.yaml: mlplatform:stages[1].accountId: 404040404041 is already the account of stage \"sandbox\"; one account per stage, "
      + "or set shareAccountWith: \"sandbox\" to share it deliberately"],
  },
  {
    title: "a registry stack file locked to another stage's account",
    stage: "registry",
    edits: { stack: set(["config", "aws:allowedAccountIds"], ["404040404042"]) },
    expected: ["Pulumi.registry.yaml: aws:allowedAccountIds: must be [\"404040404041\"]: the stack's account from Pulumi.yaml, so the provider refuses any other account; got [\"404040404042\"]"],
  },
  {
    title: "a misspelled key in the registry stack file",
    stage: "registry",
    edits: { stack: set(["config", "mlplatform:noncurrentVersionExpirationDay"], 30) },
    expected: ["Pulumi.registry.yaml: mlplatform:noncurrentVersionExpirationDay: unknown key; did you mean mlplatform:noncurrentVersionExpirationDays?"],
  },
  {
    title: "a publisher that names a workflow but neither an environment nor a branch",
    stage: "qa",
    edits: { project: set(["config", "mlplatform:publishers"], { value: [{ github: { repository: "acme-test-org/trainer", workflow: "retrain.yml" } }] }) },
    expected: ["Pulumi.yaml: mlplatform:publishers[0].github: must name an environment or a branch (a workflow alone would admit any ref, pull requests included)"],
  },
  {
    title: "an approver that is not a role ARN",
    stage: "qa",
    edits: { project: set(["config", "mlplatform:approvers"], { value: [{ roleArn: "arn:aws:iam::404040404041:user/alice" }] }) },
    expected: ["Pulumi.yaml: mlplatform:approvers[0].roleArn: must be an IAM role ARN (a * may stand for an SSO permission set's suffix), "
      + "got \"arn:aws:iam::404040404041:user/alice\""],
  },
  {
    title: "an empty list of approvers",
    stage: "qa",
    edits: { project: set(["config", "mlplatform:approvers"], { value: [] }) },
    expected: ["Pulumi.yaml: mlplatform:approvers: must list at least one principal, got []"],
  },
  {
    title: "a state backend without its account",
    stage: "qa",
    edits: { project: set(["config", "mlplatform:stateBackend"], { value: { bucket: "acme-pulumi-state" } }) },
    expected: ["Pulumi.yaml: mlplatform:stateBackend.accountId: is required (string)"],
  },
  {
    title: "a registry stage that is not a stage",
    stage: "qa",
    edits: { project: set(["config", "mlplatform:registryStage"], "tooling") },
    expected: ["Pulumi.yaml: mlplatform:registryStage: must be one of the stages (sandbox, qa, prod), got \"tooling\""],
  },

  // The source forms of earlier versions: refused, saying what to write instead.
  {
    title: "a model package ARN (the old source form)",
    stage: "prod",
    edits: { stack: source("churn-scorer", { modelPackageArn: "arn:aws:sagemaker:ap-southeast-4:404040404041:model-package/churn-predictor-churn-scorer/7" }) },
    expected: ["Pulumi.prod.yaml: mlplatform:endpoints.churn-scorer.source.modelPackageArn: is derived from the service definition now; write version: 7 instead "
      + "(the registry account 404040404041 and region ap-southeast-4 come from .projenrc.ts)"],
  },
  {
    title: "a model package group ARN without a version (the old source form)",
    stage: "prod",
    edits: { stack: source("churn-scorer", { modelPackageArn: "arn:aws:sagemaker:ap-southeast-4:404040404041:model-package-group/churn-predictor-churn-scorer" }) },
    expected: ["Pulumi.prod.yaml: mlplatform:endpoints.churn-scorer.source.modelPackageArn: is derived from the service definition now; write version: <n> instead "
      + "(the registry account 404040404041 and region ap-southeast-4 come from .projenrc.ts)"],
  },
  {
    title: "an image URI and model data URL (the old source form)",
    stage: "qa",
    edits: {
      stack: source("doc-embedder", {
        image: `${ECR}:triton-24.09-doc-embedder-v2`,
        modelDataUrl: `s3://${ARTIFACTS}/doc-embedder/v2/model.tar.gz`,
        environment: { SAGEMAKER_TRITON_DEFAULT_MODEL_NAME: "doc_embedder" },
      }),
    },
    expected: [
      "Pulumi.qa.yaml: mlplatform:endpoints.doc-embedder.source.image: is derived from the service definition now; write imageTag: triton-24.09-doc-embedder-v2 instead "
        + "(the repository churn-predictor-inference comes from .projenrc.ts)",
      "Pulumi.qa.yaml: mlplatform:endpoints.doc-embedder.source.modelDataUrl: is derived from the service definition now; write modelDataKey: doc-embedder/v2/model.tar.gz instead "
        + "(the key in the registry's artifact bucket)",
    ],
  },
  {
    title: "an image URI by digest (the old source form)",
    stage: "qa",
    edits: { stack: source("doc-embedder", { image: `${ECR}@${DIGEST}`, modelDataKey: "doc-embedder/v2/model.tar.gz" }) },
    expected: [`Pulumi.qa.yaml: mlplatform:endpoints.doc-embedder.source.image: is derived from the service definition now; write imageDigest: ${DIGEST} instead `
      + "(the repository churn-predictor-inference comes from .projenrc.ts)"],
  },

  // The source forms of today, written wrongly.
  {
    title: "version 0",
    stage: "qa",
    edits: { stack: set(endpointPath("churn-scorer", "source", "version"), 0) },
    expected: ["Pulumi.qa.yaml: mlplatform:endpoints.churn-scorer.source.version: must be 1 or more (versions start at 1), got 0"],
  },
  {
    title: "a version in quotes",
    stage: "qa",
    edits: { stack: set(endpointPath("churn-scorer", "source", "version"), "7") },
    expected: ["Pulumi.qa.yaml: mlplatform:endpoints.churn-scorer.source.version: must be a model package version number, such as 7, got \"7\""],
  },
  {
    title: "a fractional version",
    stage: "qa",
    edits: { stack: set(endpointPath("churn-scorer", "source", "version"), 6.5) },
    expected: ["Pulumi.qa.yaml: mlplatform:endpoints.churn-scorer.source.version: must be a whole version number, got 6.5"],
  },
  {
    title: "both imageTag and imageDigest",
    stage: "prod",
    edits: { stack: set(endpointPath("doc-embedder", "source", "imageDigest"), DIGEST) },
    expected: ["Pulumi.prod.yaml: mlplatform:endpoints.doc-embedder.source.imageTag: an image source takes exactly one of imageTag and imageDigest"],
  },
  {
    title: "a version together with an imageTag",
    stage: "prod",
    edits: { stack: set(endpointPath("churn-scorer", "source", "imageTag"), "triton-24.09-churn-v1") },
    expected: [`Pulumi.prod.yaml: mlplatform:endpoints.churn-scorer.source.imageTag: cannot be combined with version: ${SOURCE_FORMS}`],
  },
  {
    title: "an image without modelDataKey",
    stage: "sandbox",
    edits: { stack: remove(endpointPath("doc-embedder", "source", "modelDataKey")) },
    expected: ["Pulumi.sandbox.yaml: mlplatform:endpoints.doc-embedder.source.modelDataKey: is required with an image: the key of model.tar.gz in the registry's artifact bucket"],
  },
  {
    // s3://<53-character bucket>/ is 59 characters: a 966-character key makes 1025.
    title: "a modelDataKey that makes the model data URL longer than 1024 characters",
    stage: "sandbox",
    edits: { stack: set(endpointPath("doc-embedder", "source", "modelDataKey"), `doc-embedder/${"k".repeat(953)}`) },
    expected: ["Pulumi.sandbox.yaml: mlplatform:endpoints.doc-embedder.source.modelDataKey: makes a model data URL of 1025 characters; "
      + "SageMaker takes an s3:// or https:// URL of at most 1024"],
  },
  {
    title: "a source that names no model",
    stage: "qa",
    edits: { stack: source("churn-scorer", {}) },
    expected: [`Pulumi.qa.yaml: mlplatform:endpoints.churn-scorer.source: must name the model: ${SOURCE_FORMS}`],
  },

  // The endpoint's own rules (components/endpoint-rules.ts), which the schema runs on each endpoint.
  {
    title: "an instance type SageMaker does not offer for endpoints",
    stage: "qa",
    edits: { stack: set(endpointPath("churn-scorer", "instanceType"), "ml.m5.huge") },
    expected: ["Pulumi.qa.yaml: mlplatform:endpoints.churn-scorer.instanceType: must be a SageMaker production-variant instance type such as ml.m5.large, got \"ml.m5.huge\""],
  },
  {
    title: "zero instances",
    stage: "qa",
    edits: { stack: set(endpointPath("churn-scorer", "instanceCount"), 0) },
    expected: ["Pulumi.qa.yaml: mlplatform:endpoints.churn-scorer.instanceCount: must be a whole number of at least 1, got 0"],
  },
  {
    title: "a fractional instance count",
    stage: "qa",
    edits: { stack: set(endpointPath("churn-scorer", "instanceCount"), 1.5) },
    expected: ["Pulumi.qa.yaml: mlplatform:endpoints.churn-scorer.instanceCount: must be a whole number of at least 1, got 1.5"],
  },
  {
    title: "an instance count in words",
    stage: "qa",
    edits: { stack: set(endpointPath("churn-scorer", "instanceCount"), "two") },
    expected: ["Pulumi.qa.yaml: mlplatform:endpoints.churn-scorer.instanceCount: must be a number of instances, got \"two\""],
  },
  {
    title: "a volume size on an instance type with local NVMe storage",
    stage: "sandbox",
    edits: { stack: set(endpointPath("doc-embedder", "volumeSizeGiB"), 100) },
    expected: ["Pulumi.sandbox.yaml: mlplatform:endpoints.doc-embedder.volumeSizeGiB: ml.g4dn.xlarge has local NVMe instance storage of a fixed size "
      + "and takes no volume size; remove volumeSizeGiB"],
  },
  {
    title: "a volume over 512 GiB",
    stage: "qa",
    edits: { stack: set(endpointPath("churn-scorer", "volumeSizeGiB"), 600) },
    expected: ["Pulumi.qa.yaml: mlplatform:endpoints.churn-scorer.volumeSizeGiB: must be a whole number of GiB from 1 to 512, got 600"],
  },
  {
    title: "a variant name with an underscore",
    stage: "qa",
    edits: { stack: set(endpointPath("churn-scorer", "variantName"), "blue_green") },
    expected: ["Pulumi.qa.yaml: mlplatform:endpoints.churn-scorer.variantName: must be letters, digits and hyphens (at most 63), got \"blue_green\""],
  },
  {
    title: "a container environment variable with a hyphen",
    stage: "sandbox",
    edits: { stack: set(endpointPath("doc-embedder", "source", "environment", "MODEL-NAME"), "x") },
    expected: ["Pulumi.sandbox.yaml: mlplatform:endpoints.doc-embedder.source.environment.MODEL-NAME: names take letters, digits and _ and must not start with a digit"],
  },
  {
    title: "a canary larger than half the fleet",
    stage: "prod",
    edits: { stack: set(endpointPath("churn-scorer", "deployment", "canarySizePercent"), 60) },
    expected: ["Pulumi.prod.yaml: mlplatform:endpoints.churn-scorer.deployment.canarySizePercent: must be a whole number of percent from 1 to 50, got 60"],
  },
  {
    title: "a linear step under 10%",
    stage: "qa",
    edits: { stack: set(endpointPath("churn-scorer", "deployment", "stepSizePercent"), 5) },
    expected: ["Pulumi.qa.yaml: mlplatform:endpoints.churn-scorer.deployment.stepSizePercent: must be a whole number of percent from 10 to 50, got 5"],
  },
  {
    // Canary bakes twice: 2 x 4000 + the 600 s termination wait. Every rule the value breaks is reported, the range first.
    title: "a wait interval over an hour",
    stage: "prod",
    edits: { stack: set(endpointPath("churn-scorer", "deployment", "waitSeconds"), 4000) },
    expected: [
      "Pulumi.prod.yaml: mlplatform:endpoints.churn-scorer.deployment.waitSeconds: must be a whole number of seconds from 0 to 3600, got 4000",
      "Pulumi.prod.yaml: mlplatform:endpoints.churn-scorer.deployment: baking and termination waits add up to 8600 s; the provider stops waiting for "
        + "InService after 60 minutes, so keep them at or below 2400 s (shorter waits or larger steps)",
      "Pulumi.prod.yaml: mlplatform:endpoints.churn-scorer.deployment.maximumExecutionTimeoutSeconds: 3600 s does not cover the 8600 s of baking "
        + "and termination waits: every deployment would time out and roll back",
    ],
  },
  {
    // Canary bakes twice: 2 x 1500 s, within SageMaker's range but past the provider's 60-minute wait with provisioning.
    title: "waits that outlast the provider",
    stage: "prod",
    edits: { stack: (doc) => { doc.setIn(endpointPath("churn-scorer", "deployment", "waitSeconds"), 1500); doc.deleteIn(endpointPath("churn-scorer", "deployment", "maximumExecutionTimeoutSeconds")); } },
    expected: ["Pulumi.prod.yaml: mlplatform:endpoints.churn-scorer.deployment: baking and termination waits add up to 3600 s; the provider stops waiting for "
      + "InService after 60 minutes, so keep them at or below 2400 s (shorter waits or larger steps)"],
  },
  {
    title: "a negative termination wait",
    stage: "prod",
    edits: { stack: set(endpointPath("doc-embedder", "deployment", "terminationWaitSeconds"), -1) },
    expected: ["Pulumi.prod.yaml: mlplatform:endpoints.doc-embedder.deployment.terminationWaitSeconds: must be a whole number of seconds from 0 to 3600, got -1"],
  },
  {
    title: "an execution timeout under 600 seconds",
    stage: "prod",
    edits: { stack: set(endpointPath("churn-scorer", "deployment", "maximumExecutionTimeoutSeconds"), 300) },
    expected: [
      "Pulumi.prod.yaml: mlplatform:endpoints.churn-scorer.deployment.maximumExecutionTimeoutSeconds: must be a whole number of seconds from 600 to 14400, got 300",
      "Pulumi.prod.yaml: mlplatform:endpoints.churn-scorer.deployment.maximumExecutionTimeoutSeconds: 300 s does not cover the 1800 s of baking "
        + "and termination waits: every deployment would time out and roll back",
    ],
  },
  {
    title: "a rolling batch over 50%",
    stage: "qa",
    edits: { stack: set(endpointPath("churn-scorer", "deployment"), { strategy: "rolling", batchSizePercent: 60, waitSeconds: 60 }) },
    expected: ["Pulumi.qa.yaml: mlplatform:endpoints.churn-scorer.deployment.batchSizePercent: must be a whole number of percent from 5 to 50, got 60"],
  },
  {
    title: "a rolling update of the one-instance GPU endpoint",
    stage: "qa",
    edits: { stack: set(endpointPath("doc-embedder", "deployment"), { strategy: "rolling", batchSizePercent: 50, waitSeconds: 60 }) },
    expected: ["Pulumi.qa.yaml: mlplatform:endpoints.doc-embedder.deployment.strategy: rolling needs at least 2 instances (a batch is at least one instance "
      + "and at most 50% of the fleet), got instanceCount 1; use all-at-once, canary or linear for a single instance"],
  },
  {
    title: "an unknown deployment strategy",
    stage: "qa",
    edits: { stack: set(endpointPath("churn-scorer", "deployment", "strategy"), "blue-green") },
    expected: ["Pulumi.qa.yaml: mlplatform:endpoints.churn-scorer.deployment.strategy: strategy must be one of all-at-once, canary, linear, rolling, step-functions-canary, got \"blue-green\""],
  },
  {
    // churn-predictor- (16) + the 38-character key + -config (7) + the 8-character auto-name suffix = 69; 63 - 15 leaves 48 for the name.
    title: "an endpoint name too long for auto-named children",
    stage: "sandbox",
    edits: { stack: (doc) => doc.setIn(["config", "mlplatform:endpoints", "churn-scorer-with-a-much-too-long-name"], doc.getIn(endpointPath("churn-scorer"))) },
    expected: ["Pulumi.sandbox.yaml: mlplatform:endpoints.churn-scorer-with-a-much-too-long-name: endpoint \"churn-scorer-with-a-much-too-long-name\": "
      + "\"churn-predictor-churn-scorer-with-a-much-too-long-name\" is too long: its auto-named children would reach 69 characters (limit 63); "
      + "shorten it by 6 (the endpoint's name is the service name, a hyphen and the key)"],
  },
  {
    title: "an endpoint name with an underscore",
    stage: "sandbox",
    edits: { stack: (doc) => doc.setIn(["config", "mlplatform:endpoints", "churn_scorer"], doc.getIn(endpointPath("churn-scorer"))) },
    expected: ["Pulumi.sandbox.yaml: mlplatform:endpoints.churn_scorer: endpoint names must be lowercase letters, digits and single hyphens"],
  },
  {
    title: "a model the project does not declare",
    stage: "qa",
    edits: { stack: set(endpointPath("churn-scorer", "model"), "lifetime-value") },
    expected: ["Pulumi.qa.yaml: mlplatform:endpoints.churn-scorer.model: must be one of the project's models (churn-scorer, doc-embedder), got \"lifetime-value\""],
  },
  {
    title: "more rollback alarms than SageMaker accepts",
    stage: "prod",
    edits: { stack: set(endpointPath("churn-scorer", "alarms", "additionalRollbackAlarmNames"), Array.from({ length: 9 }, (_, i) => `extra-${i}`)) },
    expected: ["Pulumi.prod.yaml: mlplatform:endpoints.churn-scorer.alarms.additionalRollbackAlarmNames: allows at most 8 names: "
      + "SageMaker takes at most 10 rollback alarms and the component creates 2, got 9"],
  },
  {
    title: "a blank rollback alarm name",
    stage: "prod",
    edits: { stack: set(endpointPath("churn-scorer", "alarms", "additionalRollbackAlarmNames"), ["team-slo", "  "]) },
    expected: ["Pulumi.prod.yaml: mlplatform:endpoints.churn-scorer.alarms.additionalRollbackAlarmNames: alarm names take 1-255 characters, "
      + "not only whitespace, got \"  \""],
  },
  {
    title: "a rollback alarm that repeats the endpoint's own",
    stage: "prod",
    edits: { stack: set(endpointPath("churn-scorer", "alarms", "additionalRollbackAlarmNames"), ["churn-predictor-churn-scorer-invocation-5xx"]) },
    expected: ["Pulumi.prod.yaml: mlplatform:endpoints.churn-scorer.alarms.additionalRollbackAlarmNames: must be distinct from each other and from "
      + "the component's own alarms, got \"churn-predictor-churn-scorer-invocation-5xx\""],
  },
  {
    title: "an alarm that waits more than 30 periods",
    stage: "prod",
    edits: { stack: set(endpointPath("churn-scorer", "alarms", "evaluationPeriods"), 31) },
    expected: ["Pulumi.prod.yaml: mlplatform:endpoints.churn-scorer.alarms.evaluationPeriods: must be a whole number from 1 to 30, got 31"],
  },

  // A retention is a whole number of days, or (as Pulumi hands top-level values over as text) a string of decimal digits.
  {
    title: "a retention that is not a number",
    stage: "prod",
    edits: { stack: set(["config", "mlplatform:noncurrentVersionExpirationDays"], "a year") },
    expected: [`Pulumi.prod.yaml: mlplatform:noncurrentVersionExpirationDays: ${DAYS}, got "a year"`],
  },
  {
    title: "a retention of true",
    stage: "prod",
    edits: { stack: set(["config", "mlplatform:noncurrentVersionExpirationDays"], true) },
    expected: [`Pulumi.prod.yaml: mlplatform:noncurrentVersionExpirationDays: ${DAYS}, got true`],
  },
  {
    title: "a retention written as a list",
    stage: "prod",
    edits: { stack: set(["config", "mlplatform:noncurrentVersionExpirationDays"], [30]) },
    expected: [`Pulumi.prod.yaml: mlplatform:noncurrentVersionExpirationDays: ${DAYS}, got [30]`],
  },
  {
    title: "a retention in hexadecimal, quoted",
    stage: "prod",
    edits: { stack: set(["config", "mlplatform:noncurrentVersionExpirationDays"], "0x1e") },
    expected: [`Pulumi.prod.yaml: mlplatform:noncurrentVersionExpirationDays: ${DAYS}, got "0x1e"`],
  },
  {
    title: "a retention in exponent notation, quoted",
    stage: "prod",
    edits: { stack: set(["config", "mlplatform:noncurrentVersionExpirationDays"], "1e3") },
    expected: [`Pulumi.prod.yaml: mlplatform:noncurrentVersionExpirationDays: ${DAYS}, got "1e3"`],
  },
  {
    // Pulumi hands the 0 over as the text "0", which the message shows.
    title: "a retention of zero days",
    stage: "prod",
    edits: { stack: set(["config", "mlplatform:noncurrentVersionExpirationDays"], 0) },
    expected: [`Pulumi.prod.yaml: mlplatform:noncurrentVersionExpirationDays: ${DAYS}, got "0"`],
  },

  {
    title: "a stack file that is not YAML",
    stage: "qa",
    edits: { stackText: "config:\n  mlplatform:endpoints: [\n" },
    expected: [/^Pulumi\.qa\.yaml: \(file\): is not valid YAML: \S/],
  },
  {
    title: "an encrypted secret the program cannot read offline",
    stage: "qa",
    edits: { stack: set(["config", "mlplatform:tags"], { secure: "v1:abc" }) },
    expected: ["Pulumi.qa.yaml: mlplatform:tags: is a secret; the offline tools cannot decrypt it and this program reads no secrets"],
  },
];

/** The problem lines of a config error (the first line only says the configuration is invalid). */
function problemLines(message: string): string[] {
  const [head, ...lines] = message.split("\n");
  expect(head).toBe("invalid stack configuration:");
  return lines;
}

describe("a broken stack file", () => {
  it.each(cases)("GIVEN $title WHEN the $stage stack runs THEN it is rejected naming the file and key", async ({ stage, edits, expected }) => {
    const copy = copyProject(stage, edits);
    let registered = 0;
    try {
      // The run rejects only once registrations in flight have settled, so the count is final.
      const error = await runStack(stage, copy.dir, () => { registered += 1; }).then(() => undefined, (e: Error) => e);
      expect(error).toBeInstanceOf(Error);
      const lines = problemLines(error?.message ?? "");
      expect(lines).toHaveLength(expected.length);
      expected.forEach((line, i) => {
        if (typeof line === "string") expect(lines[i]).toBe(line);
        else expect(lines[i]).toMatch(line);
      });
      expect(registered).toBe(0);
    } finally {
      copy.cleanup();
    }
  });

  it("GIVEN several mistakes in one file WHEN the stack runs THEN every mistake is reported at once", async () => {
    const copy = copyProject("prod", {
      stack: (doc) => {
        doc.setIn(endpointPath("churn-scorer", "instanceCount"), 0);
        doc.setIn(endpointPath("doc-embedder", "deployment", "canarySizePercent"), 70);
      },
    });
    try {
      const message = await runStack("prod", copy.dir).then(() => "", (error: Error) => error.message);
      expect(problemLines(message)).toEqual([
        "Pulumi.prod.yaml: mlplatform:endpoints.churn-scorer.instanceCount: must be a whole number of at least 1, got 0",
        "Pulumi.prod.yaml: mlplatform:endpoints.doc-embedder.deployment.canarySizePercent: must be a whole number of percent from 1 to 50, got 70",
      ]);
    } finally {
      copy.cleanup();
    }
  });

  it("GIVEN a stack name that is no stage WHEN it runs THEN the stacks are listed", async () => {
    const copy = copyProject("qa", {});
    try {
      copyFileSync(join(copy.dir, "Pulumi.qa.yaml"), join(copy.dir, "Pulumi.staging.yaml"));
      await expect(runStack("staging", copy.dir)).rejects.toThrow(
        "Pulumi.yaml: mlplatform:stages: has no stack \"staging\" (the stack name); the stacks are the registry and the stages: registry, sandbox, qa, prod");
    } finally {
      copy.cleanup();
    }
  });

  it("GIVEN a config mistake WHEN the program rejects it THEN the error is a RunError, which Pulumi prints without a stack trace", async () => {
    const copy = copyProject("qa", { stack: set(endpointPath("churn-scorer", "instanceCount"), 0) });
    try {
      const error = await runStack("qa", copy.dir).then(() => undefined, (e: Error) => e);
      const pulumi = await import("@pulumi/pulumi");
      expect(pulumi.RunError.isInstance(error)).toBe(true);
    } finally {
      copy.cleanup();
    }
  });
});

describe("values at the edge of what is accepted", () => {
  it("GIVEN a retention of \"30\" in quotes WHEN the stack runs THEN the stage bucket keeps non-current versions 30 days", async () => {
    const copy = copyProject("prod", { stack: set(["config", "mlplatform:noncurrentVersionExpirationDays"], "30") });
    try {
      const run = await runStack("prod", copy.dir);
      const lifecycles = ofType(run.resources, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration");
      expect(lifecycles).toHaveLength(1);
      expect(lifecycles[0].name).toBe("churn-predictor-prod-bucket-lifecycle");
      const [rule] = lifecycles[0].inputs.rules as { noncurrentVersionExpiration: unknown }[];
      expect(rule.noncurrentVersionExpiration).toEqual({ noncurrentDays: 30 });
    } finally {
      copy.cleanup();
    }
  });

  it("GIVEN a modelDataKey that makes the URL exactly 1024 characters WHEN the stack runs THEN the model reads it from the registry bucket", async () => {
    const key = `doc-embedder/${"k".repeat(952)}`;
    const copy = copyProject("sandbox", { stack: set(endpointPath("doc-embedder", "source", "modelDataKey"), key) });
    try {
      const run = await runStack("sandbox", copy.dir);
      const model = ofType(run.resources, "aws:sagemaker/model:Model").find((r) => r.name === "churn-predictor-doc-embedder-model");
      const url = (model?.inputs.primaryContainer as { modelDataUrl?: string } | undefined)?.modelDataUrl;
      expect(url).toBe(`s3://${ARTIFACTS}/${key}`);
      expect(url).toHaveLength(1024);
    } finally {
      copy.cleanup();
    }
  });

  it("GIVEN an imageDigest instead of the imageTag WHEN the stack runs THEN the model pulls that digest from the registry's repository", async () => {
    const copy = copyProject("qa", {
      stack: (doc) => {
        doc.deleteIn(endpointPath("doc-embedder", "source", "imageTag"));
        doc.setIn(endpointPath("doc-embedder", "source", "imageDigest"), DIGEST);
      },
    });
    try {
      const run = await runStack("qa", copy.dir);
      const model = ofType(run.resources, "aws:sagemaker/model:Model").find((r) => r.name === "churn-predictor-doc-embedder-model");
      expect(model?.inputs.primaryContainer).toMatchObject({ image: `${ECR}@${DIGEST}`, modelDataUrl: `s3://${ARTIFACTS}/doc-embedder/v2/model.tar.gz` });
    } finally {
      copy.cleanup();
    }
  });
});

describe("a day-zero stack (no endpoints yet)", () => {
  const ENDPOINT_TYPES = ["aws:sagemaker/endpoint:Endpoint", "aws:sagemaker/endpointConfiguration:EndpointConfiguration", "aws:sagemaker/model:Model"];

  it("GIVEN the registry stack's starter (only the account lock) WHEN it runs THEN it deploys the registry and its roles, and no endpoint", async () => {
    const copy = copyProject("registry", { stackText: "config:\n  aws:allowedAccountIds:\n    - \"404040404041\"\n" });
    try {
      const run = await runStack("registry", copy.dir);
      expect(ofType(run.resources, "mlplatform:account:DeploymentAccount").map((r) => r.name)).toEqual(["churn-predictor-registry"]);
      expect(ofType(run.resources, "mlplatform:registry:RegistryAccount").map((r) => r.name)).toEqual(["churn-predictor-registry"]);
      expect(ofType(run.resources, "aws:sagemaker/modelPackageGroup:ModelPackageGroup").map((r) => r.inputs.modelPackageGroupName).sort())
        .toEqual(["churn-predictor-churn-scorer", "churn-predictor-doc-embedder"]);
      expect(ofType(run.resources, "aws:iam/role:Role").map((r) => r.inputs.name).sort()).toEqual([
        "churn-predictor-registry-approver",
        "churn-predictor-registry-deployer",
        "churn-predictor-registry-previewer",
        "churn-predictor-registry-publisher",
        "churn-predictor-registry-reader",
        "churn-predictor-sagemaker-training",
      ]);
      expect(ofType(run.resources, "aws:s3/bucket:Bucket").map((r) => r.inputs.bucket)).toEqual([ARTIFACTS]);
      for (const type of [...ENDPOINT_TYPES, "mlplatform:sagemaker:BlueGreenEndpoint"]) expect([type, ofType(run.resources, type)]).toEqual([type, []]);
      expect(run.outputs.endpointNames).toEqual({});
    } finally {
      copy.cleanup();
    }
  });

  it("GIVEN the registry stage (sandbox) without an mlplatform:endpoints key WHEN it runs THEN it deploys its own account's bucket, key and roles, no registry and no endpoint", async () => {
    const copy = copyProject("sandbox", { stack: remove(["config", "mlplatform:endpoints"]) });
    try {
      const run = await runStack("sandbox", copy.dir);
      expect(ofType(run.resources, "mlplatform:account:DeploymentAccount").map((r) => r.name)).toEqual(["churn-predictor-sandbox"]);
      expect(ofType(run.resources, "mlplatform:registry:RegistryAccount")).toEqual([]);
      expect(ofType(run.resources, "aws:sagemaker/modelPackageGroup:ModelPackageGroup")).toEqual([]);
      expect(ofType(run.resources, "aws:iam/role:Role").map((r) => r.inputs.name).sort()).toEqual([
        "churn-predictor-sandbox-deployer",
        "churn-predictor-sandbox-previewer",
        "churn-predictor-sandbox-sagemaker-execution",
      ]);
      expect(ofType(run.resources, "aws:s3/bucket:Bucket").map((r) => r.inputs.bucket)).toEqual(["churn-predictor-sandbox-404040404041-ap-southeast-4"]);
      for (const type of [...ENDPOINT_TYPES, "mlplatform:sagemaker:BlueGreenEndpoint"]) expect([type, ofType(run.resources, type)]).toEqual([type, []]);
      expect(run.outputs.endpointNames).toEqual({});
    } finally {
      copy.cleanup();
    }
  });

  it("GIVEN a stage whose endpoints map is empty WHEN it runs THEN it deploys its account and no endpoint", async () => {
    const copy = copyProject("qa", { stack: set(["config", "mlplatform:endpoints"], {}) });
    try {
      const run = await runStack("qa", copy.dir);
      expect(ofType(run.resources, "aws:iam/role:Role").map((r) => r.inputs.name)).toContain("churn-predictor-qa-sagemaker-execution");
      expect(ofType(run.resources, "mlplatform:registry:RegistryAccount")).toEqual([]);
      for (const type of ENDPOINT_TYPES) expect([type, ofType(run.resources, type)]).toEqual([type, []]);
    } finally {
      copy.cleanup();
    }
  });
});

describe("the model package ARN check (the registry tool's; stack files name versions)", () => {
  const expected = { region: "ap-southeast-4", registryAccountId: "404040404041", group: "churn-predictor-churn-scorer" };
  const ARN = "arn:aws:sagemaker:ap-southeast-4:404040404041:model-package/churn-predictor-churn-scorer/7";

  it("GIVEN a version of the group in the registry account and region WHEN checked THEN there is no problem", () => {
    expect(checkModelPackageArn(ARN, expected)).toBeUndefined();
  });

  it.each([
    ["without a version", "arn:aws:sagemaker:ap-southeast-4:404040404041:model-package-group/churn-predictor-churn-scorer",
      "must be a versioned model package ARN arn:aws:sagemaker:<region>:<account>:model-package/<group>/<version>, "
        + "got \"arn:aws:sagemaker:ap-southeast-4:404040404041:model-package-group/churn-predictor-churn-scorer\""],
    ["in another region", ARN.replace("ap-southeast-4", "us-east-1"), "must be in region ap-southeast-4, got us-east-1"],
    ["outside the registry account", ARN.replace("404040404041", "404040404042"), "must be in the registry account 404040404041, got 404040404042"],
    ["of another model's group", ARN.replace("churn-scorer", "doc-embedder"), "must be a version of the group churn-predictor-churn-scorer, got churn-predictor-doc-embedder"],
    ["of version 0", ARN.replace(/\/7$/, "/0"), "must name a version of 1 or more (versions start at 1), got 0"],
  ])("GIVEN an ARN %s WHEN checked THEN the problem is named", (_title, arn, message) => {
    expect(checkModelPackageArn(arn, expected)).toBe(message);
  });

  it("GIVEN a China region WHEN an ARN of the aws partition is checked THEN it must be in aws-cn", () => {
    const china = { ...expected, region: "cn-north-1" };
    expect(checkModelPackageArn("arn:aws:sagemaker:cn-north-1:404040404041:model-package/churn-predictor-churn-scorer/7", china))
      .toBe("must be in partition aws-cn (region cn-north-1), got aws");
    expect(checkModelPackageArn("arn:aws-cn:sagemaker:cn-north-1:404040404041:model-package/churn-predictor-churn-scorer/7", china)).toBeUndefined();
  });
});
