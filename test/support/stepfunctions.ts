import { createRequire } from "node:module";
import { ExecutionError, StateMachine } from "aws-local-stepfunctions";
import { APPROVAL_REJECTED_ERROR, type CanaryMessage } from "../../components/canary-contract";
import type { StateMachineDefinition } from "../../components/canary-state-machine";

/**
 * Runs a state machine definition in-process with aws-local-stepfunctions (DESIGN §9), its AWS
 * tasks answered by FakeAws: a little SageMaker (models, endpoint configs, endpoints that take a
 * few DescribeEndpoint looks to update), Application Auto Scaling, CloudWatch alarms and SNS, that
 * records every call and refuses what the real services refuse. Waits and retry pauses take no time.
 *
 * The library's assumptions this module relies on (each one used by the executions of
 * test/components/canary-state-machine.test.ts): on Node 20 it needs Promise.withResolvers (polyfilled
 * here); a local handler replaces a Task's call and gets its effective parameters; an Error thrown by a
 * handler is caught by its `name` (as a Step Functions error name) with its message as the cause; a
 * Task's TimeoutSeconds runs in real time; payloads must be plain objects of the test's realm (jsonCopy); Fail states throw an ExecutionError whose `cause` holds
 * the Error and Cause. Intrinsic string results lose their backslashes there (not in AWS), so the
 * fake's messages carry none.
 */

/** asl-validator's one function (the package ships no type declarations). */
type AslValidator = (definition: unknown) => { readonly isValid: boolean; readonly errorsText: (separator?: string) => string };
const aslValidator = createRequire(__filename)("asl-validator") as AslValidator;

/** What asl-validator finds wrong with a definition, one line each ("" when valid). It is given a copy: it adds QueryLanguage to every state. */
export function aslErrors(definition: StateMachineDefinition): string {
  const { isValid, errorsText } = aslValidator(jsonCopy(definition));
  return isValid ? "" : errorsText("\n");
}

// Node 20 lacks Promise.withResolvers, which aws-local-stepfunctions 3.0 calls for every Task.
const promiseStatics = Promise as unknown as { withResolvers?: () => unknown };
if (typeof promiseStatics.withResolvers !== "function") {
  promiseStatics.withResolvers = () => {
    let resolve!: (value: unknown) => void;
    let reject!: (reason: unknown) => void;
    const promise = new Promise((res, rej) => {
      resolve = res;
      reject = rej;
    });
    return { promise, resolve, reject };
  };
}

/**
 * A copy made of this realm's objects. The library tests payload objects with
 * `Object.getPrototypeOf(value) === Object.prototype`, so objects from Node's structuredClone (another
 * realm under jest) would pass through its templates unresolved.
 */
export function jsonCopy<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

/** An error as a Step Functions SDK integration reports it: `name` is the error, `message` the cause. */
export class TaskError extends Error {
  constructor(name: string, cause: string) {
    super(cause);
    this.name = name;
  }
}

/** A production variant as CreateEndpointConfig takes it and DescribeEndpointConfig returns it. */
export interface Variant {
  readonly VariantName: string;
  readonly ModelName: string;
  readonly InstanceType: string;
  readonly InitialInstanceCount: number;
  readonly InitialVariantWeight: number;
  readonly [field: string]: unknown;
}

/** How the next CreateEndpoint or UpdateEndpoint ends: after `looks` DescribeEndpoint calls. */
export interface UpdatePlan {
  readonly looks: number;
  /** InService on the new config, Failed, or back InService on the previous config (SageMaker's own revert). */
  readonly outcome: "InService" | "Failed" | "Reverted";
  readonly failureReason?: string;
}

interface Endpoint {
  status: string;
  configName: string;
  failureReason?: string;
  pending?: { readonly configName: string; looksLeft: number; readonly plan: UpdatePlan };
}

/** One call the state machine made: the IAM action and its parameters. */
export interface Call {
  readonly action: string;
  readonly input: Record<string, any>;
}

/** What a person does with an approval request. */
export type ApprovalAnswer = { readonly approve: true } | { readonly approve: false; readonly cause: string } | "never";

const IN_PROGRESS = new Set(["Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting"]);
const DEFAULT_PLAN: UpdatePlan = { looks: 2, outcome: "InService" };

/** The AWS side of an execution: state, refusals and a record of the calls. */
export class FakeAws {
  readonly calls: Call[] = [];
  readonly models = new Map<string, Record<string, any>>();
  readonly configs = new Map<string, { readonly variants: Variant[]; readonly kmsKeyId?: string }>();
  readonly endpoints = new Map<string, Endpoint>();
  /** Alarm name to state (OK, ALARM, INSUFFICIENT_DATA). */
  readonly alarms = new Map<string, string>();
  /** Scalable targets by resource id. */
  readonly targets = new Map<string, { readonly min: number; readonly max: number }>();
  /** Scaling policies by resource id, then policy name. */
  readonly policies = new Map<string, Map<string, Record<string, any>>>();
  readonly published: { readonly subject?: string; readonly message: CanaryMessage; readonly kind?: string }[] = [];
  /** How the coming CreateEndpoint and UpdateEndpoint calls end, in order; then DEFAULT_PLAN. */
  readonly plans: UpdatePlan[] = [];
  /** Called before the n-th call (from 1) of an action, to change the world mid-execution. */
  readonly before = new Map<string, (n: number) => void>();
  approval: ApprovalAnswer = { approve: true };

  private readonly handlers: Record<string, (input: Record<string, any>) => unknown> = {
    "sagemaker:CreateModel": (input) => {
      if (this.models.has(input.ModelName)) this.refuse(`Cannot create already existing model "${this.arn("model", input.ModelName)}".`);
      if (input.ExecutionRoleArn === undefined || input.PrimaryContainer?.ModelPackageName === undefined) this.refuse("a model needs a role and a container");
      this.models.set(input.ModelName, input);
      return { ModelArn: this.arn("model", input.ModelName) };
    },
    "sagemaker:CreateEndpointConfig": (input) => {
      const name: string = input.EndpointConfigName;
      const variants: Variant[] = input.ProductionVariants;
      if (this.configs.has(name)) this.refuse(`Cannot create already existing endpoint configuration "${this.arn("endpoint-config", name)}".`);
      if (!Array.isArray(variants) || variants.length < 1 || variants.length > 10) this.refuse("ProductionVariants must hold 1-10 variants");
      if (new Set(variants.map((v) => v.VariantName)).size !== variants.length) this.refuse("variant names must be unique");
      for (const v of variants) {
        if (!this.models.has(v.ModelName)) this.refuse(`Could not find model "${this.arn("model", v.ModelName)}".`);
        if (typeof v.InstanceType !== "string" || !Number.isInteger(v.InitialInstanceCount) || v.InitialInstanceCount < 1) this.refuse("an instance variant needs InstanceType and InitialInstanceCount >= 1");
        // A weight of 0 is legal (the variant takes no traffic but keeps its instances).
        if (typeof v.InitialVariantWeight !== "number" || v.InitialVariantWeight < 0) this.refuse("InitialVariantWeight must be >= 0");
      }
      this.configs.set(name, { variants: jsonCopy(variants), kmsKeyId: input.KmsKeyId });
      return { EndpointConfigArn: this.arn("endpoint-config", name) };
    },
    "sagemaker:CreateEndpoint": (input) => {
      if (this.endpoints.has(input.EndpointName)) this.refuse(`Cannot create already existing endpoint "${this.arn("endpoint", input.EndpointName)}".`);
      this.config(input.EndpointConfigName);
      this.endpoints.set(input.EndpointName, { status: "Creating", configName: "", pending: this.pending(input.EndpointConfigName) });
      return { EndpointArn: this.arn("endpoint", input.EndpointName) };
    },
    "sagemaker:DescribeEndpoint": (input) => {
      const endpoint = this.endpoint(input.EndpointName);
      this.advance(endpoint);
      return {
        EndpointName: input.EndpointName,
        EndpointArn: this.arn("endpoint", input.EndpointName),
        EndpointStatus: endpoint.status,
        ...endpoint.configName === "" ? {} : { EndpointConfigName: endpoint.configName },
        ...endpoint.failureReason === undefined ? {} : { FailureReason: endpoint.failureReason },
        ProductionVariants: (this.configs.get(endpoint.configName)?.variants ?? []).map((v) => ({
          VariantName: v.VariantName, CurrentInstanceCount: v.InitialInstanceCount, CurrentWeight: v.InitialVariantWeight,
        })),
      };
    },
    "sagemaker:DescribeEndpointConfig": (input) => {
      const config = this.config(input.EndpointConfigName);
      return {
        EndpointConfigName: input.EndpointConfigName,
        ProductionVariants: jsonCopy(config.variants),
        ...config.kmsKeyId === undefined ? {} : { KmsKeyId: config.kmsKeyId },
      };
    },
    "sagemaker:UpdateEndpoint": (input) => {
      const endpoint = this.endpoint(input.EndpointName);
      if (IN_PROGRESS.has(endpoint.status)) this.refuse(`Cannot update in-progress endpoint "${this.arn("endpoint", input.EndpointName)}".`);
      const next = this.config(input.EndpointConfigName).variants;
      const current = this.configs.get(endpoint.configName)?.variants ?? [];
      const blocked = current.filter((v) => this.targets.has(`endpoint/${input.EndpointName}/variant/${v.VariantName}`))
        .filter((v) => next.find((n) => n.VariantName === v.VariantName)?.InstanceType !== v.InstanceType);
      if (blocked.length > 0) {
        this.refuse(`The variant(s) [${blocked.map((v) => v.VariantName).join(", ")}] must be deregistered as scalable targets with AWS Application `
          + "Auto Scaling before they can be removed or have their instance type updated.");
      }
      endpoint.status = "Updating";
      endpoint.failureReason = undefined;
      endpoint.pending = this.pending(input.EndpointConfigName);
      return { EndpointArn: this.arn("endpoint", input.EndpointName) };
    },
    "application-autoscaling:DescribeScalableTargets": (input) => ({
      ScalableTargets: (input.ResourceIds as string[]).filter((id) => this.targets.has(id)).map((id) => ({
        ServiceNamespace: input.ServiceNamespace,
        ResourceId: id,
        ScalableDimension: input.ScalableDimension,
        MinCapacity: this.targets.get(id)?.min,
        MaxCapacity: this.targets.get(id)?.max,
      })),
    }),
    "application-autoscaling:RegisterScalableTarget": (input) => {
      const [, endpointName, , variantName] = String(input.ResourceId).split("/");
      const endpoint = this.endpoints.get(endpointName);
      const served = this.served(endpointName) ?? [];
      if (endpoint?.status !== "InService" || !served.some((v) => v.VariantName === variantName)) {
        throw new TaskError("ApplicationAutoScaling.ValidationException", `The target ${input.ResourceId} does not exist or is not InService.`);
      }
      this.targets.set(input.ResourceId, { min: input.MinCapacity, max: input.MaxCapacity });
      return {};
    },
    "application-autoscaling:DeregisterScalableTarget": (input) => {
      if (!this.targets.delete(input.ResourceId)) throw new TaskError("ApplicationAutoScaling.ObjectNotFoundException", `No scalable target for ${input.ResourceId}.`);
      this.policies.delete(input.ResourceId);
      return {};
    },
    "application-autoscaling:PutScalingPolicy": (input) => {
      if (!this.targets.has(input.ResourceId)) throw new TaskError("ApplicationAutoScaling.ObjectNotFoundException", `No scalable target for ${input.ResourceId}.`);
      const policies = this.policies.get(input.ResourceId) ?? new Map<string, Record<string, any>>();
      policies.set(input.PolicyName, input);
      this.policies.set(input.ResourceId, policies);
      return { PolicyARN: `arn:aws:autoscaling:${this.account.region}:${this.account.accountId}:scalingPolicy:${input.PolicyName}` };
    },
    "cloudwatch:DescribeAlarms": (input) => ({
      MetricAlarms: (input.AlarmNames as string[]).filter((name) => this.alarms.has(name))
        .map((name) => ({ AlarmName: name, StateValue: this.alarms.get(name) }))
        .filter((alarm) => input.StateValue === undefined || alarm.StateValue === input.StateValue),
      CompositeAlarms: [],
    }),
    "sns:Publish": (input) => {
      this.publish(input);
      return { MessageId: `message-${this.published.length}` };
    },
    "sns:Publish.waitForTaskToken": (input) => {
      this.publish(input);
      const answer = this.approval;
      if (answer === "never") return new Promise(() => undefined);
      if (!answer.approve) throw new TaskError(APPROVAL_REJECTED_ERROR, answer.cause);
      return { approved: true };
    },
  };

  constructor(readonly account: { readonly accountId: string; readonly region: string }, readonly topicArn: string) {}


  /** An existing endpoint, InService on a single-variant config of an existing model. */
  withEndpoint(name: string, configName: string, variant: Variant, status = "InService"): this {
    this.models.set(variant.ModelName, {});
    this.configs.set(configName, { variants: [variant] });
    this.endpoints.set(name, { status, configName });
    return this;
  }

  /** The variants of the config an endpoint serves. */
  served(endpointName: string): Variant[] | undefined {
    const endpoint = this.endpoints.get(endpointName);
    return endpoint === undefined ? undefined : this.configs.get(endpoint.configName)?.variants;
  }

  /** The calls of one action, in order. */
  callsOf(action: string): Call[] {
    return this.calls.filter((c) => c.action === action);
  }

  /** Answers a Task state's call of `resource` with `input` (its effective parameters). */
  async handle(resource: string, input: Record<string, any>): Promise<unknown> {
    const action = actionOf(resource);
    this.calls.push({ action, input });
    this.before.get(action)?.(this.callsOf(action).length);
    const handler = this.handlers[action];
    if (handler === undefined) throw new Error(`FakeAws does not answer ${action}`);
    return handler(input);
  }

  private publish(input: Record<string, any>): void {
    if (input.TopicArn !== this.topicArn) throw new TaskError("SNS.NotFoundException", `Topic does not exist: ${input.TopicArn}`);
    if (typeof input.Subject === "string" && input.Subject.length > 100) throw new TaskError("SNS.InvalidParameterException", "Subject must be at most 100 characters");
    // Step Functions' SNS integration serialises a JSON Message to text; SNS takes text only.
    const text = typeof input.Message === "string" ? input.Message : JSON.stringify(input.Message);
    this.published.push({ subject: input.Subject, message: JSON.parse(text) as CanaryMessage, kind: input.MessageAttributes?.kind?.StringValue });
  }

  private pending(configName: string): Endpoint["pending"] {
    const plan = this.plans.shift() ?? DEFAULT_PLAN;
    return { configName, looksLeft: plan.looks, plan };
  }

  /** One DescribeEndpoint look: an update in progress comes one look closer to its end. */
  private advance(endpoint: Endpoint): void {
    const pending = endpoint.pending;
    if (pending === undefined) return;
    pending.looksLeft -= 1;
    if (pending.looksLeft > 0) return;
    endpoint.pending = undefined;
    if (pending.plan.outcome === "InService") {
      endpoint.status = "InService";
      endpoint.configName = pending.configName;
    } else {
      endpoint.status = pending.plan.outcome === "Failed" || endpoint.configName === "" ? "Failed" : "InService";
      endpoint.failureReason = pending.plan.failureReason;
    }
  }

  private endpoint(name: string): Endpoint {
    const endpoint = this.endpoints.get(name);
    if (endpoint === undefined) this.refuse(`Could not find endpoint "${this.arn("endpoint", name)}".`);
    return endpoint;
  }

  private config(name: string): { readonly variants: Variant[]; readonly kmsKeyId?: string } {
    const config = this.configs.get(name);
    if (config === undefined) this.refuse(`Could not find endpoint configuration "${this.arn("endpoint-config", name)}".`);
    return config;
  }

  private arn(type: string, name: string): string {
    return `arn:aws:sagemaker:${this.account.region}:${this.account.accountId}:${type}/${name.toLowerCase()}`;
  }

  /** SageMaker's unmodelled errors (validation, refusals) as the SDK integration reports them (DESIGN §9). */
  private refuse(message: string): never {
    throw new TaskError("SageMaker.AmazonSageMakerException", `${message} (Service: SageMaker, Status Code: 400, Error Code: ValidationException)`);
  }
}

/** The IAM action of a Task resource: `arn:aws:states:::aws-sdk:sagemaker:updateEndpoint` is sagemaker:UpdateEndpoint. */
function actionOf(resource: string): string {
  const sdk = /:aws-sdk:([a-z0-9]+):(\w+)$/.exec(resource);
  if (sdk !== null) {
    const service = sdk[1] === "applicationautoscaling" ? "application-autoscaling" : sdk[1];
    return `${service}:${sdk[2][0].toUpperCase()}${sdk[2].slice(1)}`;
  }
  if (resource.endsWith(":sns:publish")) return "sns:Publish";
  if (resource.endsWith(":sns:publish.waitForTaskToken")) return "sns:Publish.waitForTaskToken";
  throw new Error(`FakeAws does not know resource ${resource}`);
}

/** How an execution ended, and the states it entered in order. */
export interface Execution {
  readonly status: "SUCCEEDED" | "FAILED";
  readonly output?: unknown;
  readonly error?: string;
  readonly cause?: string;
  readonly states: string[];
}

/** What the Context Object gives the execution. */
export const EXECUTION_CONTEXT = {
  executionArn: "arn:aws:states:ap-southeast-4:404040404043:execution:canary-deployer:v7-20261201t173000",
  taskToken: "task-token-of-the-approval",
} as const;

const machines = new Map<string, StateMachine>();

/** Runs `definition` on `input` against `aws`, with every Wait and retry pause at 0 ms. */
export async function execute(definition: StateMachineDefinition, input: object, aws: FakeAws): Promise<Execution> {
  const states = Object.entries(definition.States);
  const key = JSON.stringify(definition);
  // Constructing validates the definition (asl-validator compiles its schemas each time): once per definition.
  const machine = machines.get(key) ?? new StateMachine(jsonCopy(definition) as never);
  machines.set(key, machine);
  const run = machine.run(jsonCopy(input) as never, {
    overrides: {
      taskResourceLocalHandlers: Object.fromEntries(states.filter(([, s]) => s.Type === "Task")
        .map(([name, s]) => [name, (taskInput: unknown) => aws.handle(String(s.Resource), taskInput as Record<string, any>) as never])),
      waitTimeOverrides: Object.fromEntries(states.filter(([, s]) => s.Type === "Wait").map(([name]) => [name, 0])),
      retryIntervalOverrides: Object.fromEntries(states.filter(([, s]) => "Retry" in s).map(([name]) => [name, 0])),
    },
    context: { Execution: { Id: EXECUTION_CONTEXT.executionArn }, Task: { Token: EXECUTION_CONTEXT.taskToken } },
  });
  const entered: string[] = [];
  const logging = (async () => {
    for await (const event of run.eventLogs) if (event.type === "StateEntered") entered.push(event.state.name);
  })();
  try {
    const output = await run.result;
    await logging;
    return { status: "SUCCEEDED", output, states: entered };
  } catch (error) {
    await logging;
    if (!(error instanceof ExecutionError)) throw error;
    const cause = (error as { cause?: unknown }).cause as Error;
    return { status: "FAILED", error: cause.name, cause: cause.message, states: entered };
  }
}
