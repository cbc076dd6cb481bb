using Hfdl.IntegrationTests.Support;

namespace Hfdl.IntegrationTests.Experience;

/// <summary>hfdl started with stdout or stderr closed (<c>&gt;&amp;-</c>, some service managers): it runs, and never aborts.</summary>
public sealed class ClosedStreamTests(ExperienceHub hub) : IClassFixture<ExperienceHub>, IDisposable
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(90);
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    private Dictionary<string, string?> Environment => new()
    {
        ["HF_ENDPOINT"] = hub.Server.Endpoint.ToString().TrimEnd('/'),
        ["HF_HOME"] = _temp.Combine("hf-home"),
        ["HOME"] = _temp.Combine("home"),
    };

    [Theory]
    [InlineData(">&-", "--json")]
    [InlineData(">&-", "-v")]
    [InlineData("2>&-", "-v")]
    [InlineData("2>&- >&-", "-q")]
    public async Task A_download_with_a_closed_stream_completes_and_exits_0(string redirections, string option)
    {
        // It aborted (exit 134, a stack trace) on its first write: .NET refuses a descriptor it cannot write.
        var target = _temp.Combine("out");
        using var hfdl = HfdlProcess.StartWithRedirections(Environment, redirections, "download", "acme/plain", "--local-dir", target, option);

        var exitCode = await hfdl.WaitForExitAsync(Patience);

        Assert.True(exitCode == 0, $"exit {exitCode}\n{hfdl.Out}\n{hfdl.Error}");
        Assert.DoesNotContain("Unhandled exception", hfdl.Error, StringComparison.Ordinal);
        Assert.True(File.Exists(Path.Combine(target, "model.safetensors")));
        if (redirections == "2>&-")
        {
            Assert.Equal(target, hfdl.Out.Trim());
        }
    }

    [Fact]
    public async Task An_error_with_stdout_closed_is_said_on_stderr_with_its_exit_code()
    {
        using var hfdl = HfdlProcess.StartWithRedirections(Environment, ">&-", "download", "acme/does-not-exist", "--local-dir", _temp.Combine("x"), "--json");

        var exitCode = await hfdl.WaitForExitAsync(Patience);

        Assert.Equal(1, exitCode);
        Assert.Contains("acme/does-not-exist", hfdl.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("Unhandled exception", hfdl.Error, StringComparison.Ordinal);
    }
}
