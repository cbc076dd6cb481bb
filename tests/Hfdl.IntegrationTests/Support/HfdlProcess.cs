using System.Diagnostics;
using System.Text;

namespace Hfdl.IntegrationTests.Support;

/// <summary>The real <c>hfdl</c> program in a process of its own, for tests that kill or interrupt it.</summary>
public sealed class HfdlProcess : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _out = new();
    private readonly StringBuilder _error = new();

    private HfdlProcess(Process process)
    {
        _process = process;
    }

    public int Id => _process.Id;

    public string Out
    {
        get
        {
            lock (_out)
            {
                return _out.ToString();
            }
        }
    }

    public string Error
    {
        get
        {
            lock (_error)
            {
                return _error.ToString();
            }
        }
    }

    public static HfdlProcess Start(IReadOnlyDictionary<string, string?> environment, params string[] args) =>
        Start("dotnet", [Path.Combine(AppContext.BaseDirectory, "hfdl.dll"), .. args], environment);

    /// <summary>
    /// Starts hfdl from <c>/bin/sh</c> with <paramref name="redirections"/> applied to it (<c>&gt;&amp;-</c> closes its stdout).
    /// </summary>
    public static HfdlProcess StartWithRedirections(IReadOnlyDictionary<string, string?> environment, string redirections, params string[] args) =>
        Start("/bin/sh", ["-c", $"exec dotnet \"$0\" \"$@\" {redirections}", Path.Combine(AppContext.BaseDirectory, "hfdl.dll"), .. args], environment);

    private static HfdlProcess Start(string program, string[] args, IReadOnlyDictionary<string, string?> environment)
    {
        var info = new ProcessStartInfo(program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }
        foreach (var (name, value) in environment)
        {
            info.Environment[name] = value;
        }
        var process = new Process { StartInfo = info };
        var started = new HfdlProcess(process);
        process.OutputDataReceived += (_, e) => started.Append(started._out, e.Data);
        process.ErrorDataReceived += (_, e) => started.Append(started._error, e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return started;
    }

    private void Append(StringBuilder builder, string? line)
    {
        if (line is null)
        {
            return;
        }
        lock (builder)
        {
            builder.AppendLine(line);
        }
    }

    /// <summary>Waits until <paramref name="condition"/> holds, checking every 50 ms, or fails after <paramref name="timeout"/>.</summary>
    public async Task WaitUntilAsync(Func<bool> condition, TimeSpan timeout, string what)
    {
        var watch = Stopwatch.StartNew();
        while (!condition())
        {
            if (_process.HasExited)
            {
                throw new Xunit.Sdk.XunitException($"hfdl exited ({_process.ExitCode}) before {what}.\n{Error}");
            }
            if (watch.Elapsed > timeout)
            {
                throw new Xunit.Sdk.XunitException($"Timed out waiting for {what}.\n{Error}");
            }
            await Task.Delay(50);
        }
    }

    public void KillHard() => _process.Kill(entireProcessTree: true);

    /// <summary>Sends SIGINT, as Ctrl+C in a terminal does.</summary>
    public void Interrupt() => Signal("INT");

    /// <summary>Sends a signal by name (<c>INT</c>, <c>TERM</c>, <c>HUP</c>) with the real <c>kill</c>.</summary>
    /// <param name="times">How many times, back to back (one <c>kill</c> with the pid repeated: microseconds apart, as GNU <c>timeout</c> signals the process and then its group).</param>
    public void Signal(string name, int times = 1)
    {
        var pid = _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture);
        using var kill = Process.Start("kill", [$"-{name}", .. Enumerable.Repeat(pid, times)]);
        kill.WaitForExit();
    }

    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var cancel = new CancellationTokenSource(timeout);
        await _process.WaitForExitAsync(cancel.Token);
        _process.WaitForExit(); // flushes the output handlers
        return _process.ExitCode;
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
        }
        _process.Dispose();
    }
}
