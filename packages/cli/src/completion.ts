// Shell completion scripts, made from the command table (commands.ts), so they offer exactly the
// commands and options the parser accepts.

import { type CommandName, commandGroups, commands, optionsOf } from "./commands.js";

function flagsOf(name: CommandName): string {
  return [...Object.keys(optionsOf(name)), "help"].map((o) => `--${o}`).join(" ");
}

/** `acb completion bash`: complete -F for bash (and zsh's bashcompinit). */
export function bashCompletion(): string {
  const groups = commandGroups();
  const top = [...groups.keys()].join(" ");
  const subs = [...groups]
    .filter(([, list]) => list.length > 0)
    .map(
      ([g, list]) => `    ${g}) COMPREPLY=($(compgen -W "${list.join(" ")}" -- "$cur")); return ;;`,
    )
    .join("\n");
  const flags = (Object.keys(commands) as CommandName[])
    .map((n) => `    "${n}") flags="${flagsOf(n)}" ;;`)
    .join("\n");
  return `# bash completion for acb: eval "$(acb completion bash)"
_acb() {
  local cur="\${COMP_WORDS[COMP_CWORD]}"
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=($(compgen -W "${top} --help" -- "$cur")); return
  fi
  if [ "$COMP_CWORD" -eq 2 ]; then
    case "\${COMP_WORDS[1]}" in
${subs}
    esac
  fi
  local cmd="\${COMP_WORDS[1]}" flags=""
  case "\${COMP_WORDS[1]} \${COMP_WORDS[2]}" in
${flags.replaceAll(/^ {4}"([a-z-]+)"\)/gm, '    "$1 "*)')}
  esac
  if [ -z "$flags" ]; then
    case "$cmd" in
${flags}
    esac
  fi
  case "$cur" in -*) COMPREPLY=($(compgen -W "$flags" -- "$cur")) ;; *) COMPREPLY=($(compgen -f -- "$cur")) ;; esac
}
complete -F _acb acb
`;
}

/** `acb completion zsh`: the bash function through zsh's bashcompinit. */
export function zshCompletion(): string {
  return `# zsh completion for acb: eval "$(acb completion zsh)"
autoload -U +X compinit && compinit
autoload -U +X bashcompinit && bashcompinit
${bashCompletion()}`;
}
