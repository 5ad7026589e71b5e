import * as pulumi from "@pulumi/pulumi";
import * as settings from "@pulumi/pulumi/runtime/settings";
import type { RecordedResource } from "./mocks";

/**
 * Pulumi mocks for the account components (registry, deployment, bucket, key): like
 * `recordResources` in ./mocks, but each resource's state also holds the outputs those components
 * read back from their children (`arn`, a KMS key's `keyId`, an ECR repository's `repositoryUrl`),
 * so a policy built from another resource's ARN names a known value instead of `undefined`.
 *
 * Usage: `const resources = await recordAccountResources();` in `beforeAll`, then import the
 * component (after the mocks are set); build it inside `recordDuring(resources, () => ...)` and
 * read what it returns (or build it, `await settled()`, and read `resources`).
 */

/** The ARN the mocks give the resource of this logical name. */
export function mockArn(name: string): string {
  return `arn:aws:mock:::${name}`;
}

/** The key id the mocks give the KMS key of this logical name. */
export function mockKeyId(name: string): string {
  return `${name}-key-id`;
}

function providerOutputs(args: pulumi.runtime.MockResourceArgs): Record<string, unknown> {
  const outputs: Record<string, unknown> = { arn: mockArn(args.name) };
  if (args.type === "aws:kms/key:Key") outputs.keyId = mockKeyId(args.name);
  if (args.type === "aws:ecr/repository:Repository") outputs.repositoryUrl = `mock.dkr.ecr.amazonaws.com/${args.inputs.name}`;
  return outputs;
}

/** Installs the mocks and returns the live list of resources they record, in registration order. */
export async function recordAccountResources(): Promise<RecordedResource[]> {
  const resources: RecordedResource[] = [];
  await pulumi.runtime.setMocks({
    newResource: (args: pulumi.runtime.MockResourceArgs) => {
      resources.push({ type: args.type, name: args.name, inputs: args.inputs, custom: args.custom ?? false });
      return { id: `${args.name}-id`, state: { ...args.inputs, ...providerOutputs(args) } };
    },
    call: () => ({}),
  }, "project", "stack", false);
  return resources;
}

/**
 * Waits until every registration started so far has reached the mocks, including children that
 * wait on another resource's outputs (a role policy waits for its role's name). Pulumi drains the
 * same queue before it disconnects; it is not part of the typed API, so fail loudly if it moves.
 */
export async function settled(): Promise<void> {
  const waitForRPCs = (settings as unknown as { waitForRPCs?: () => Promise<void> }).waitForRPCs;
  if (typeof waitForRPCs !== "function") {
    throw new Error("@pulumi/pulumi/runtime/settings no longer exports waitForRPCs: update test/support/resources.ts");
  }
  await waitForRPCs();
}

/**
 * Runs `construct` against an emptied `resources` (the live list the mocks fill) and returns its
 * result with every resource it registered. Earlier registrations settle first so none leak in,
 * and children that wait on another resource's outputs settle before the copy is taken.
 */
export async function recordDuring<T>(
  resources: RecordedResource[],
  construct: () => T,
): Promise<{ result: T; recorded: RecordedResource[] }> {
  await settled();
  resources.length = 0;
  const result = construct();
  await settled();
  return { result, recorded: [...resources] };
}

/** A resource's JSON policy input (`policy`, `assumeRolePolicy`, `resourcePolicy`), parsed. */
export function policyInput(resource: RecordedResource, input = "policy"): any {
  const value = resource.inputs[input];
  if (typeof value !== "string") throw new Error(`${resource.name}: input ${input} is not a JSON string: ${JSON.stringify(value)}`);
  return JSON.parse(value);
}
