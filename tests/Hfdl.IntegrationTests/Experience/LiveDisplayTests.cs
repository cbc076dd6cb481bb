using Hfdl.Cli.Output;
using Hfdl.Core.Hub;
using Hfdl.Core.Progress;
using Spectre.Console;

namespace Hfdl.IntegrationTests.Experience;

/// <summary>
/// The live display as a terminal shows it: <see cref="LiveProgress"/> runs on an ANSI console of a fixed width, and
/// the bytes it writes are played on a <see cref="TerminalScreen"/> (what stays on screen and in the scrollback).
/// </summary>
public sealed class LiveDisplayTests
{
    private const int Width = 80;

    private static readonly string[] LongNames = [.. Enumerable.Range(1, 4).Select(i => $"onnx/decoder_with_past_model_merged_quantized_variant_{i}.onnx_data")];

    [Fact]
    public async Task Lines_printed_above_the_live_display_cover_everything_it_left_there_when_they_wrap_or_hold_wide_characters()
    {
        var terminal = new Terminal(Width);
        var model = Planned("/data/t/long", LongNames.Append("验证集.json").Append("训练数据_第一部分.json"));
        var live = new LiveProgress(terminal.Console, verbose: false, model);
        live.Start();
        await terminal.WaitForAsync("active");

        DownloadEvent[] logged =
        [
            new FileCompleted(LongNames[1], 300_000, "git-sha1:" + new string('a', 40), TimeSpan.FromSeconds(1)),
            new FileCompleted("验证集.json", 150_000, "git-sha1:" + new string('b', 40), TimeSpan.FromSeconds(1)),
            new FileRetrying(LongNames[2], 2, "The Hub answered 503 (Service Unavailable).", TimeSpan.FromSeconds(1)),
            new FileFailed(LongNames[3], "The connection was reset 5 times."),
        ];
        foreach (var e in logged)
        {
            live.Report(e);
        }
        await terminal.WaitForAsync("✗");
        await live.DisposeAsync();

        // Whatever the rows the lines wrap into, nothing but their text is left: no piece of a bar, count or name.
        var screen = TerminalScreen.Render(terminal.Text, Width);
        var expected = logged.Select(e => Markup.Remove(ProgressView.LogLine(e, unicode: true, verbose: false)!));
        Assert.Equal(NoSpaces(expected), NoSpaces(screen));
    }

    [Fact]
    public async Task The_ctrl_c_a_terminal_echoes_after_the_last_row_fits_on_it_so_clearing_the_display_leaves_nothing()
    {
        // The header is as wide as the display gets (its target folder is cut to fit).
        var terminal = new Terminal(Width);
        var model = Planned("/data/" + string.Concat(Enumerable.Repeat("deep/", 30)) + "t/big", LongNames);
        var live = new LiveProgress(terminal.Console, verbose: false, model);
        live.Start();
        await terminal.WaitForAsync("active");
        await live.DisposeAsync();

        // Ctrl+C: the tty echoes "^C" where the cursor is, at the end of the last row, just before hfdl clears the
        // display (which starts with "\r" and erasing that row).
        var stream = terminal.Text;
        var clear = stream.LastIndexOf("\r\u001b[2K", StringComparison.Ordinal);
        Assert.True(clear > 0, "the display is cleared at the end");
        var screen = TerminalScreen.Render(stream.Insert(clear, "^C"), Width);

        Assert.Empty(screen);
    }

    [Fact]
    public async Task At_80_columns_a_file_row_shows_its_whole_name_beside_bar_bytes_and_speed()
    {
        // The row was "  ...fetensors ━───────    8.4 MB / 60.0 MB      2.1 MB/s" and then 20 blank columns: the names
        // were cut while the row still had room, which the README says comes last (QA: helper-49).
        var terminal = new Terminal(Width);
        var model = new ProgressModel();
        model.Report(new RevisionResolved(RepoType.Model, RepoId.Parse("t/model"), "main", new string('c', 40)));
        model.Report(new PlanReady("/data/t/model", 1, 60_000_000, 1, 60_000_000, 0, 500_000_000));
        model.Report(new FileStarted("model.safetensors", 60_000_000, IsBig: false));
        model.Report(new FileProgress("model.safetensors", 8_400_000, 60_000_000));
        var live = new LiveProgress(terminal.Console, verbose: false, model);
        live.Start();
        await terminal.WaitForAsync("active");

        // Each frame is drawn over the last: the screen as the terminal shows it once a frame has drawn the file's row.
        string? row = null;
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (row is null && DateTime.UtcNow < deadline)
        {
            row = TerminalScreen.Render(terminal.Text, Width).FirstOrDefault(r => r.StartsWith("  model.safetensors ", StringComparison.Ordinal) && r.EndsWith("/s", StringComparison.Ordinal));
            await Task.Delay(20);
        }
        await live.DisposeAsync();

        Assert.True(row is not null, "no row showed model.safetensors in full with its speed:\n" + string.Join('\n', TerminalScreen.Render(terminal.Text, Width)));
        Assert.Contains("8.4 MB / 60.0 MB", row, StringComparison.Ordinal);
        Assert.True(row.IndexOfAny(['━', '─']) > 0, row);
        Assert.True(row.Length <= Width, row);
    }

    private static ProgressModel Planned(string target, IEnumerable<string> files)
    {
        var model = new ProgressModel();
        model.Report(new RevisionResolved(RepoType.Model, RepoId.Parse("t/long"), "main", new string('c', 40)));
        var names = files.ToList();
        model.Report(new PlanReady(target, names.Count, names.Count * 300_000L, names.Count, names.Count * 300_000L, 0, 5_000_000));
        foreach (var name in names)
        {
            model.Report(new FileStarted(name, 300_000, IsBig: false));
            model.Report(new FileProgress(name, 120_000, 300_000));
        }
        return model;
    }

    private static string NoSpaces(IEnumerable<string> lines) => string.Concat(string.Concat(lines).Where(c => !char.IsWhiteSpace(c)));

    /// <summary>An ANSI, interactive, Unicode console of a fixed size whose output can be read while the display runs.</summary>
    private sealed class Terminal
    {
        private readonly LockedWriter _writer = new();

        public Terminal(int width)
        {
            Console = AnsiConsole.Create(new AnsiConsoleSettings
            {
                Out = new AnsiConsoleOutput(_writer),
                Ansi = AnsiSupport.Yes,
                ColorSystem = ColorSystemSupport.Standard,
                Interactive = InteractionSupport.Yes,
            });
            Console.Profile.Width = width;
            Console.Profile.Height = 40;
            Console.Profile.Capabilities.Unicode = true;
        }

        public IAnsiConsole Console { get; }

        public string Text => _writer.Text;

        public async Task WaitForAsync(string text)
        {
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
            while (!Text.Contains(text, StringComparison.Ordinal))
            {
                Assert.True(DateTime.UtcNow < deadline, $"the display never showed '{text}'");
                await Task.Delay(20);
            }
        }
    }

    private sealed class LockedWriter : StringWriter
    {
        private readonly Lock _gate = new();

        public string Text
        {
            get
            {
                lock (_gate)
                {
                    return ToString();
                }
            }
        }

        public override void Write(char value)
        {
            lock (_gate)
            {
                base.Write(value);
            }
        }

        public override void Write(string? value)
        {
            lock (_gate)
            {
                base.Write(value);
            }
        }

        public override void Write(char[] buffer, int index, int count)
        {
            lock (_gate)
            {
                base.Write(buffer, index, count);
            }
        }

        public override void Write(ReadOnlySpan<char> buffer)
        {
            lock (_gate)
            {
                base.Write(buffer);
            }
        }
    }
}
