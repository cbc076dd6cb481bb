using System.CommandLine;

namespace Hfdl.Cli;

/// <summary>
/// <c>hfdl completion SHELL</c> prints a completion script for a shell. Every script asks hfdl itself through
/// System.CommandLine's <c>[suggest:POSITION]</c> directive (which the root command supports out of the box), so
/// commands, options and values complete exactly as hfdl parses them; no extra tool is needed.
/// </summary>
internal static class CompletionCommand
{
    public static readonly string[] Shells = ["bash", "zsh", "fish", "pwsh"];

    public static Command Build(CliContext context)
    {
        var shell = new Argument<string>("SHELL") { Description = "bash, zsh, fish or pwsh." };
        shell.CompletionSources.Add(Shells);
        shell.AcceptOnlyFromAmong(Shells);
        var command = new Command("completion", "Print a shell completion script. Enable it with, for bash: eval \"$(hfdl completion bash)\" in ~/.bashrc; zsh: eval \"$(hfdl completion zsh)\" in ~/.zshrc (after compinit); fish: hfdl completion fish > ~/.config/fish/completions/hfdl.fish; PowerShell: hfdl completion pwsh | Out-String | Invoke-Expression in $PROFILE.");
        command.Arguments.Add(shell);
        command.SetAction(result =>
        {
            context.Out.Write(Script(result.GetValue(shell)!));
            return HfdlCommand.ExitOk;
        });
        return command;
    }

    public static string Script(string shell) => shell switch
    {
        "bash" => """
            # hfdl completion for bash: eval "$(hfdl completion bash)"
            _hfdl_complete() {
                local cur="${COMP_WORDS[COMP_CWORD]}" IFS=$'\n'
                local -a candidates
                read -d '' -ra candidates < <(command hfdl "[suggest:${COMP_POINT}]" "${COMP_LINE}" 2>/dev/null)
                read -d '' -ra COMPREPLY < <(compgen -W "${candidates[*]:-}" -- "$cur")
            }
            complete -o default -F _hfdl_complete hfdl

            """,
        "zsh" => """
            # hfdl completion for zsh: eval "$(hfdl completion zsh)" (after compinit)
            _hfdl_complete() {
                local -a candidates
                candidates=("${(@f)$(command hfdl "[suggest:${CURSOR}]" "${BUFFER}" 2>/dev/null)}")
                if (( ${#candidates} == 0 )) || [[ -z "${candidates[1]}" ]]; then
                    _files
                    return
                fi
                compadd -- "${candidates[@]}"
            }
            compdef _hfdl_complete hfdl

            """,
        "fish" => """
            # hfdl completion for fish: hfdl completion fish > ~/.config/fish/completions/hfdl.fish
            function __hfdl_complete
                set -l line (commandline -cp)
                command hfdl "[suggest:"(string length -- "$line")"]" "$line" 2>/dev/null
            end
            complete -c hfdl -f -a '(__hfdl_complete)'

            """,
        _ => """
            # hfdl completion for PowerShell: hfdl completion pwsh | Out-String | Invoke-Expression
            Register-ArgumentCompleter -Native -CommandName hfdl -ScriptBlock {
                param($wordToComplete, $commandAst, $cursorPosition)
                $line = $commandAst.ToString()
                $position = $cursorPosition - $commandAst.Extent.StartOffset
                & hfdl "[suggest:$position]" "$line" 2>$null | ForEach-Object {
                    [System.Management.Automation.CompletionResult]::new($_, $_, 'ParameterValue', $_)
                }
            }

            """,
    };
}
