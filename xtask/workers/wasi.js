// The WASI imports of a std-built Rust guest on Workers, from jco's browser
// shims: `wasi:cli`, `wasi:io`, `wasi:random` and `wasi:clocks/wall-clock`
// at 0.2, `wasi:clocks/monotonic-clock` and `wasi:http/types` at 0.3 (jco
// keys imports by interface, without the version; the clock object serves
// both versions' functions).

import { createCli } from "@bytecodealliance/preview2-shim/cli";
import { monotonicClock as monotonicClock2, wallClock } from "@bytecodealliance/preview2-shim/clocks";
import { error, poll, streams } from "@bytecodealliance/preview2-shim/io";
import { insecure, insecureSeed, random } from "@bytecodealliance/preview2-shim/random";
import { monotonicClock as monotonicClock3, systemClock } from "@bytecodealliance/preview3-shim/clocks";
import { wasiHttpTypes } from "./http-types.js";

/**
 * A console output stream for the guest's stdout or stderr: a line is
 * logged once it is complete (Rust's unbuffered stderr writes a line in
 * pieces, each flushed), what is left when the stream is dropped last.
 */
function lines(log) {
  const decoder = new TextDecoder();
  let pending = "";
  return {
    write(contents) {
      pending += decoder.decode(contents, { stream: true });
      const complete = pending.split("\n");
      pending = complete.pop();
      for (const line of complete) {
        log(line.endsWith("\r") ? line.slice(0, -1) : line);
      }
    },
    flush() {},
    blockingFlush() {},
    drop() {
      pending += decoder.decode();
      if (pending) {
        log(pending);
      }
      pending = "";
    },
  };
}

/** The WASI imports, with `environment` (name to value) as the guest's environment. */
export function wasi(environment) {
  const cli = createCli({
    environment,
    stdout: lines((line) => console.log(line)),
    stderr: lines((line) => console.error(line)),
  });
  return {
    "wasi:cli/environment": cli.environment,
    "wasi:cli/exit": cli.exit,
    "wasi:cli/stdin": cli.stdin,
    "wasi:cli/stdout": cli.stdout,
    "wasi:cli/stderr": cli.stderr,
    "wasi:cli/terminal-input": cli.terminalInput,
    "wasi:cli/terminal-output": cli.terminalOutput,
    "wasi:cli/terminal-stdin": cli.terminalStdin,
    "wasi:cli/terminal-stdout": cli.terminalStdout,
    "wasi:cli/terminal-stderr": cli.terminalStderr,
    "wasi:clocks/monotonic-clock": { ...monotonicClock2, ...monotonicClock3 },
    "wasi:clocks/system-clock": systemClock,
    "wasi:clocks/wall-clock": wallClock,
    "wasi:http/types": wasiHttpTypes,
    "wasi:io/error": error,
    "wasi:io/poll": poll,
    "wasi:io/streams": streams,
    "wasi:random/random": random,
    "wasi:random/insecure": insecure,
    "wasi:random/insecure-seed": insecureSeed,
  };
}
