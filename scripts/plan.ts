// Offline plan: every stack's resources, future physical names, findings and estimates, without AWS
// or the Pulumi CLI. `plan --help` explains; the engine lives in scripts/plan/.
import { main } from "./plan/cli";

void main(process.argv.slice(2)).then((code) => {
  // Exit once the output is written rather than when the event loop drains: on the way out Node
  // waits for V8's background jobs (optimising compiles of code that will not run again, GC), which
  // took 5-60 ms per run. Pipes are asynchronous on POSIX, so wait for both streams to flush first.
  process.stdout.write("", () => process.stderr.write("", () => process.exit(code)));
});
