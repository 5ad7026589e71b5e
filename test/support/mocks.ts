import * as pulumi from "@pulumi/pulumi";

/**
 * Pulumi mocks that record every registered resource, for component and stack tests.
 *
 * Usage: `const resources = await recordResources();` in `beforeAll`, then import the code under
 * test (after the mocks are set), and `resources.length = 0` in `beforeEach` when tests must not
 * see each other's resources. No provider runs: there is no auto-naming, no name validation and
 * no replacement logic (DESIGN §5.9); a resource's state is its inputs.
 */

/** One registered resource: components and custom resources alike. */
export interface RecordedResource {
  readonly type: string;
  readonly name: string;
  readonly inputs: Record<string, any>;
  readonly custom: boolean;
}

/** Installs the mocks and returns the live list of resources they record, in registration order. */
export async function recordResources(): Promise<RecordedResource[]> {
  const resources: RecordedResource[] = [];
  await pulumi.runtime.setMocks({
    newResource: (args: pulumi.runtime.MockResourceArgs) => {
      resources.push({ type: args.type, name: args.name, inputs: args.inputs, custom: args.custom ?? false });
      return { id: `${args.name}-id`, state: args.inputs };
    },
    call: () => ({}),
  }, "project", "stack", false);
  return resources;
}

/** The resources of one type, in registration order (of any list of resources, such as an offline run's). */
export function ofType<R extends RecordedResource>(resources: readonly R[], type: string): R[] {
  return resources.filter((r) => r.type === type);
}

/** The only resource of a type; fails when there are none or several. */
export function onlyOfType(resources: readonly RecordedResource[], type: string): RecordedResource {
  const found = ofType(resources, type);
  if (found.length !== 1) {
    throw new Error(`expected exactly one ${type}, found ${found.length}: ${found.map((r) => r.name).join(", ")}`);
  }
  return found[0];
}

/** The value of an output, once known. */
export function valueOf<T>(output: pulumi.Output<T>): Promise<T> {
  return new Promise((resolve) => output.apply((value) => {
    resolve(value);
    return value;
  }));
}

/** The message of the pulumi.ResourceError a component's constructor throws; fails when it does not throw. */
export function resourceErrorOf(construct: () => unknown): string {
  try {
    construct();
  } catch (error) {
    expect(error).toBeInstanceOf(pulumi.ResourceError);
    return (error as Error).message;
  }
  throw new Error("expected the constructor to throw");
}
