using Hfdl.Cli;

// The first Ctrl+C asks every transfer to stop and lets hfdl save its state; a second one exits at once.
using var interrupt = new CancellationTokenSource();
var interrupts = 0;
Console.CancelKeyPress += (_, e) =>
{
    if (Interlocked.Increment(ref interrupts) == 1)
    {
        e.Cancel = true;
        interrupt.Cancel();
    }
    else
    {
        Environment.Exit(HfdlCommand.ExitInterrupted);
    }
};
return await HfdlCommand.RunAsync(args, CliContext.FromProcess(), interrupt.Token);
