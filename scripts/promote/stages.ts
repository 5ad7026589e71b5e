import { UsageError } from "../lib/cli";

/** Where a promotion goes in the stage order, and which stages it jumps over. */
export interface PromotionRoute {
  readonly from: string;
  readonly to: string;
  /** Stages between `from` and `to` that the promotion skips (empty for the next stage). */
  readonly skipped: readonly string[];
  /** Why stages are skipped (`--reason`); set exactly when `skipped` is not empty. */
  readonly reason?: string;
}

/** What the command line asked for. */
export interface RouteRequest {
  readonly from: string;
  readonly to: string;
  readonly skipStage: boolean;
  readonly reason?: string;
}

/**
 * Checks a promotion against the stage order of Pulumi.yaml (`mlplatform:stages`, first to last):
 * forwards only, to the next stage unless `--skip-stage --reason` says why stages are jumped.
 */
export function promotionRoute(stageOrder: readonly string[], request: RouteRequest): PromotionRoute {
  const { from, to } = request;
  const reason = request.reason?.replace(/\s+/g, " ").trim();
  const indexOf = (stage: string, option: string) => {
    const i = stageOrder.indexOf(stage);
    if (i < 0) throw new UsageError(`--${option} "${stage}" is not a stage; the stages in Pulumi.yaml are ${stageOrder.join(" -> ")}`);
    return i;
  };
  const fromIndex = indexOf(from, "from");
  const toIndex = indexOf(to, "to");
  if (request.reason !== undefined && !request.skipStage) throw new UsageError("--reason goes with --skip-stage; a promotion to the next stage needs no reason");
  if (fromIndex === toIndex) throw new UsageError(`--from and --to are both "${from}"; promote to the next stage (${stageOrder[fromIndex + 1] ?? "none"})`);
  if (toIndex < fromIndex) {
    throw new UsageError(`refusing to promote backwards from ${from} to ${to}: stages go ${stageOrder.join(" -> ")}; `
      + `to roll ${to} back, edit ${to}'s stack file in a reviewed change`);
  }
  const skipped = stageOrder.slice(fromIndex + 1, toIndex);
  if (skipped.length === 0) {
    if (request.skipStage) throw new UsageError(`--skip-stage given, but ${to} is the stage after ${from}: nothing is skipped`);
    return { from, to, skipped };
  }
  if (!request.skipStage) {
    throw new UsageError(`${to} is not the stage after ${from} (${stageOrder.join(" -> ")}): promoting skips ${skipped.join(", ")}; `
      + `promote to ${stageOrder[fromIndex + 1]} first, or pass --skip-stage --reason "<why>"`);
  }
  if (reason === undefined || reason === "") throw new UsageError("--skip-stage needs --reason \"<why>\"; the reason is written beside each promoted value");
  return { from, to, skipped, reason };
}
