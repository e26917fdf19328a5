// `acb --help` and every command's help list exactly the options and arguments the parser accepts:
// both come from one table, and this test holds them to it by running each command's help and
// feeding every option it lists back to the parser.

import { describe, expect, it } from "vitest";
import {
  type CommandName,
  type CommandSpec,
  optionsOf,
  parseCommand,
  commands as table,
} from "../src/commands.js";
import { bashCompletion } from "../src/completion.js";
import { acb } from "./io.js";

const commands: Record<CommandName, CommandSpec> = table;
const names = Object.keys(commands) as CommandName[];

describe("acb --help", () => {
  it("lists every command with its summary", async () => {
    const { code, stdout } = await acb(["--help"]);
    expect(code).toBe(0);
    for (const name of names) {
      expect(stdout).toContain(`  ${name} `);
      expect(stdout).toContain(commands[name].summary);
    }
    // And nothing that is not a command.
    const listed = stdout
      .split("commands:\n")[1]
      ?.split("\n\n")[0]
      ?.split("\n")
      .map((l) => l.trim().split(/\s{2,}/)[0]);
    expect(listed).toEqual(names);
  });

  it("without a command, prints the help to standard error and exits 2", async () => {
    const { code, stderr, stdout } = await acb([]);
    expect(code).toBe(2);
    expect(stdout).toBe("");
    expect(stderr).toContain("usage: acb <command>");
  });

  it("names the subcommands of a group given alone, and refuses unknown commands", async () => {
    const group = await acb(["context"]);
    expect(group.code).toBe(2);
    expect(group.stderr).toContain('"context" needs a subcommand: get, put, watch');
    const unknown = await acb(["frobnicate"]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown command "frobnicate"');
  });
});

describe.each(names)("acb %s --help", (name) => {
  it("lists exactly the options the parser accepts", async () => {
    const { code, stdout } = await acb([...name.split(" "), "--help"]);
    expect(code).toBe(0);
    expect(stdout.startsWith(`usage: acb ${name}`)).toBe(true);
    // Same text through `acb help <command>`.
    expect((await acb(["help", ...name.split(" ")])).stdout).toBe(stdout);
    const listed = [...stdout.matchAll(/^ {2}--([a-z0-9-]+)/gm)].map((m) => m[1] ?? "");
    const spec = optionsOf(name);
    expect(listed.sort()).toEqual([...Object.keys(spec), "help"].sort());
    if (commands[name].passThrough === true) return;
    for (const option of listed) {
      if (option === "help") continue;
      const o = spec[option];
      const args = commands[name].args.filter((a) => a.required).map((a) => `${a.name}-value`);
      const flag = o?.type === "boolean" ? [`--${option}`] : [`--${option}`, "x"];
      // Accepted: parses without a usage error, and the value arrives under the option's name.
      const parsed = parseCommand(name, [...args, ...flag]);
      expect(parsed?.values[option], `${name} --${option}`).toBeDefined();
    }
    expect(() => parseCommand(name, ["--not-an-option"])).toThrow(/Unknown option/);
  });

  it("lists the positional arguments the parser takes", async () => {
    const { stdout } = await acb([...name.split(" "), "--help"]);
    const spec = commands[name];
    for (const a of spec.args) expect(stdout).toContain(`  ${a.required ? a.name : `[${a.name}`}`);
    if (spec.passThrough === true) return;
    const required = spec.args.filter((a) => a.required);
    if (required.length > 0) {
      expect(() => parseCommand(name, [])).toThrow(`missing ${required[0]?.name}`);
    }
    if (!spec.args.some((a) => a.rest)) {
      const extra = [...required.map((a) => a.name), "stray"];
      expect(() => parseCommand(name, extra)).toThrow('unexpected argument "stray"');
    }
  });
});

describe("acb completion", () => {
  it("offers every command group and every option of the table", async () => {
    const bash = await acb(["completion", "bash"]);
    expect(bash.code).toBe(0);
    expect(bash.stdout).toBe(bashCompletion());
    for (const name of names) {
      for (const word of name.split(" ")) expect(bash.stdout).toContain(word);
      for (const option of Object.keys(optionsOf(name)))
        expect(bash.stdout).toContain(`--${option}`);
    }
    const zsh = await acb(["completion", "zsh"]);
    expect(zsh.stdout).toContain("bashcompinit");
    const fish = await acb(["completion", "fish"]);
    expect(fish.code).toBe(2);
    expect(fish.stderr).toContain('no completion for "fish": bash or zsh');
  });
});
