using System.Runtime.InteropServices;
using Hfdl.Cli;

// Ctrl+C (SIGINT), SIGTERM (docker stop, timeout, systemd) and SIGHUP (the terminal closed) all ask every transfer to
// stop and let hfdl save its journal and say where it stopped; the exit code tells which signal it was (128 + its
// number). A second signal exits at once.
using var interrupt = new CancellationTokenSource();
var interruption = new Interruption(interrupt);
Console.CancelKeyPress += (_, e) => e.Cancel = interruption.Stop(HfdlCommand.ExitInterrupted, "Interrupted");
using var terminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context => context.Cancel = interruption.Stop(HfdlCommand.ExitTerminated, "Stopped by SIGTERM"));
using var hangUp = PosixSignalRegistration.Create(PosixSignal.SIGHUP, context => context.Cancel = interruption.Stop(HfdlCommand.ExitHangUp, "Stopped by SIGHUP"));
return await HfdlCommand.RunAsync(args, CliContext.FromProcess(), interrupt.Token, interruption.Describe);

/// <summary>The first stop signal cancels the run; a second one ends the process at once.</summary>
internal sealed class Interruption(CancellationTokenSource source)
{
    private int _signals;
    private (string Reason, int ExitCode) _stop = ("Interrupted", HfdlCommand.ExitInterrupted);

    /// <summary>Returns true to keep the process alive (the run stops on its own).</summary>
    public bool Stop(int exitCode, string reason)
    {
        if (Interlocked.Increment(ref _signals) == 1)
        {
            _stop = (reason, exitCode);
            source.Cancel();
            return true;
        }
        Environment.Exit(exitCode);
        return false;
    }

    public (string Reason, int ExitCode) Describe() => _stop;
}
