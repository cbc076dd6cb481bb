using System.Text.RegularExpressions;

namespace Hfdl.Core.Tests.Api;

/// <summary>
/// Option names and commands belong to the command line, not to the library: no text in Hfdl.Core's source (outside
/// comments) names a command-line option (<c>--threads</c>) or an <c>hfdl</c> command; the CLI adds its own hints.
/// </summary>
public sealed partial class CoreMessagesTests
{
    [GeneratedRegex("\"[^\"\\n]*(--[a-z][a-z-]+|`hfdl [a-z]|hfdl (login|logout|ls|download|cache|auth)\\b)[^\"\\n]*\"")]
    private static partial Regex CliWords();

    [Fact]
    public void No_message_of_the_library_names_a_command_line_option_or_command()
    {
        var root = new DirectoryInfo(AppContext.BaseDirectory);
        while (root is not null && !File.Exists(Path.Combine(root.FullName, "Hfdl.slnx")))
        {
            root = root.Parent;
        }
        Assert.NotNull(root);
        var offenders = new List<string>();
        foreach (var file in Directory.EnumerateFiles(Path.Combine(root.FullName, "src", "Hfdl.Core"), "*.cs", SearchOption.AllDirectories))
        {
            if (file.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
            {
                continue;
            }
            var lines = File.ReadAllLines(file);
            for (var i = 0; i < lines.Length; i++)
            {
                var line = lines[i].TrimStart();
                if (!line.StartsWith("//", StringComparison.Ordinal) && CliWords().IsMatch(line))
                {
                    offenders.Add($"{Path.GetRelativePath(root.FullName, file)}:{i + 1}: {line}");
                }
            }
        }
        Assert.True(offenders.Count == 0, "Core names command-line options or commands in:\n" + string.Join("\n", offenders));
    }
}
