using System.Text;
using System.Text.Json;
using Hfdl.Cli.Output;
using Hfdl.Core.Hub;
using Hfdl.Core.Storage;
using Hfdl.Hub.Server;
using Hfdl.IntegrationTests.Support;
using Spectre.Console.Testing;

namespace Hfdl.IntegrationTests.Security;

/// <summary>
/// Text from a server or a file never reaches the terminal raw: file names with bidirectional overrides, zero-width
/// and other format characters, escape sequences, and a planted lock-holder note show as visible escapes in every kind
/// of output (plain lines, the live display, tables, errors), while files on disk and <c>--json</c> keep the exact names.
/// </summary>
[Collection(SecurityCollection.Name)]
public sealed class TerminalEscapeTests : IDisposable
{
    /// <summary>Names a real repo may hold (RepoFilePath accepts them), each hiding or reordering what it shows.</summary>
    private static readonly (string Name, string Shown)[] HostileNames =
    [
        ("a\u202Eexe.txt", "a\\u202Eexe.txt"),
        ("zero\u200Bwidth.txt", "zero\\u200Bwidth.txt"),
        ("joiner\u200D\u200E\u200F.txt", "joiner\\u200D\\u200E\\u200F.txt"),
        ("bom\uFEFF.txt", "bom\\uFEFF.txt"),
        ("iso\u2066x\u2069.txt", "iso\\u2066x\\u2069.txt"),
        ("embed\u202A\u202B\u202C\u202D.txt", "embed\\u202A\\u202B\\u202C\\u202D.txt"),
        ("alm\u061C.txt", "alm\\u061C.txt"),
        ("soft\u00ADhyphen.txt", "soft\\u00ADhyphen.txt"),
        ("tag\U000E0041.txt", "tag\\U000E0041.txt"),
        ("hangul\u3164.txt", "hangul\\u3164.txt"),
        ("line\u2028sep.txt", "line\\u2028sep.txt"),
        ("plain-é-日本.txt", "plain-é-日本.txt"),
    ];

    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    private string Target => _temp.Combine("out");

    private static InMemoryRepoStore Store(params string[] names) =>
        new InMemoryRepoStore().AddRepo(RepoType.Model, "acme/names", repo =>
        {
            foreach (var name in names)
            {
                repo.File(name, name + "\n");
            }
        });

    private static Task<HubServer> StartAsync(params string[] names) => HubServer.StartAsync(new HubServerOptions { Store = Store(names) });

    /// <summary>No control character but the line break, and no invisible or reordering character, anywhere.</summary>
    private static void AssertTerminalSafe(string output, string what)
    {
        foreach (var rune in output.EnumerateRunes())
        {
            Assert.False(rune.Value != '\n' && SafeText.IsHidden(rune), $"{what} holds U+{rune.Value:X4} raw:\n{output}");
        }
    }

    [Fact]
    public async Task Hostile_names_show_escaped_in_the_plain_progress_and_the_files_keep_their_names()
    {
        await using var server = await StartAsync([.. HostileNames.Select(n => n.Name)]);

        var result = await new CliRunner(server, _temp).RunAsync("download", "acme/names", "--local-dir", Target);

        Assert.True(result.ExitCode == 0, result.ToString());
        AssertTerminalSafe(result.Out, "stdout");
        AssertTerminalSafe(result.Error, "stderr");
        Assert.All(HostileNames, n => Assert.Contains($"done     {n.Shown} (", result.Error, StringComparison.Ordinal));
        Assert.All(HostileNames, n => Assert.Equal(n.Name + "\n", File.ReadAllText(Path.Combine(Target, n.Name))));
    }

    [Fact]
    public async Task Hostile_names_show_escaped_in_ls_and_the_dry_run_table_and_exact_in_json()
    {
        await using var server = await StartAsync([.. HostileNames.Select(n => n.Name)]);
        var cli = new CliRunner(server, _temp);

        var ls = await cli.RunAsync("ls", "acme/names");
        var plan = await cli.RunAsync("download", "acme/names", "--local-dir", Target, "--dry-run");
        var json = await cli.RunAsync("ls", "acme/names", "--json");

        foreach (var (result, what) in new[] { (ls, "ls"), (plan, "dry run"), (json, "ls --json") })
        {
            Assert.True(result.ExitCode == 0, result.ToString());
            AssertTerminalSafe(result.Out, $"{what} stdout");
            AssertTerminalSafe(result.Error, $"{what} stderr");
        }
        Assert.All(HostileNames, n => Assert.Contains($"  {n.Shown}\n", ls.Out, StringComparison.Ordinal));
        Assert.All(HostileNames, n => Assert.Contains(n.Shown, plan.Out, StringComparison.Ordinal));
        using var listing = JsonDocument.Parse(json.Out);
        var paths = listing.RootElement.GetProperty("files").EnumerateArray().Select(f => f.GetProperty("path").GetString()!).ToHashSet();
        Assert.Equal(HostileNames.Select(n => n.Name).ToHashSet(), paths);
        Assert.Contains("\\u202E", json.Out, StringComparison.Ordinal);
        Assert.Contains("plain-é-日本.txt", json.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Hostile_names_show_escaped_in_the_live_display_and_its_summary()
    {
        await using var server = await StartAsync([.. HostileNames.Select(n => n.Name)]);
        var console = new TestConsole().Width(200);
        console.Profile.Capabilities.Unicode = true;
        var runner = new Hfdl.IntegrationTests.Experience.ExperienceRunner(server, _temp) { IsTerminal = true, ErrorConsole = console };

        var result = await runner.RunAsync("download", "acme/names", "--local-dir", Target);

        Assert.True(result.ExitCode == 0, result.ToString());
        AssertTerminalSafe(console.Output, "the live display");
        Assert.All(HostileNames, n => Assert.Contains($"✓ {n.Shown}", console.Output, StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_name_with_an_escape_sequence_is_refused_and_quoted_escaped()
    {
        await using var server = await StartAsync("x\u001b[2J\u001b]0;pwned\u0007.txt", "ok.txt");

        var plain = await new CliRunner(server, _temp).RunAsync("download", "acme/names", "--local-dir", Target);
        var json = await new CliRunner(server, _temp).RunAsync("download", "acme/names", "--local-dir", Target, "--json");

        Assert.Equal(1, plain.ExitCode);
        AssertTerminalSafe(plain.All, "the error");
        Assert.Contains("'x\\x1b[2J\\x1b]0;pwned\\x07.txt'", plain.Error, StringComparison.Ordinal);
        AssertTerminalSafe(json.All, "the JSON error");
        Assert.Equal(1, json.ExitCode);
    }

    [Fact]
    public async Task A_planted_lock_holder_note_is_shown_escaped()
    {
        await using var server = await StartAsync("ok.txt");
        Directory.CreateDirectory(Target);
        var holderLock = await RepoFolderLock.AcquireAsync(Target, null, TimeProvider.System, CancellationToken.None);
        await File.WriteAllTextAsync(Path.Combine(Target, ".hfdl.lock.info"), "pid 1\u001b[2J\u001b[31m on \u202Eevil\u0007");
        var environment = new Dictionary<string, string?>
        {
            ["HF_ENDPOINT"] = server.Endpoint.ToString().TrimEnd('/'),
            ["HF_HOME"] = _temp.Combine("hf-home"),
            ["HOME"] = _temp.Combine("home"),
        };
        using var hfdl = HfdlProcess.Start(environment, "download", "acme/names", "--local-dir", Target);
        try
        {
            await hfdl.WaitUntilAsync(() => hfdl.Error.Contains("Another hfdl", StringComparison.Ordinal), TimeSpan.FromSeconds(60), "the wait for the lock");
        }
        finally
        {
            holderLock.Dispose();
        }

        var code = await hfdl.WaitForExitAsync(TimeSpan.FromSeconds(60));

        Assert.True(code == 0, hfdl.Error);
        AssertTerminalSafe(hfdl.Error, "stderr");
        Assert.Contains("(pid 1\\x1b[2J\\x1b[31m on \\u202Eevil\\x07)", hfdl.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void Json_events_escape_every_hidden_character_and_keep_the_text_exact()
    {
        var hostile = string.Concat(HostileNames.Select(n => n.Name)) + "\u001b[2J\u007F\u0085\u0000\uD800 quotes ' \" <tag> & + é 日本";
        var output = new StringWriter();

        new JsonEvents(output).Write("warning", w => w.WriteString("message", hostile));

        AssertTerminalSafe(output.ToString().TrimEnd('\n'), "the JSON line");
        using var parsed = JsonDocument.Parse(output.ToString());
        // A lone surrogate is not text: the writer puts the visible U+FFFD in its place, as UTF-8 requires.
        Assert.Equal(hostile.Replace('\uD800', '\uFFFD'), parsed.RootElement.GetProperty("message").GetString());
        Assert.Contains("' \\\" <tag> & + é 日本", output.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Json_messages_carry_a_servers_control_characters_escaped_so_jq_r_cannot_replay_them()
    {
        // Paths are data and stay exact; messages are words for people, escaped as the terminal output shows them.
        var output = new StringWriter();
        var progress = new JsonProgress(new JsonEvents(output));

        progress.Report(new Hfdl.Core.Progress.Warning("The server said \u001b]0;PWNED\u0007\u001b[2J."));
        progress.Report(new Hfdl.Core.Progress.FileFailed("x\u202E.txt", "The server said \u001b[2J."));

        var events = output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement.Clone()).ToList();
        Assert.Equal("The server said \\x1b]0;PWNED\\x07\\x1b[2J.", events[0].GetProperty("message").GetString());
        Assert.Equal("The server said \\x1b[2J.", events[1].GetProperty("message").GetString());
        Assert.Equal("x\u202E.txt", events[1].GetProperty("path").GetString());
    }

    [Fact]
    public void The_terminal_writer_escapes_whatever_it_is_given_and_keeps_line_breaks()
    {
        var inner = new StringWriter { NewLine = "\n" };
        var writer = TerminalText.Wrap(inner);

        writer.Write('\u001b');
        writer.Write("[2J\u202E".AsSpan());
        writer.WriteLine("x\ny\r\nz\rw");
        writer.Write(new[] { 'a', '\u200B' }, 0, 2);
        writer.Write("emoji \uD83D");
        writer.Write("\uDE00 whole, lone \uD800");
        writer.Flush();

        Assert.Equal("\\x1b[2J\\u202Ex\ny\r\nz\\x0dw\na\\u200Bemoji \U0001F600 whole, lone \\uD800", inner.ToString());
        Assert.Same(inner, TerminalText.Unwrap(writer));
        Assert.Same(writer, TerminalText.Wrap(writer));
    }
}
