using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Invocation;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;

namespace Hfdl.Cli;

/// <summary>
/// hfdl's <c>--help</c>: options grouped by purpose (what, where, speed, output, Hub), each with its value name (a
/// unit where there is one: MB, MB/s, SECONDS, BYTES) and default, then examples. System.CommandLine 2.0's own help
/// builder cannot group options, so this replaces the help option's action; options nobody grouped (new ones) are
/// listed under "Other options", never lost.
/// </summary>
internal static class HelpWriter
{
    private static readonly ConditionalWeakTable<Symbol, string> Groups = new();
    private static readonly ConditionalWeakTable<Command, string[]> CommandExamples = new();

    private static readonly List<string> GroupOrder = [];

    public static T Group<T>(this T option, string group)
        where T : Option
    {
        Groups.AddOrUpdate(option, group);
        lock (GroupOrder)
        {
            if (!GroupOrder.Contains(group))
            {
                GroupOrder.Add(group);
            }
        }
        return option;
    }

    public static void Examples(Command command, params string[] examples) => CommandExamples.AddOrUpdate(command, examples);

    /// <summary>Installs the grouped help on every command (the help option is recursive).</summary>
    public static void Install(RootCommand root, Func<int> width)
    {
        foreach (var option in root.Options)
        {
            if (option is HelpOption help)
            {
                help.Action = new GroupedHelpAction(width);
                help.Description = "Show this help.";
                if (!OperatingSystem.IsWindows())
                {
                    // System.CommandLine's DOS-style aliases; on Unix they are noise in completion and help.
                    foreach (var dosStyle in new[] { "/?", "/h", "-?" })
                    {
                        help.Aliases.Remove(dosStyle);
                    }
                }
            }
        }
    }

    private sealed class GroupedHelpAction(Func<int> width) : SynchronousCommandLineAction
    {
        public override bool ClearsParseErrors => true;

        public override int Invoke(ParseResult parseResult)
        {
            var output = parseResult.InvocationConfiguration.Output ?? Console.Out;
            output.Write(Render(parseResult.CommandResult.Command, Math.Clamp(width(), 60, 160)));
            return HfdlCommand.ExitOk;
        }
    }

    public static string Render(Command command, int width)
    {
        var text = new StringBuilder();
        var path = CommandPath(command);
        text.AppendLine(Wrap(command.Description ?? "", width, 0));
        text.AppendLine();

        text.AppendLine("Usage:");
        var usage = new StringBuilder("  " + path);
        if (command.Subcommands.Count > 0)
        {
            usage.Append(" COMMAND");
        }
        foreach (var argument in command.Arguments.Where(a => !a.Hidden))
        {
            usage.Append(argument.Arity.MaximumNumberOfValues > 1 ? $" [{argument.Name}...]" : argument.Arity.MinimumNumberOfValues == 0 ? $" [{argument.Name}]" : $" {argument.Name}");
        }
        usage.Append(" [options]");
        text.AppendLine(usage.ToString());
        if (command is RootCommand)
        {
            text.AppendLine("  hfdl REPO [FILES...] [options]       (short for hfdl download)");
        }
        text.AppendLine();

        var rows = new List<(string Section, string Left, string Right)>();
        foreach (var argument in command.Arguments.Where(a => !a.Hidden))
        {
            rows.Add(("Arguments", argument.Name, argument.Description ?? ""));
        }
        foreach (var sub in command.Subcommands.Where(c => !c.Hidden))
        {
            rows.Add(("Commands", sub.Name + string.Concat(sub.Arguments.Where(a => !a.Hidden).Select(a => " " + a.Name)), FirstSentence(sub.Description ?? "")));
        }
        var options = AllOptions(command).Where(o => !o.Hidden).ToList();
        var present = options.Select(o => Groups.TryGetValue(o, out var g) ? g : null).OfType<string>().ToHashSet();
        List<string> order;
        lock (GroupOrder)
        {
            order = [.. GroupOrder.Where(present.Contains)];
        }
        foreach (var group in order)
        {
            foreach (var option in options.Where(o => Groups.TryGetValue(o, out var g) && g == group))
            {
                rows.Add((group, OptionLabel(option), OptionDescription(option)));
            }
        }
        foreach (var option in options.Where(o => !Groups.TryGetValue(o, out _)))
        {
            rows.Add((order.Count > 0 ? "Other options" : "Options", OptionLabel(option), OptionDescription(option)));
        }

        var leftWidth = Math.Min(rows.Count == 0 ? 0 : rows.Max(r => r.Left.Length), 34);
        foreach (var section in rows.Select(r => r.Section).Distinct())
        {
            text.AppendLine(section + ":");
            foreach (var (_, left, right) in rows.Where(r => r.Section == section))
            {
                var indent = 2 + leftWidth + 2;
                if (left.Length > leftWidth)
                {
                    text.Append("  ").AppendLine(left);
                    text.Append(' ', indent).AppendLine(Wrap(right, width, indent));
                }
                else
                {
                    text.Append("  ").Append(left.PadRight(leftWidth + 2)).AppendLine(Wrap(right, width, indent));
                }
            }
            text.AppendLine();
        }

        if (CommandExamples.TryGetValue(command, out var examples) && examples.Length > 0)
        {
            text.AppendLine("Examples:");
            foreach (var example in examples)
            {
                text.Append("  ").AppendLine(example);
            }
            text.AppendLine();
        }
        return text.ToString();
    }

    private static IEnumerable<Option> AllOptions(Command command)
    {
        var seen = new HashSet<Option>();
        foreach (var option in command.Options)
        {
            if (seen.Add(option))
            {
                yield return option;
            }
        }
        // Recursive options of the parents (--help) apply here too.
        foreach (var parent in Ancestors(command))
        {
            foreach (var option in parent.Options.Where(o => o.Recursive))
            {
                if (seen.Add(option))
                {
                    yield return option;
                }
            }
        }
    }

    private static IEnumerable<Command> Ancestors(Command command)
    {
        var current = command.Parents.OfType<Command>().FirstOrDefault();
        while (current is not null)
        {
            yield return current;
            current = current.Parents.OfType<Command>().FirstOrDefault();
        }
    }

    /// <summary>The command as typed: <c>hfdl cache rm</c>.</summary>
    internal static string CommandPath(Command command)
    {
        var names = new List<string> { command is RootCommand ? "hfdl" : command.Name };
        names.InsertRange(0, Ancestors(command).Reverse().Select(c => c is RootCommand ? "hfdl" : c.Name));
        return string.Join(' ', names);
    }

    private static string OptionLabel(Option option)
    {
        var aliases = option.Aliases.Where(a => !a.Contains('_') && a != "-?" && !a.StartsWith('/')).Append(option.Name)
            .Distinct().OrderBy(a => a.StartsWith("--", StringComparison.Ordinal) ? 1 : 0).ThenBy(a => a.Length);
        var label = string.Join(", ", aliases);
        var takesValue = option.Arity.MaximumNumberOfValues > 0 && option.ValueType != typeof(bool);
        return takesValue ? $"{label} {option.HelpName ?? "VALUE"}" : label;
    }

    private static string OptionDescription(Option option)
    {
        var description = option.Description ?? "";
        if (option.HasDefaultValue && option.ValueType != typeof(bool) && option.GetDefaultValue() is { } value
            && !description.Contains("(default", StringComparison.Ordinal))
        {
            var text = Convert.ToString(value, CultureInfo.InvariantCulture);
            if (!string.IsNullOrEmpty(text))
            {
                var unit = option.HelpName switch
                {
                    "MB" => " MB",
                    "MB/s" => " MB/s",
                    "SECONDS" => " s",
                    "BYTES" => " bytes",
                    _ => "",
                };
                description += $" [default: {text}{unit}]";
            }
        }
        if (option.Arity.MaximumNumberOfValues > 1 && !description.Contains("repeatable", StringComparison.Ordinal))
        {
            description += " (repeatable)";
        }
        return description;
    }

    private static string FirstSentence(string text)
    {
        var end = text.IndexOf(". ", StringComparison.Ordinal);
        return end < 0 ? text : text[..(end + 1)];
    }

    /// <summary>
    /// Wraps at word boundaries; continuation lines are indented by <paramref name="indent"/>. Lines that start with
    /// spaces (examples, aligned on purpose) are kept as they are.
    /// </summary>
    private static string Wrap(string text, int width, int indent)
    {
        var room = Math.Max(20, width - indent);
        var result = new StringBuilder();
        foreach (var paragraph in text.Split('\n'))
        {
            if (result.Length > 0)
            {
                result.Append('\n').Append(' ', indent);
            }
            if (paragraph.StartsWith(' '))
            {
                result.Append(paragraph);
                continue;
            }
            var lineLength = 0;
            foreach (var word in paragraph.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            {
                if (lineLength > 0 && lineLength + 1 + word.Length > room)
                {
                    result.Append('\n').Append(' ', indent);
                    lineLength = 0;
                }
                else if (lineLength > 0)
                {
                    result.Append(' ');
                    lineLength++;
                }
                result.Append(word);
                lineLength += word.Length;
            }
        }
        return result.ToString();
    }
}
