// The acb CLI as a library: run it in-process (tests, wrappers) and read its command table.
export {
  type ArgSpec,
  type CommandName,
  type CommandSpec,
  commandHelp,
  commands,
  connectionOptions,
  fullHelp,
  type OptionSpec,
  optionsOf,
  parseCommand,
} from "./commands.js";
export { bashCompletion, zshCompletion } from "./completion.js";
export { configPath, resolveConnection } from "./credentials.js";
export { type CliIo, runCli } from "./main.js";
