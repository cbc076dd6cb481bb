using Hfdl.IntegrationTests.Support;

namespace Hfdl.IntegrationTests.Security;

/// <summary>Every refusal of the Hub becomes one paragraph that says what to do, names the token's source, and never shows the token.</summary>
[Collection(SecurityCollection.Name)]
public sealed class AuthErrorTests(SecurityHub hub) : IClassFixture<SecurityHub>, IDisposable
{
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    private async Task<CliResult> DownloadAsync(string repo, Action<CliRunner>? setup = null, params string[] extra)
    {
        var cli = new CliRunner(hub.Server, _temp);
        setup?.Invoke(cli);
        var result = await cli.RunAsync(["download", repo, "--local-dir", _temp.Combine("out"), .. extra]);
        Assert.Equal(1, result.ExitCode);
        foreach (var token in new[] { SecurityHub.AliceToken, SecurityHub.BobToken, SecurityHub.CarolToken, "hf_NotAKnownToken000000000000000000" })
        {
            Assert.DoesNotContain(token, result.All, StringComparison.Ordinal);
        }
        Assert.DoesNotContain("   at ", result.Error, StringComparison.Ordinal);
        return result;
    }

    [Fact]
    public async Task A_private_repo_without_a_token_says_not_found_or_private_and_how_to_log_in()
    {
        var result = await DownloadAsync("alice/private-direct");

        Assert.Contains("not found, or it is private", result.Error, StringComparison.Ordinal);
        Assert.Contains("`hfdl login`", result.Error, StringComparison.Ordinal);
        Assert.Contains("HF_TOKEN", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_private_repo_with_a_token_without_access_names_the_token_source()
    {
        var result = await DownloadAsync("alice/private-direct", c => c.Environment["HF_TOKEN"] = SecurityHub.CarolToken);

        Assert.Contains("not found, or it is private", result.Error, StringComparison.Ordinal);
        Assert.Contains("HF_TOKEN environment variable", result.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("login", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_invalid_token_from_the_command_line_is_named_as_rejected()
    {
        var result = await DownloadAsync("acme/public", null, "--token", "hf_NotAKnownToken000000000000000000");

        Assert.Contains("rejected the token given with --token", result.Error, StringComparison.Ordinal);
        Assert.Contains("invalid or expired", result.Error, StringComparison.Ordinal);
        // A token on the command line overrides any login: logging in again would change nothing (QA: helper-35).
        Assert.Contains("Give a valid one", result.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("hfdl login", result.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("log in again", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_invalid_token_from_the_legacy_variable_is_named_as_rejected()
    {
        var result = await DownloadAsync("acme/public", c => c.Environment["HUGGING_FACE_HUB_TOKEN"] = "hf_NotAKnownToken000000000000000000");

        Assert.Contains("rejected the token in the HUGGING_FACE_HUB_TOKEN environment variable", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_invalid_HF_TOKEN_is_to_be_fixed_or_unset_not_overridden_by_a_login()
    {
        var result = await DownloadAsync("acme/public", c => c.Environment["HF_TOKEN"] = "hf_NotAKnownToken000000000000000000");

        Assert.Contains("rejected the token in the HF_TOKEN environment variable", result.Error, StringComparison.Ordinal);
        Assert.Contains("or unset HF_TOKEN: it overrides any saved token.", result.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("hfdl login", result.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("log in", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_invalid_token_from_the_file_names_the_file()
    {
        var tokenFile = _temp.Combine("hf-home", "token");
        Directory.CreateDirectory(Path.GetDirectoryName(tokenFile)!);
        File.WriteAllText(tokenFile, "hf_NotAKnownToken000000000000000000\n");

        var result = await DownloadAsync("acme/public");

        Assert.Contains($"rejected the token in {tokenFile}", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_gated_repo_without_a_token_names_the_page_where_access_is_requested()
    {
        var result = await DownloadAsync("acme/gated");

        Assert.Contains("is gated", result.Error, StringComparison.Ordinal);
        Assert.Contains($"{hub.Endpoint}/acme/gated", result.Error, StringComparison.Ordinal);
        Assert.Contains("`hfdl login`", result.Error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("HF_TOKEN")]
    [InlineData("--token")]
    public async Task A_gated_repo_with_a_pending_request_says_it_is_pending_and_only_to_wait(string how)
    {
        var result = how == "HF_TOKEN"
            ? await DownloadAsync("acme/gated", c => c.Environment["HF_TOKEN"] = SecurityHub.BobToken)
            : await DownloadAsync("acme/gated", null, "--token", SecurityHub.BobToken);

        Assert.Contains("pending", result.Error, StringComparison.Ordinal);
        Assert.Contains($"Wait for approval on {hub.Endpoint}/acme/gated", result.Error, StringComparison.Ordinal);
        // It went on "Log in with `hfdl login` (or set HF_TOKEN, or give --token).", to a user whose token it had sent.
        Assert.DoesNotContain("login", result.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("Log in", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_gated_repo_without_a_request_says_where_to_ask_and_for_which_token()
    {
        var result = await DownloadAsync("acme/gated", c => c.Environment["HF_TOKEN"] = SecurityHub.CarolToken);

        Assert.Contains($"Request access on {hub.Endpoint}/acme/gated", result.Error, StringComparison.Ordinal);
        Assert.Contains("HF_TOKEN environment variable", result.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("pending", result.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("Log in", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_disabled_repo_says_so()
    {
        var result = await DownloadAsync("acme/disabled", c => c.Environment["HF_TOKEN"] = SecurityHub.AliceToken);

        Assert.Contains("has been disabled", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_public_repo_is_downloaded_without_sending_any_token()
    {
        var cli = new CliRunner(hub.Server, _temp);
        var before = hub.Server.Requests.Count;

        var result = await cli.RunAsync("download", "acme/public", "--local-dir", _temp.Combine("out"));

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.All(hub.Server.Requests.Snapshot().Skip(before), r => Assert.Null(r.Authorization));
    }
}
