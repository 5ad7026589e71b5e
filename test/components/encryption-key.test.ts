import * as pulumi from "@pulumi/pulumi";
import type * as component from "../../components/encryption-key";
import { stageKeyPolicy } from "../../components/policies";
import { FIXTURE } from "../fixtures/service";
import { ofType, onlyOfType, RecordedResource, valueOf, resourceErrorOf } from "../support/mocks";
import { mockArn, mockKeyId, policyInput, recordAccountResources, recordDuring } from "../support/resources";

const NAME = "stage-key";
const ACCOUNT = { accountId: FIXTURE.accounts.qa, region: FIXTURE.region };
const T = { key: "aws:kms/key:Key", alias: "aws:kms/alias:Alias" };

const baseArgs: component.EncryptionKeyArgs = {
  alias: "alias/churn-predictor-qa",
  description: "churn-predictor qa: bucket and endpoint storage",
  policy: stageKeyPolicy(ACCOUNT),
};

let resources: RecordedResource[];
let mod: typeof component;

beforeAll(async () => {
  resources = await recordAccountResources();
  mod = await import("../../components/encryption-key");
});

/** Builds the key and returns what it registered. */
async function build(overrides: Partial<component.EncryptionKeyArgs> = {}) {
  const { result: key, recorded } = await recordDuring(resources, () => new mod.EncryptionKey(NAME, { ...baseArgs, ...overrides }));
  return { key, recorded, kmsKey: onlyOfType(recorded, T.key), alias: onlyOfType(recorded, T.alias) };
}

/** The message of the error the constructor throws. */
function rejection(overrides: Partial<component.EncryptionKeyArgs>): string {
  return resourceErrorOf(() => new mod.EncryptionKey("rejected-key", { ...baseArgs, ...overrides }));
}

describe("EncryptionKey resources", () => {
  test("GIVEN a key WHEN built THEN the component registers under its type token with one key and one alias", async () => {
    const { recorded } = await build();
    expect(ofType(recorded, "mlplatform:kms:EncryptionKey").map((r) => r.name)).toEqual([NAME]);
    expect(ofType(recorded, T.key)).toHaveLength(1);
    expect(ofType(recorded, T.alias)).toHaveLength(1);
  });

  test("GIVEN a key WHEN built THEN automatic key rotation is on", async () => {
    const { kmsKey } = await build();
    expect(kmsKey.inputs.enableKeyRotation).toBe(true);
  });

  test("GIVEN a policy WHEN built THEN the key policy is exactly that document", async () => {
    const { kmsKey } = await build();
    expect(policyInput(kmsKey)).toEqual(stageKeyPolicy(ACCOUNT));
  });

  test("GIVEN a description WHEN built THEN the key carries it", async () => {
    const { kmsKey } = await build();
    expect(kmsKey.inputs.description).toBe(baseArgs.description);
  });

  test("GIVEN no deletion window WHEN built THEN the key keeps the default 30 days", async () => {
    const { kmsKey } = await build();
    expect(kmsKey.inputs.deletionWindowInDays).toBe(30);
  });

  test("GIVEN a deletion window of 7 days WHEN built THEN the key uses it", async () => {
    const { kmsKey } = await build({ deletionWindowDays: 7 });
    expect(kmsKey.inputs.deletionWindowInDays).toBe(7);
  });

  test("GIVEN an alias WHEN built THEN the alias has that name and targets the key", async () => {
    const { kmsKey, alias } = await build();
    expect(alias.inputs.name).toBe("alias/churn-predictor-qa");
    expect(alias.inputs.targetKeyId).toBe(mockKeyId(kmsKey.name));
  });

  test("GIVEN tags WHEN built THEN the key carries them", async () => {
    const { kmsKey } = await build({ tags: { team: "ml" } });
    expect(kmsKey.inputs.tags).toEqual({ team: "ml" });
  });

  test("GIVEN a key WHEN built THEN it exposes the key ARN, key id and alias name", async () => {
    const { key, kmsKey } = await build();
    expect(await valueOf(pulumi.all([key.keyArn, key.keyId, key.aliasName])))
      .toEqual([mockArn(kmsKey.name), mockKeyId(kmsKey.name), "alias/churn-predictor-qa"]);
  });
});

describe("EncryptionKey checks", () => {
  test.each([
    ["no alias/ prefix", "churn-predictor-qa"],
    ["an empty name", "alias/"],
    ["a dot", "alias/fraud.qa"],
    ["a space", "alias/fraud qa"],
  ])("GIVEN an alias with %s WHEN built THEN it throws naming alias", (_, alias) => {
    expect(rejection({ alias })).toContain(
      `rejected-key: alias must be alias/<name> of letters, digits, / _ - and not under alias/aws/, got "${alias}"`);
  });

  test("GIVEN an alias under alias/aws/ WHEN built THEN it throws naming alias", () => {
    expect(rejection({ alias: "alias/aws/s3" })).toContain('alias must be alias/<name> of letters, digits, / _ - and not under alias/aws/, got "alias/aws/s3"');
  });

  test.each([6, 31, 10.5])("GIVEN a deletion window of %p days WHEN built THEN it throws naming deletionWindowDays", (days) => {
    expect(rejection({ deletionWindowDays: days })).toContain(`rejected-key: deletionWindowDays must be a whole number from 7 to 30, got ${days}`);
  });

  test("GIVEN a bad alias and a bad deletion window WHEN built THEN one error names both fields", () => {
    const message = rejection({ alias: "bad", deletionWindowDays: 0 });
    expect(message).toContain("alias must be");
    expect(message).toContain("deletionWindowDays must be");
  });

  test("GIVEN a bad alias WHEN built THEN no KMS resource is registered", async () => {
    const { recorded } = await recordDuring(resources, () => rejection({ alias: "bad" }));
    expect(recorded.filter((r) => r.custom)).toEqual([]);
  });
});
