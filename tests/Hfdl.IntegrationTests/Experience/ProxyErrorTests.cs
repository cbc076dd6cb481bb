using Hfdl.IntegrationTests.Support;

namespace Hfdl.IntegrationTests.Experience;

/// <summary>hfdl in a process of its own with a proxy in its environment (.NET reads it once per process).</summary>
public sealed class ProxyErrorTests(ExperienceHub hub) : IClassFixture<ExperienceHub>, IDisposable
{
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public async Task A_proxy_that_cannot_be_reached_is_named_not_the_endpoint_and_its_password_is_not_shown()
    {
        // With HTTP_PROXY down, the error said the Hub endpoint refused the connection (QA: helper-35).
        var environment = new Dictionary<string, string?>
        {
            ["HF_ENDPOINT"] = hub.Server.Endpoint.ToString().TrimEnd('/'),
            ["HF_HOME"] = _temp.Combine("hf-home"),
            ["HOME"] = _temp.Combine("home"),
            ["HTTP_PROXY"] = "http://someone:s3cret@127.0.0.1:9",
        };
        using var hfdl = HfdlProcess.Start(environment, "ls", "acme/plain");

        var exitCode = await hfdl.WaitForExitAsync(TimeSpan.FromSeconds(90));

        Assert.Equal(1, exitCode);
        Assert.Contains($"Could not reach {hub.Server.Endpoint.ToString().TrimEnd('/')} through the proxy http://127.0.0.1:9", hfdl.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("s3cret", hfdl.Error, StringComparison.Ordinal);
    }
}
