/**
 * A logger for tests and benchmarks that drops every line: for components under test whose
 * failures are expected and whose log output is not what is being checked. Test support
 * only, imported by relative path and not exported by the package.
 */
import type { Logger } from "../log.ts";

export const quietLog: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  child: () => quietLog,
};
