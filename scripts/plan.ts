// Offline plan: every stack's resources, future physical names, findings and estimates, without AWS
// or the Pulumi CLI. `plan --help` explains; the engine lives in scripts/plan/.
import { main } from "./plan/cli";

void main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
