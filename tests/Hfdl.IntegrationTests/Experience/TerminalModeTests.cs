using System.Diagnostics;
using System.Text;

namespace Hfdl.IntegrationTests.Experience;

/// <summary>The real <c>hfdl</c> program in a pseudo-terminal (util-linux <c>script</c>): what it leaves the terminal in.</summary>
public sealed class TerminalModeTests
{
    private const string KeypadTransmit = "\u001b[?1h\u001b=";
    private const string KeypadLocal = "\u001b[?1l\u001b>";

    [Fact]
    public async Task The_keypad_mode_dotnet_switches_on_is_switched_back_at_exit_whether_the_output_goes_to_the_terminal_or_not()
    {
        if (!OperatingSystem.IsLinux())
        {
            return; // script's options are util-linux's
        }
        var hfdl = Path.Combine(AppContext.BaseDirectory, "hfdl.dll");
        foreach (var redirect in new[] { "", " >/dev/null 2>&1" })
        {
            var stream = await InTerminalAsync($"dotnet '{hfdl}' --version{redirect}");
            Assert.Equal(redirect.Length == 0, stream.Contains("hfdl ", StringComparison.Ordinal));

            // .NET writes keypad_xmit when the console is first used (to stdout, or to stdin when stdout is not the
            // terminal); keypad_local must come after it, or the shell's cursor keys are left in application mode.
            Assert.True(stream.LastIndexOf(KeypadLocal, StringComparison.Ordinal) > stream.LastIndexOf(KeypadTransmit, StringComparison.Ordinal),
                $"hfdl --version{redirect} left the keypad in application mode: {stream.Replace("\u001b", "\\e", StringComparison.Ordinal)}");
        }
    }

    /// <summary>What a terminal receives while <paramref name="command"/> runs in it (xterm-256color).</summary>
    private static async Task<string> InTerminalAsync(string command)
    {
        var info = new ProcessStartInfo("script")
        {
            RedirectStandardOutput = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[] { "-qfec", command, "/dev/null" })
        {
            info.ArgumentList.Add(arg);
        }
        info.Environment["TERM"] = "xterm-256color";
        using var process = Process.Start(info)!;
        process.StandardInput.Close();
        using var output = new MemoryStream();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.StandardOutput.BaseStream.CopyToAsync(output, timeout.Token);
        await process.WaitForExitAsync(timeout.Token);
        return Encoding.Latin1.GetString(output.ToArray());
    }
}
