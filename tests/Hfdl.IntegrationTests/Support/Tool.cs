using System.Diagnostics;

namespace Hfdl.IntegrationTests.Support;

/// <summary>Runs a system tool (mount, stat) to set up or look at what a test needs, and returns what it said.</summary>
public static class Tool
{
    /// <summary>The tool's exit code and its stdout followed by its stderr.</summary>
    public static (int Code, string Output) Run(string file, params string[] args)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }
        using var process = Process.Start(info)!;
        // stderr is read on its own task: a tool that fills one pipe while the other is read would block for ever.
        var error = process.StandardError.ReadToEndAsync();
        var output = process.StandardOutput.ReadToEnd() + error.GetAwaiter().GetResult();
        process.WaitForExit();
        return (process.ExitCode, output);
    }
}
