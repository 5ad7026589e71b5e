import { MlServiceProject } from "./projen";

/**
 * The one place a new ML service edits: its name, region, stages and their accounts.
 * Everything derived from these (Pulumi.yaml project config, per-stage tasks) follows from them.
 * Stage values (instance types, model versions, strategies) live in Pulumi.<stage>.yaml.
 */
const project = new MlServiceProject({
  serviceName: "fraud-detection",
  region: "eu-west-1",
  stages: [
    { name: "sandbox", accountId: "111111111111" },
    { name: "qa", accountId: "222222222222" },
    { name: "prod", accountId: "333333333333" },
  ],
  registryStage: "sandbox",
  models: ["fraud-scorer", "txn-embedder"],
  ecrRepository: true,
  ciPrincipal: { type: "github-oidc", repository: "example-org/fraud-detection" },
  // The training pipeline registers from its retrain workflow; people approve with their SSO permission set.
  publishers: [{ github: { environment: "registry-publish", workflow: "retrain.yml" } }],
  approvers: [{ roleArn: "arn:aws:iam::111111111111:role/aws-reserved/sso.amazonaws.com/eu-west-1/AWSReservedSSO_MLModelApprover_*" }],
  // The retraining loop (retraining.yaml) runs monthly as the publisher, from retrain.yml.
  retraining: { cadence: "monthly" },
  // Where `pulumi login` keeps the stacks' state, and the key of the awskms:// secrets provider.
  stateBackend: { bucket: "example-org-pulumi-state", accountId: "111111111111", secretsKeyAlias: "alias/pulumi-secrets" },
});

project.synth();
