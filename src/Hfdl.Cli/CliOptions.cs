using System.CommandLine;

namespace Hfdl.Cli;

/// <summary>--include / --exclude, shared by download and ls.</summary>
internal static class FilterOptions
{
    public static Option<string[]> IncludeOption() => new Option<string[]>("--include")
    {
        Description = "Only files matching this pattern (repeatable; fnmatch as in huggingface_hub: * also matches /, ?, [seq], [!seq]; a trailing / means a folder and everything in it). huggingface-cli's --include A B works too: a word with * or ? right after a pattern is one more pattern.",
        HelpName = "PATTERN",
        Arity = ArgumentArity.OneOrMore,
    }.NoEmptyPattern();

    public static Option<string[]> ExcludeOption() => new Option<string[]>("--exclude")
    {
        Description = "Skip files matching this pattern (repeatable; applied after --include).",
        HelpName = "PATTERN",
        Arity = ArgumentArity.OneOrMore,
    }.NoEmptyPattern();

    /// <summary>
    /// The FILES of a download: an empty name (an unset variable in a script) is a usage error while parsing; it was
    /// "File '' does not exist", exit 1, after asking the Hub (QA: helper-49).
    /// </summary>
    public static Argument<string[]> NoEmptyName(this Argument<string[]> argument)
    {
        argument.Validators.Add(result =>
        {
            if (result.Tokens.Any(t => t.Value.Length == 0))
            {
                result.AddError($"{argument.Name} has an empty name (an unset variable in a script?): give a path in the repo such as config.json or onnx/, or leave {argument.Name} out for the whole repo.");
            }
        });
        return argument;
    }

    /// <summary>
    /// An empty pattern is a usage error while parsing, in the words the engine's own check uses: decided from the
    /// command line, it came only after the Hub was asked (and with the Hub down, as a network error) (QA: helper-49).
    /// </summary>
    private static Option<string[]> NoEmptyPattern(this Option<string[]> option)
    {
        option.Validators.Add(result =>
        {
            if (result.Tokens.Any(t => t.Value.Length == 0))
            {
                result.AddError($"{option.Name} is empty; give a pattern such as '*.json' or 'onnx/'.");
            }
        });
        return option;
    }
}

/// <summary>Folder options (--local-dir, -d, --cache-dir, --store).</summary>
internal static class PathOptions
{
    /// <summary>Refuses an empty value (<c>--local-dir ""</c>, an unset variable in a script) as a usage error.</summary>
    public static TOption Folder<TOption>(this TOption option)
        where TOption : Option => option.NotEmpty("a folder");

    /// <summary>
    /// Refuses an empty value as a usage error: <c>--token "$TOKEN"</c> with the variable unset must not quietly fall
    /// back to another token (or none).
    /// </summary>
    public static TOption NotEmpty<TOption>(this TOption option, string what)
        where TOption : Option
    {
        option.Validators.Add(result =>
        {
            if (result.Tokens.Any(t => string.IsNullOrWhiteSpace(t.Value)))
            {
                result.AddError($"{NumberOptions.AsWritten(result, option.Name)} needs {what}, and was given an empty value (an unset variable in a script?).");
            }
        });
        return option;
    }
}

internal static class OutputOptions
{
    public static Option<bool> JsonOption(string description) => new("--json") { Description = description };
}

/// <summary>
/// Numeric options, checked while the command line is parsed: a value that is not a number (<c>abc</c>, <c>nan</c>,
/// <c>inf</c>) or out of range is a usage error that names the option and says what it takes, before anything starts
/// (a dry run included), instead of a type name from the parser or an exception from the engine mid-run.
/// </summary>
internal static class NumberOptions
{
    /// <summary>A number from <paramref name="minimum"/> to <paramref name="maximum"/>; <paramref name="expected"/> says so in words ("a number of MB from 0 to 10^12").</summary>
    public static Option<double> Within(this Option<double> option, double minimum, double maximum, string expected)
    {
        option.CustomParser = result => Parse(result, option.Name, minimum, maximum, expected, whole: false) ?? 0;
        return option;
    }

    /// <inheritdoc cref="Within(Option{double}, double, double, string)"/>
    public static Option<double?> Within(this Option<double?> option, double minimum, double maximum, string expected)
    {
        option.CustomParser = result => Parse(result, option.Name, minimum, maximum, expected, whole: false);
        return option;
    }

    /// <summary>A whole number from <paramref name="minimum"/> to <paramref name="maximum"/>.</summary>
    public static Option<int?> Within(this Option<int?> option, int minimum, int maximum, string expected)
    {
        option.CustomParser = result => (int?)Parse(result, option.Name, minimum, maximum, expected, whole: true);
        return option;
    }

    /// <inheritdoc cref="Within(Option{int?}, int, int, string)"/>
    public static Option<long> Within(this Option<long> option, long minimum, long maximum, string expected)
    {
        option.CustomParser = result => (long)(Parse(result, option.Name, minimum, maximum, expected, whole: true) ?? 0);
        return option;
    }

    private static double? Parse(System.CommandLine.Parsing.ArgumentResult result, string name, double minimum, double maximum, string expected, bool whole)
    {
        var text = result.Tokens.Count > 0 ? result.Tokens[^1].Value : "";
        // double.TryParse takes "NaN" and "Infinity": both are refused below with the rest.
        if (!double.TryParse(text, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var value)
            || !double.IsFinite(value) || value < minimum || value > maximum || (whole && value != Math.Floor(value)))
        {
            result.AddError($"{AsWritten(result.Parent as System.CommandLine.Parsing.OptionResult, name)} must be {expected}, not '{text}'.");
            return null;
        }
        return value;
    }

    /// <summary>
    /// The option's name as the user wrote it (<c>--max-workers</c>, <c>-t</c>), so an error speaks of what is on
    /// their command line rather than of the canonical name they may never have seen.
    /// </summary>
    public static string AsWritten(System.CommandLine.Parsing.OptionResult? result, string canonical) =>
        result?.IdentifierToken?.Value is { Length: > 0 } written && written.StartsWith("--", StringComparison.Ordinal) ? written : canonical;
}
