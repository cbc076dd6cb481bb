using System.Runtime.InteropServices;
using Hfdl.Cli;

// .NET's console switches the terminal's keypad to application mode and never back; hfdl does, at exit.
TerminalKeypad.RestoreAtExit();

// Ctrl+C (SIGINT), SIGTERM (docker stop, timeout, systemd) and SIGHUP (the terminal closed) all ask every transfer to
// stop and let hfdl save its journal and say where it stopped; the exit code tells which signal it was (128 + its
// number). A second signal exits at once, and so does a run that has not stopped within a grace period of the first:
// a stop request is never ignored, whatever the run is blocked on.
StandardStreams.EnsureOpen();
using var interrupt = new CancellationTokenSource();
var interruption = new Interruption(interrupt, TimeSpan.FromSeconds(10));
Console.CancelKeyPress += (_, e) => e.Cancel = interruption.Stop(HfdlCommand.ExitInterrupted, "Interrupted");
using var terminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context => context.Cancel = interruption.Stop(HfdlCommand.ExitTerminated, "Stopped by SIGTERM"));
using var hangUp = PosixSignalRegistration.Create(PosixSignal.SIGHUP, context => context.Cancel = interruption.Stop(HfdlCommand.ExitHangUp, "Stopped by SIGHUP"));
return await HfdlCommand.RunAsync(args, CliContext.FromProcess(), interrupt.Token, interruption.Describe, say => interruption.BeforeForcedExit = say);

/// <summary>
/// The first stop signal cancels the run; a second one, or the end of the grace period, ends the process at once
/// (after <see cref="BeforeForcedExit"/> has said so: on stderr, and as the final JSON event).
/// </summary>
internal sealed class Interruption(CancellationTokenSource source, TimeSpan grace)
{
    private int _signals;
    private int _exiting;
    private (string Reason, int ExitCode) _stop = ("Interrupted", HfdlCommand.ExitInterrupted);
    private Timer? _deadline;

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
            source.Cancel();
            _deadline = new Timer(_ => Exit($"{reason}, and the run did not stop within {grace.TotalSeconds:0} s, so hfdl exits now. {ContinueAdvice}", exitCode), null, grace, Timeout.InfiniteTimeSpan);
            return true;
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
        Environment.Exit(exitCode);
    }

    public (string Reason, int ExitCode) Describe() => _stop;
}
