import * as pulumi from "@pulumi/pulumi";
import type { MockResourceArgs } from "@pulumi/pulumi/runtime/mocks";
import * as runtimeSettings from "@pulumi/pulumi/runtime/settings";
import { readProjectFile, readStackConfigFiles } from "./config/files";
import { runProgram, type StackOutputs } from "./program";

/** One resource the program registered, as the engine would have seen it. */
export interface RegisteredResource {
  readonly urn: string;
  readonly type: string;
  /** Logical name. */
  readonly name: string;
  /** URN of the parent component, or undefined for the stack's direct children. */
  readonly parent: string | undefined;
  /** Reference of the explicit provider (`urn::id`), for custom resources. */
  readonly provider: string | undefined;
  /** True for cloud resources, false for components. */
  readonly custom: boolean;
  readonly inputs: Record<string, unknown>;
  /** Inputs the program asks Pulumi to leave as they are once created (the `ignoreChanges` option). */
  readonly ignoreChanges: readonly string[];
}

/** What a mock returns for a new resource: its id and output state. */
/** Computes a new resource's id and output state; `ignoreChanges` are the inputs Pulumi leaves as created. */
export type ResourceResolver = (args: MockResourceArgs, ignoreChanges: readonly string[]) => { id: string; state: Record<string, unknown> };

/** The default resolver: id from the name, state echoing the inputs. */
export const echoInputs: ResourceResolver = (args) => ({ id: `${args.name}-id`, state: { ...args.inputs } });

export interface OfflineRunOptions {
  /** Pulumi project name (Pulumi.yaml `name`). */
  readonly project: string;
  /** Stack (stage) name. */
  readonly stage: string;
  /** Config as Pulumi hands it to the program (`namespace:key` to string). */
  readonly config: Readonly<Record<string, string>>;
  /**
   * Computes ids and output state of new resources.
   * @default - id "<name>-id", state echoes the inputs
   */
  readonly resolve?: ResourceResolver;
}

export interface OfflineRun {
  readonly resources: RegisteredResource[];
  readonly outputs: StackOutputs;
}

interface MonitorRequest {
  getType(): string;
  getName(): string;
  getParent(): string;
  getIgnorechangesList(): string[];
}

/**
 * Runs the real program for one stack under Pulumi's mock runtime: no engine, no provider plugin,
 * no credentials. Returns every registered resource with its parent and inputs once all
 * registrations have settled. Config errors surface as the same RunError `pulumi up` would show.
 */
export async function runStackOffline(options: OfflineRunOptions): Promise<OfflineRun> {
  const resolve = options.resolve ?? echoInputs;
  const resources: RegisteredResource[] = [];
  const parents = new Map<string, string>();
  const ignored = new Map<string, string[]>();
  await pulumi.runtime.setMocks({
    newResource: (args) => {
      const parent = parents.get(`${args.type}::${args.name}`) || undefined;
      resources.push({
        urn: urnOf(options, parent, args.type, args.name),
        type: args.type,
        name: args.name,
        parent,
        provider: args.provider || undefined,
        custom: args.custom ?? false,
        inputs: args.inputs,
        ignoreChanges: ignored.get(`${args.type}::${args.name}`) ?? [],
      });
      return resolve(args, ignored.get(`${args.type}::${args.name}`) ?? []);
    },
    call: () => ({}),
  }, options.project, options.stage, false);
  // The mock monitor does not pass the parent or the ignored inputs to newResource; read them off the request.
  const monitor = pulumi.runtime.getMonitor() as unknown as { registerResource(req: MonitorRequest, cb: unknown): Promise<void> };
  const register = monitor.registerResource.bind(monitor);
  monitor.registerResource = (req, cb) => {
    parents.set(`${req.getType()}::${req.getName()}`, req.getParent());
    ignored.set(`${req.getType()}::${req.getName()}`, req.getIgnorechangesList());
    return register(req, cb);
  };
  pulumi.runtime.setAllConfig({ ...options.config });

  let outputs: StackOutputs;
  try {
    outputs = runProgram();
    await waitForRegistrations();
  } catch (error) {
    // Registrations the program started before it threw are still in flight: let them settle, so
    // the caller sees every resource and the next run's mocks get none of them.
    await waitForRegistrations().catch(() => {});
    throw error;
  }
  return { resources, outputs };
}

/**
 * Runs one stack from the stack files in a project directory, as `pulumi up -s <stage>` would read
 * them; the project name is Pulumi.yaml's `name`.
 */
export async function runStackFromFiles(projectDir: string, stage: string, resolve?: ResourceResolver): Promise<OfflineRun> {
  const config = readStackConfigFiles(projectDir, stage);
  return runStackOffline({ project: String(readProjectFile(projectDir).name), stage, config, resolve });
}

/** Resolves once the runtime has no registration in flight. */
export async function waitForRegistrations(): Promise<void> {
  // waitForRPCs is the runtime's own "queue drained" signal (used by pulumi before it exits); it is
  // internal, so not in the type definitions.
  await (runtimeSettings as unknown as { waitForRPCs(): Promise<void> }).waitForRPCs();
}

/** The URN the engine gives a resource: the parent's type chain, then its own type and name. */
function urnOf(options: OfflineRunOptions, parent: string | undefined, type: string, name: string): string {
  const qualified = parent ? `${parent.split("::")[2]}$${type}` : type;
  return `urn:pulumi:${options.stage}::${options.project}::${qualified}::${name}`;
}
