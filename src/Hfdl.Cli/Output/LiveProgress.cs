using Hfdl.Core.Progress;
using Spectre.Console;

namespace Hfdl.Cli.Output;

/// <summary>
/// The live display on a terminal: redrawn at a steady rate (5 times a second) from a <see cref="ProgressModel"/>
/// snapshot, whatever the rate of events; finished, failed and retried files are printed above it as they happen.
/// Events are only recorded on the reporting threads; all drawing happens on the refresh loop.
/// </summary>
internal sealed class LiveProgress : IProgress<DownloadEvent>, IAsyncDisposable
{
    public static readonly TimeSpan RefreshInterval = TimeSpan.FromMilliseconds(200);

    private readonly IAnsiConsole _console;
    private readonly bool _verbose;
    private readonly CancellationTokenSource _stop = new();
    private Task? _loop;
    private int _disposed;

    public LiveProgress(IAnsiConsole console, bool verbose, ProgressModel? model = null)
    {
        _console = console;
        _verbose = verbose;
        Model = model ?? new ProgressModel();
    }

    public ProgressModel Model { get; }

    public IAnsiConsole Console => _console;

    public void Report(DownloadEvent value) => Model.Report(value);

    public void Start() => _loop ??= Task.Run(RunAsync);

    private async Task RunAsync()
    {
        var unicode = _console.Profile.Capabilities.Unicode;
        await _console.Live(Text.Empty)
            .AutoClear(true)
            .Overflow(VerticalOverflow.Ellipsis)
            .Cropping(VerticalOverflowCropping.Bottom)
            .StartAsync(async context =>
            {
                while (true)
                {
                    var stopping = _stop.IsCancellationRequested;
                    var width = DrawnWidth(_console.Profile.Width);
                    var log = Model.DrainLog().Select(e => ProgressView.LogLine(e, unicode, _verbose)).OfType<string>().ToList();
                    if (log.Count > 0)
                    {
                        // One write for all of them: each write redraws the live area below it. Spectre moves the
                        // cursor up without erasing, so every row they take is padded to the width the live area
                        // uses, in terminal cells, to cover what it left there.
                        _console.Write(ProgressView.LogRows(log, width));
                    }
                    context.UpdateTarget(ProgressView.Live(Model.Snapshot(), width, unicode));
                    if (stopping)
                    {
                        break;
                    }
                    try
                    {
                        await Task.Delay(RefreshInterval, _stop.Token).ConfigureAwait(false);
                    }
                    catch (OperationCanceledException)
                    {
                        // One last frame, then stop.
                    }
                }
            }).ConfigureAwait(false);
    }

    /// <summary>
    /// The width of the live area and of the lines printed above it (the same, so the lines cover every cell it can
    /// have drawn): two columns short of the terminal's. The cursor waits at the end of the live area's last row, and
    /// that is where the terminal echoes the <c>^C</c> of a Ctrl+C; on a row that reaches the last column or the one
    /// before it, the echo wraps onto a new row, and clearing the display, which moves up from where the cursor is, then
    /// leaves its top row on the screen.
    /// </summary>
    private static int DrawnWidth(int terminalWidth) => Math.Max(1, terminalWidth - 2);

    /// <summary>Stops the refresh loop after a last frame and clears the live area (the log lines stay).</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }
        await _stop.CancelAsync().ConfigureAwait(false);
        if (_loop is not null)
        {
            try
            {
                await _loop.ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is IOException or InvalidOperationException)
            {
                // A display problem (closed terminal) must not turn a good download into a failure.
            }
        }
        _stop.Dispose();
    }
}
