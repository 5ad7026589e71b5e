import { createHash } from "node:crypto";
import { HyperParameterTuningJobWarmStartType } from "@aws-sdk/client-sagemaker";
import type { TuningHistoryRow } from "./history";
import { CliError } from "../cli";

/**
 * Seed 001's dynamic warm start: the parents of a new tuning job, chosen from the tuning history,
 * and the warm start type from what the parents were trained on. Pure: no AWS calls.
 */

/** ParentHyperParameterTuningJobs: 1-5 (SageMaker API model). */
export const MAX_WARM_START_PARENTS = 5;

/**
 * One hash for the data a tuning job sees: SHA-256 over `<channel>=<file sha256>` lines, sorted by
 * channel (pass the manifest's hashes of the train and validation files). Equal hashes mean the
 * same bytes in every channel, which IDENTICAL_DATA_AND_ALGORITHM warm starts require.
 */
export function datasetHash(fileHashes: Readonly<Record<string, string>>): string {
  const lines = Object.keys(fileHashes).sort().map((channel) => `${channel}=${fileHashes[channel]}\n`);
  if (lines.length === 0) throw new CliError("a dataset hash needs the hash of at least one file");
  return createHash("sha256").update(lines.join("")).digest("hex");
}

/** What this run's job is, for choosing its parents. */
export interface WarmStartCandidate {
  readonly tuningJob: string;
  readonly model: string;
  readonly objectiveMetric: string;
  readonly objective: string;
  readonly evalMetric: string;
  /** hyperparameterNames(spec). */
  readonly hyperparameters: readonly string[];
  readonly datasetHash: string;
  readonly image: string;
}

/** The parents chosen, newest first, and the warm start type. */
export interface WarmStart {
  readonly type: HyperParameterTuningJobWarmStartType;
  readonly parents: readonly TuningHistoryRow[];
}

/** The same strings, in any order. */
function sameSet(a: readonly string[], b: readonly string[]): boolean {
  const sortedB = [...b].sort();
  return a.length === b.length && [...a].sort().every((v, i) => v === sortedB[i]);
}

/**
 * Seed 001's dynamic warm start, with up to `maxParents` parents instead of one. A row is eligible
 * when it is the same model, objective metric, XGBoost objective and eval metric, it ran more than
 * one training job (testing-mode jobs are not parents), and it has the same set of hyperparameter
 * names (SageMaker requires the parents' static plus tunable hyperparameters to match). The newest
 * eligible rows are the parents. IDENTICAL_DATA_AND_ALGORITHM when every parent saw the same data
 * (dataset hash) with the same image, TRANSFER_LEARNING otherwise; undefined when none is eligible.
 */
export function selectWarmStart(
  history: readonly TuningHistoryRow[], candidate: WarmStartCandidate, maxParents: number = MAX_WARM_START_PARENTS,
): WarmStart | undefined {
  const eligible = history.filter((row) => row.model === candidate.model
    && row.objectiveMetric === candidate.objectiveMetric
    && row.objective === candidate.objective
    && row.evalMetric === candidate.evalMetric
    && row.trainingJobCount > 1
    && sameSet(row.hyperparameters, candidate.hyperparameters)
    && row.tuningJob !== candidate.tuningJob);
  const newestFirst = [...eligible].sort((a, b) => b.timestamp.localeCompare(a.timestamp) || b.tuningJob.localeCompare(a.tuningJob));
  const seen = new Set<string>();
  const limit = Math.min(maxParents, MAX_WARM_START_PARENTS);
  const parents = newestFirst.filter((row) => !seen.has(row.tuningJob) && seen.add(row.tuningJob)).slice(0, limit);
  if (parents.length === 0) return undefined;
  const identical = parents.every((p) => p.datasetHash === candidate.datasetHash && p.image === candidate.image);
  return {
    type: identical ? HyperParameterTuningJobWarmStartType.IDENTICAL_DATA_AND_ALGORITHM : HyperParameterTuningJobWarmStartType.TRANSFER_LEARNING,
    parents,
  };
}

