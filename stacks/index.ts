// Entry point of the Pulumi program (Pulumi.yaml: main: stacks/). Everything lives in program.ts so
// tests and the offline tools run the same code without re-importing this module.
import { runProgram } from "./program";

export = runProgram();
