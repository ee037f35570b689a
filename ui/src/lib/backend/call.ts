/**
 * How every command is called: by its name in the generated `Commands`, failing with a
 * `CommandError`. Only the backend's topic modules use `call`; the store sees the
 * commands they wrap.
 */
import { invoke } from "@tauri-apps/api/core";

import type { CommandError } from "../bindings/CommandError";
import type { Commands } from "../bindings/Commands";

/** The name every core event is emitted under (see `src-tauri/src/events.rs`). */
export const EVENT_NAME = "ferry://event";

/** Whether `value` is the error shape every command rejects with. */
export function isCommandError(value: unknown): value is CommandError {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as CommandError).kind === "string" &&
    typeof (value as CommandError).message === "string"
  );
}

/**
 * Any rejection as a CommandError. Tauri itself rejects with a plain string when a
 * command is missing or its arguments do not deserialize; those become `unavailable`.
 */
export function toCommandError(value: unknown): CommandError {
  if (isCommandError(value)) return { kind: value.kind, message: value.message };
  if (value instanceof Error) return { kind: "unavailable", message: value.message };
  return { kind: "unavailable", message: String(value) };
}

/** A command's arguments, optional when it takes none (or only optional ones). */
type ArgsOf<C extends keyof Commands> = Record<string, never> extends Commands[C]["args"]
  ? [args?: Commands[C]["args"]]
  : [args: Commands[C]["args"]];

/**
 * Calls a command by its name in {@link Commands}, generated from the Rust commands: a
 * name, an argument or an answer that the shell does not have fails the type check.
 */
export async function call<C extends keyof Commands>(command: C, ...args: ArgsOf<C>): Promise<Commands[C]["returns"]> {
  try {
    return await invoke<Commands[C]["returns"]>(command, args[0]);
  } catch (e) {
    throw toCommandError(e);
  }
}
