import { TrainingInstanceType } from "@aws-sdk/client-sagemaker";
import { XGBOOST_VERSIONS } from "./xgboost-images";

/**
 * The tuning spec of one model (the `tuning` section of the retraining configuration), its
 * defaults, and the rules on it in one function, tuningSpecProblems: the configuration's schema
 * and the tuning step both call it. Pure: no AWS calls.
 */

/** How SageMaker searches a range (HyperParameterScalingType). */
export type ScalingType = "Auto" | "Linear" | "Logarithmic" | "ReverseLogarithmic";

/** A range of one tunable XGBoost hyperparameter. */
export interface ParameterRange {
  /** `continuous` (ContinuousParameterRanges) or `integer` (IntegerParameterRanges). */
  readonly type: "continuous" | "integer";
  /** Smallest value searched. */
  readonly min: number;
  /** Largest value searched. */
  readonly max: number;
  /**
   * How SageMaker searches the range.
   * @default "Auto"
   */
  readonly scaling?: ScalingType;
}

/** The tuning of one model, from the retraining configuration. */
export interface TuningSpec {
  /** Tuning objective metric the built-in XGBoost emits on the validation channel, such as `validation:rmse`. */
  readonly objectiveMetric: string;
  /**
   * Whether the objective metric is minimised or maximised.
   * @default "Minimize"
   */
  readonly objectiveType?: "Minimize" | "Maximize";
  /** XGBoost `objective` hyperparameter, such as `reg:squarederror`. */
  readonly objective: string;
  /** XGBoost `eval_metric` hyperparameter, such as `rmse`: the objective metric's metric. */
  readonly evalMetric: string;
  /**
   * XGBoost `num_round`, passed as a static hyperparameter.
   * @default - none: `ranges` must then tune `num_round`
   */
  readonly numRound?: number;
  /** Tunable XGBoost hyperparameters (eta, max_depth, ...) and their ranges. */
  readonly ranges: Readonly<Record<string, ParameterRange>>;
  /**
   * Training jobs the tuning job may run (MaxNumberOfTrainingJobs).
   * @default 10
   */
  readonly maxJobs?: number;
  /**
   * Training jobs run at once (MaxParallelTrainingJobs).
   * @default 10
   */
  readonly maxParallelJobs?: number;
  /**
   * Training instance type.
   * @default "ml.m5.xlarge"
   */
  readonly instanceType?: string;
  /**
   * Instances per training job.
   * @default 1
   */
  readonly instanceCount?: number;
  /**
   * Training volume size per instance, in GiB.
   * @default 30
   */
  readonly volumeSizeGiB?: number;
  /**
   * Longest a training job may run, in seconds.
   * @default 86400
   */
  readonly maxRuntimeSeconds?: number;
  /**
   * Version of the built-in XGBoost image (scripts/lib/retrain/xgboost-images.ts).
   * @default "1.7-1"
   */
  readonly xgboostVersion?: string;
  /**
   * Testing mode: one training job, one at a time, whatever maxJobs and maxParallelJobs say.
   * @default false
   */
  readonly testing?: boolean;
}

/** The defaults of TuningSpec's optional fields, as its `@default` tags say. */
export const TUNING_DEFAULTS = {
  objectiveType: "Minimize",
  maxJobs: 10,
  maxParallelJobs: 10,
  instanceType: "ml.m5.xlarge",
  instanceCount: 1,
  volumeSizeGiB: 30,
  maxRuntimeSeconds: 86_400,
  xgboostVersion: "1.7-1",
  testing: false,
} as const;

/** A spec with every default applied, and testing mode's limits. */
export interface ResolvedTuning {
  readonly objectiveMetric: string;
  readonly objectiveType: "Minimize" | "Maximize";
  readonly objective: string;
  readonly evalMetric: string;
  readonly numRound?: number;
  readonly ranges: Readonly<Record<string, ParameterRange>>;
  readonly maxJobs: number;
  readonly maxParallelJobs: number;
  readonly instanceType: string;
  readonly instanceCount: number;
  readonly volumeSizeGiB: number;
  readonly maxRuntimeSeconds: number;
  readonly xgboostVersion: string;
  readonly testing: boolean;
}

/** Defaults applied once; testing mode forces one training job, one at a time (seed 001's `testing=True`). */
export function resolveTuning(spec: TuningSpec): ResolvedTuning {
  const testing = spec.testing ?? TUNING_DEFAULTS.testing;
  return {
    objectiveMetric: spec.objectiveMetric,
    objectiveType: spec.objectiveType ?? TUNING_DEFAULTS.objectiveType,
    objective: spec.objective,
    evalMetric: spec.evalMetric,
    numRound: spec.numRound,
    ranges: spec.ranges,
    maxJobs: testing ? 1 : spec.maxJobs ?? TUNING_DEFAULTS.maxJobs,
    maxParallelJobs: testing ? 1 : spec.maxParallelJobs ?? TUNING_DEFAULTS.maxParallelJobs,
    instanceType: spec.instanceType ?? TUNING_DEFAULTS.instanceType,
    instanceCount: spec.instanceCount ?? TUNING_DEFAULTS.instanceCount,
    volumeSizeGiB: spec.volumeSizeGiB ?? TUNING_DEFAULTS.volumeSizeGiB,
    maxRuntimeSeconds: spec.maxRuntimeSeconds ?? TUNING_DEFAULTS.maxRuntimeSeconds,
    xgboostVersion: spec.xgboostVersion ?? TUNING_DEFAULTS.xgboostVersion,
    testing,
  };
}

/** The static and tunable hyperparameter names, sorted: a warm start's parents must have the same set. */
export function hyperparameterNames(spec: TuningSpec): string[] {
  const statics = ["objective", "eval_metric", ...spec.numRound === undefined ? [] : ["num_round"]];
  return [...new Set([...statics, ...Object.keys(spec.ranges)])].sort();
}

// ---------------------------------------------------------------------------------------------
// The rules.
// ---------------------------------------------------------------------------------------------

/** One broken rule of a TuningSpec. */
export interface SpecProblem {
  /** The field as a path relative to the spec (`["ranges", "eta", "min"]`). */
  readonly path: readonly string[];
  readonly message: string;
  /** Where the rule comes from. */
  readonly source: string;
}

/** Sources of the rules, cited by every problem. */
export const TUNING_RULE_SOURCES = {
  ranges: "SageMaker API model: ParameterRanges (at most 30 ranges in all), ContinuousParameterRange and IntegerParameterRange "
    + "(ScalingType: Logarithmic only for values > 0, ReverseLogarithmic only for continuous ranges within 0 <= x < 1)",
  tunable: "SageMaker developer guide, tune an XGBoost model: the tunable hyperparameters (max_depth and num_round are whole numbers)",
  limits: "SageMaker API model: ResourceLimits (MaxNumberOfTrainingJobs, MaxParallelTrainingJobs >= 1)",
  metric: "SageMaker developer guide, tune an XGBoost model: the built-in XGBoost emits validation:<eval_metric> for the validation "
    + "channel; metrics such as auc grow as the model improves (Maximize), error metrics shrink (Minimize)",
  resources: "SageMaker API model: ResourceConfig (TrainingInstanceType, InstanceCount >= 1, VolumeSizeInGB >= 1), "
    + "StoppingCondition.MaxRuntimeInSeconds (>= 1; SageMaker allows at most 28 days)",
  static: "SageMaker API model: HyperParameterTrainingJobDefinition (a hyperparameter is static or tunable, not both); XGBoost "
    + "requires num_round and takes objective and eval_metric",
  image: "scripts/lib/retrain/xgboost-images.ts: the built-in XGBoost image versions",
} as const;

/** The built-in XGBoost's tunable hyperparameters (SageMaker developer guide, "Tune an XGBoost model"). */
export const TUNABLE_XGBOOST_PARAMETERS: readonly string[] = [
  "alpha", "colsample_bylevel", "colsample_bynode", "colsample_bytree", "eta", "gamma", "lambda",
  "max_delta_step", "max_depth", "min_child_weight", "num_round", "subsample",
];
/** Tunable hyperparameters XGBoost reads as whole numbers only. */
export const INTEGER_ONLY_PARAMETERS: readonly string[] = ["max_depth", "num_round"];
/** XGBoost evaluation metrics that grow as the model gets better (to maximise); the others shrink. */
export const HIGHER_IS_BETTER_METRICS: readonly string[] = ["auc", "aucpr", "map", "ndcg", "pre", "accuracy", "f1"];
/** ParameterRanges: the sum of all ranges. */
export const MAX_PARAMETER_RANGES = 30;
/** StoppingCondition.MaxRuntimeInSeconds: SageMaker's limit of 28 days. */
export const MAX_TRAINING_SECONDS = 28 * 24 * 3600;

const TRAINING_INSTANCE_TYPES: ReadonlySet<string> = new Set(Object.values(TrainingInstanceType));
const OBJECTIVE = /^[a-z]+:[a-z_]+$/;
const EVAL_METRIC = /^[a-z][a-z0-9_-]*(@[0-9.]+-?)?$/;

/** What is wrong with one range (empty when nothing is). */
export function rangeProblems(name: string, range: ParameterRange): SpecProblem[] {
  const problems: SpecProblem[] = [];
  const add = (field: string, message: string, source: string = TUNING_RULE_SOURCES.ranges) => problems.push({ path: ["ranges", name, field], message, source });
  if (!Number.isFinite(range.min) || !Number.isFinite(range.max) || range.min >= range.max) {
    add("max", `must be greater than min (${range.min}), got ${range.max}`);
  }
  if (range.type === "integer") {
    for (const field of ["min", "max"] as const) {
      if (!Number.isInteger(range[field])) add(field, `must be a whole number in an integer range, got ${range[field]}`);
    }
  } else if (INTEGER_ONLY_PARAMETERS.includes(name)) {
    add("type", `must be integer: XGBoost reads ${name} as a whole number`, TUNING_RULE_SOURCES.tunable);
  }
  if (range.scaling === "Logarithmic" && range.min <= 0) add("min", `must be greater than 0 with Logarithmic scaling, got ${range.min}`);
  if (range.scaling === "ReverseLogarithmic") {
    if (range.type !== "continuous") add("scaling", "ReverseLogarithmic works only on continuous ranges");
    if (range.min < 0 || range.max >= 1) add("scaling", `ReverseLogarithmic needs 0 <= min and max < 1, got ${range.min} to ${range.max}`);
  }
  return problems;
}

/** What is wrong with a spec (empty when nothing is). Each rule cites its source. */
export function tuningSpecProblems(spec: TuningSpec): SpecProblem[] {
  const problems: SpecProblem[] = [];
  const add = (path: readonly string[], message: string, source: string) => problems.push({ path, message, source });

  const metric = /^validation:(.+)$/.exec(spec.objectiveMetric)?.[1];
  if (metric === undefined) {
    add(["objectiveMetric"], `must be validation:<metric> (the jobs are compared on the validation split), such as validation:rmse; got "${spec.objectiveMetric}"`,
      TUNING_RULE_SOURCES.metric);
  } else if (metric !== spec.evalMetric) {
    add(["objectiveMetric"], `is ${spec.objectiveMetric}, but evalMetric is ${spec.evalMetric}: XGBoost emits validation:${spec.evalMetric} only; `
      + "make them name the same metric", TUNING_RULE_SOURCES.metric);
  }
  if (!OBJECTIVE.test(spec.objective)) add(["objective"], `must be an XGBoost objective such as reg:squarederror, got "${spec.objective}"`, TUNING_RULE_SOURCES.static);
  if (!EVAL_METRIC.test(spec.evalMetric)) {
    add(["evalMetric"], `must be one XGBoost eval_metric such as rmse, mae, logloss or auc, got "${spec.evalMetric}"`, TUNING_RULE_SOURCES.static);
  }
  const higherIsBetter = HIGHER_IS_BETTER_METRICS.includes(spec.evalMetric.split("@")[0]);
  const type = spec.objectiveType ?? TUNING_DEFAULTS.objectiveType;
  if (higherIsBetter !== (type === "Maximize")) {
    add(["objectiveType"], `is ${type}${spec.objectiveType === undefined ? " (the default)" : ""}, but ${spec.evalMetric} `
      + `${higherIsBetter ? "grows" : "shrinks"} as the model improves: set objectiveType: ${higherIsBetter ? "Maximize" : "Minimize"}`, TUNING_RULE_SOURCES.metric);
  }

  const names = Object.keys(spec.ranges);
  if (names.length === 0) add(["ranges"], "must tune at least one hyperparameter", TUNING_RULE_SOURCES.ranges);
  if (names.length > MAX_PARAMETER_RANGES) add(["ranges"], `may hold at most ${MAX_PARAMETER_RANGES} ranges, got ${names.length}`, TUNING_RULE_SOURCES.ranges);
  for (const name of names) {
    if (!TUNABLE_XGBOOST_PARAMETERS.includes(name)) {
      add(["ranges", name], `is not a tunable XGBoost hyperparameter; those are ${TUNABLE_XGBOOST_PARAMETERS.join(", ")}`, TUNING_RULE_SOURCES.tunable);
      continue;
    }
    problems.push(...rangeProblems(name, spec.ranges[name]));
  }
  const tunesRounds = spec.ranges.num_round !== undefined;
  if (tunesRounds && spec.numRound !== undefined) add(["numRound"], "is set, and ranges tunes num_round too: keep one", TUNING_RULE_SOURCES.static);
  if (!tunesRounds && spec.numRound === undefined) {
    add(["ranges"], "must tune num_round, or numRound must fix it (XGBoost needs a number of rounds)", TUNING_RULE_SOURCES.static);
  }

  const whole = (field: keyof TuningSpec, value: number | undefined, source: string, max = Number.MAX_SAFE_INTEGER) => {
    if (value !== undefined && (!Number.isInteger(value) || value < 1 || value > max)) {
      add([field], `must be a whole number from 1${max === Number.MAX_SAFE_INTEGER ? " up" : ` to ${max}`}, got ${value}`, source);
    }
  };
  whole("numRound", spec.numRound, TUNING_RULE_SOURCES.static);
  whole("maxJobs", spec.maxJobs, TUNING_RULE_SOURCES.limits);
  whole("maxParallelJobs", spec.maxParallelJobs, TUNING_RULE_SOURCES.limits);
  whole("instanceCount", spec.instanceCount, TUNING_RULE_SOURCES.resources);
  whole("volumeSizeGiB", spec.volumeSizeGiB, TUNING_RULE_SOURCES.resources);
  whole("maxRuntimeSeconds", spec.maxRuntimeSeconds, TUNING_RULE_SOURCES.resources, MAX_TRAINING_SECONDS);
  if (spec.instanceType !== undefined && !TRAINING_INSTANCE_TYPES.has(spec.instanceType)) {
    add(["instanceType"], `must be a SageMaker training instance type such as ml.m5.xlarge, got "${spec.instanceType}"`, TUNING_RULE_SOURCES.resources);
  }
  if (spec.xgboostVersion !== undefined && !XGBOOST_VERSIONS.includes(spec.xgboostVersion)) {
    add(["xgboostVersion"], `must be a version of the built-in XGBoost: ${XGBOOST_VERSIONS.join(", ")}; got "${spec.xgboostVersion}"`, TUNING_RULE_SOURCES.image);
  }
  return problems;
}
