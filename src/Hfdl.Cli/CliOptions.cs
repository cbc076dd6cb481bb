using System.CommandLine;

namespace Hfdl.Cli;

/// <summary>--include / --exclude, shared by download and ls.</summary>
internal static class FilterOptions
{
    public static Option<string[]> IncludeOption() => new("--include")
    {
        Description = "Only files matching this pattern (repeatable; fnmatch as in huggingface_hub: * also matches /, ?, [seq], [!seq]; a trailing / means a folder and everything in it). huggingface-cli's --include A B works too: a word with * or ? right after a pattern is one more pattern.",
        HelpName = "PATTERN",
        Arity = ArgumentArity.OneOrMore,
    };

    public static Option<string[]> ExcludeOption() => new("--exclude")
    {
        Description = "Skip files matching this pattern (repeatable; applied after --include).",
        HelpName = "PATTERN",
        Arity = ArgumentArity.OneOrMore,
    };
}

/// <summary>Folder options (--local-dir, -d, --cache-dir, --store).</summary>
internal static class PathOptions
{
    /// <summary>Refuses an empty value (<c>--local-dir ""</c>, an unset variable in a script) as a usage error.</summary>
    public static TOption Folder<TOption>(this TOption option)
        where TOption : Option
    {
        option.Validators.Add(result =>
        {
            if (result.Tokens.Any(t => string.IsNullOrWhiteSpace(t.Value)))
            {
                result.AddError($"{option.Name} needs a folder, and was given an empty value (an unset variable in a script?).");
            }
        });
        return option;
    }
}

internal static class OutputOptions
{
    public static Option<bool> JsonOption(string description) => new("--json") { Description = description };
}
