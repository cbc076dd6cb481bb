using System.Runtime.InteropServices;
using Hfdl.Cli;

// .NET's console switches the terminal's keypad to application mode and never back; hfdl does, at exit.
TerminalKeypad.RestoreAtExit();

// Ctrl+C (SIGINT), SIGTERM (docker stop, timeout, systemd) and SIGHUP (the terminal closed) all ask every transfer to
// stop and let hfdl save its journal and say where it stopped; the exit code tells which signal it was (128 + its
// number). A second signal exits at once, and so does a run that has not stopped within a grace period of the first:
// a stop request is never ignored, whatever the run is blocked on. One request that arrives as several signals at once
// (`timeout` signals hfdl and its process group) is one stop, not a second.
StandardStreams.EnsureOpen();
using var interrupt = new CancellationTokenSource();
var interruption = new Interruption(interrupt, TimeSpan.FromSeconds(10), TimeProvider.System);
Console.CancelKeyPress += (_, e) => e.Cancel = interruption.Stop(HfdlCommand.ExitInterrupted, "Interrupted");
using var terminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context => context.Cancel = interruption.Stop(HfdlCommand.ExitTerminated, "Stopped by SIGTERM"));
using var hangUp = PosixSignalRegistration.Create(PosixSignal.SIGHUP, context => context.Cancel = interruption.Stop(HfdlCommand.ExitHangUp, "Stopped by SIGHUP"));
return await HfdlCommand.RunAsync(args, CliContext.FromProcess(), interrupt.Token, interruption.Describe, say => interruption.BeforeForcedExit = say);

/// <summary>
/// The first stop signal cancels the run; a second one, or the end of the grace period, ends the process at once
/// (after <see cref="BeforeForcedExit"/> has said so: on stderr, and as the final JSON event). Signals within
/// <see cref="SameRequest"/> of the first are that same request delivered again, not a second one.
/// </summary>
/// <param name="exit">Ends the process with an exit code (<see cref="Environment.Exit"/>; a test hears it instead).</param>
internal sealed class Interruption(CancellationTokenSource source, TimeSpan grace, TimeProvider time, Action<int>? exit = null)
{
    /// <summary>
    /// How long after the first stop signal was handled another one is the same request delivered twice. GNU
    /// <c>timeout</c> signals hfdl and then its process group, so hfdl is signalled twice within microseconds; so does a
    /// terminal's Ctrl+C under a wrapper that forwards it. The second is handled as soon as the signal thread runs again,
    /// which takes milliseconds, tens of them on a heavily loaded machine: 500 ms leaves a wide margin. A person's
    /// deliberate second Ctrl+C, after seeing that the run has not stopped yet (it stops within about a second), comes
    /// later than that; one pressed within the window is taken as the first, and a third press still exits at once.
    /// </summary>
    internal static readonly TimeSpan SameRequest = TimeSpan.FromMilliseconds(500);

    private int _signals;
    private int _exiting;
    // When the first signal's handling ended (the cancellation callbacks ran); 0 while it is being handled.
    private long _handled;
    private (string Reason, int ExitCode) _stop = ("Interrupted", HfdlCommand.ExitInterrupted);
    private ITimer? _deadline;

    /// <summary>What a forced exit says continues the run (the command replaces it where it does not hold: --force).</summary>
    internal const string ContinueAdvice = "Run the same command again to continue: what the journal recorded is kept.";

    /// <summary>Says why the process ends now (message, exit code); set by the command that runs.</summary>
    public Action<string, int>? BeforeForcedExit { get; set; }

    /// <summary>Returns true to keep the process alive (the run stops on its own).</summary>
    public bool Stop(int exitCode, string reason)
    {
        if (Interlocked.Increment(ref _signals) == 1)
        {
            _stop = (reason, exitCode);
            _deadline = time.CreateTimer(_ => Exit($"{reason}, and the run did not stop within {grace.TotalSeconds:0} s, so hfdl exits now. {ContinueAdvice}", exitCode), null, grace, Timeout.InfiniteTimeSpan);
            source.Cancel();
            Volatile.Write(ref _handled, Math.Max(1, time.GetTimestamp()));
            return true;
        }
        var handled = Volatile.Read(ref _handled);
        if (handled == 0 || time.GetElapsedTime(handled) < SameRequest)
        {
            return true; // The first request again (still being handled, or just now): not a second one.
        }
        Exit($"{reason} again: hfdl exits now. {ContinueAdvice}", exitCode);
        return false;
    }

    private void Exit(string message, int exitCode)
    {
        if (Interlocked.Exchange(ref _exiting, 1) == 0)
        {
            try
            {
                BeforeForcedExit?.Invoke(message, exitCode);
            }
            catch (Exception ex) when (ex is IOException or ObjectDisposedException)
            {
                // Nobody reads any more (the terminal is gone): the exit code still tells.
            }
        }
        (exit ?? Environment.Exit)(exitCode);
    }

    public (string Reason, int ExitCode) Describe() => _stop;
}
