import { diffPlans } from "../plan/diff";
import { planStack } from "../plan/engine";
import { renderDiffs } from "../plan/render";

/**
 * The offline plan diff of a promotion: the target stack's resources as its file stands, against
 * the resources with the promoted file, both from the real program run offline by the plan tool
 * (scripts/plan/engine.ts), compared by its diff (scripts/plan/diff.ts, revision mode). It shows
 * what `pulumi up` of the target stage would create, update or replace.
 */

/** The same stack twice: as it stands and as promoted. Both directories hold Pulumi.yaml and Pulumi.<stage>.yaml. */
export interface PlanDiffInput {
  readonly stage: string;
  /** The project as it stands. */
  readonly currentDir: string;
  /** A temporary copy with the promoted stack file. */
  readonly proposedDir: string;
}

/** Returns the diff's human lines, or undefined when no plan diff is available. */
export type PlanDiffHook = (input: PlanDiffInput) => Promise<readonly string[] | undefined>;

/** The plan tool's diff of the target stack, before and after the promotion. */
export const offlinePlanDiff: PlanDiffHook = async ({ stage, currentDir, proposedDir }) => {
  const before = await planStack(currentDir, stage);
  const after = await planStack(proposedDir, stage);
  const diff = diffPlans(before, after, { mode: "revision", beforeLabel: "as it stands", afterLabel: "promoted" });
  return renderDiffs([diff]).filter((line, i, lines) => line !== "" || i < lines.length - 1);
};
