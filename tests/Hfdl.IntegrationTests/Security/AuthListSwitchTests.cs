using Hfdl.IntegrationTests.Support;

namespace Hfdl.IntegrationTests.Security;

/// <summary>
/// <c>hfdl auth list|switch|login|logout|whoami</c> on the files <c>hf auth</c> uses (the token file and
/// <c>stored_tokens</c> in a temporary HF_HOME), against a real Hfdl.Hub; no output ever holds a token.
/// </summary>
[Collection(SecurityCollection.Name)]
public sealed class AuthListSwitchTests(SecurityHub hub) : IClassFixture<SecurityHub>, IDisposable
{
    private const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    private CliRunner Cli() => new(hub.Server, _temp);

    private string HfHome => _temp.Combine("hf-home");

    private string TokenFile => Path.Combine(HfHome, "token");

    private string StoredTokens => Path.Combine(HfHome, "stored_tokens");

    private static void NoToken(CliResult result)
    {
        foreach (var token in new[] { SecurityHub.AliceToken, SecurityHub.BobToken, SecurityHub.CarolToken })
        {
            Assert.DoesNotContain(token, result.All, StringComparison.Ordinal);
        }
    }

    /// <summary>stored_tokens as huggingface_hub writes it, with alice's token active.</summary>
    private void TwoStoredTokens()
    {
        Directory.CreateDirectory(HfHome);
        File.WriteAllText(StoredTokens, $"[alice-read]\nhf_token = {SecurityHub.AliceToken}\n\n[bob-write]\nhf_token = {SecurityHub.BobToken}\n\n");
        File.WriteAllText(TokenFile, SecurityHub.AliceToken);
    }

    [Fact]
    public async Task List_shows_names_and_masked_tokens_as_hf_does_and_marks_the_active_one()
    {
        TwoStoredTokens();

        var list = await Cli().RunAsync("auth", "list");

        Assert.True(list.ExitCode == 0, list.ToString());
        Assert.Equal(
            "  name        | token\n" +
            "--------------|---------------\n" +
            "* alice-read  | hf_****cdef\n" +
            "  bob-write   | hf_****efgh\n",
            list.Out.ReplaceLineEndings("\n"));
        NoToken(list);
        var alias = await Cli().RunAsync("auth", "ls");
        Assert.Equal(list.Out, alias.Out);
    }

    [Fact]
    public async Task Switch_makes_a_stored_token_the_active_one_for_hfdl_and_huggingface_hub()
    {
        TwoStoredTokens();
        var storedBefore = File.ReadAllText(StoredTokens);

        var switched = await Cli().RunAsync("auth", "switch", "bob-write");

        Assert.True(switched.ExitCode == 0, switched.ToString());
        Assert.Contains("bob-write", switched.Error, StringComparison.Ordinal);
        Assert.Contains(TokenFile, switched.Error, StringComparison.Ordinal);
        NoToken(switched);
        Assert.Equal(SecurityHub.BobToken, File.ReadAllText(TokenFile));
        Assert.Equal(storedBefore, File.ReadAllText(StoredTokens));
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(OwnerOnly, File.GetUnixFileMode(TokenFile));
        }
        var whoami = await Cli().RunAsync("auth", "whoami");
        Assert.True(whoami.ExitCode == 0, whoami.ToString());
        Assert.StartsWith("bob\n", whoami.Out.ReplaceLineEndings("\n"), StringComparison.Ordinal);
        var list = await Cli().RunAsync("auth", "list");
        Assert.Contains("* bob-write", list.Out, StringComparison.Ordinal);
        Assert.Contains("  alice-read", list.Out, StringComparison.Ordinal);

        // hf's spelling of the same.
        var back = await Cli().RunAsync("auth", "switch", "--token-name", "alice-read");
        Assert.True(back.ExitCode == 0, back.ToString());
        Assert.Equal(SecurityHub.AliceToken, File.ReadAllText(TokenFile));
        NoToken(back);
    }

    [Fact]
    public async Task Switch_to_an_unknown_name_changes_nothing_and_says_where_the_names_are()
    {
        TwoStoredTokens();

        var result = await Cli().RunAsync("auth", "switch", "carol");

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("'carol'", result.Error, StringComparison.Ordinal);
        Assert.Contains(StoredTokens, result.Error, StringComparison.Ordinal);
        Assert.Contains("hfdl auth list", result.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("List the saved tokens", result.Error, StringComparison.Ordinal); // the advice once, in the command's words
        Assert.Equal(SecurityHub.AliceToken, File.ReadAllText(TokenFile));
    }

    [Fact]
    public async Task Switch_without_a_name_asks_at_a_terminal_and_elsewhere_names_the_choices()
    {
        TwoStoredTokens();
        var cli = Cli();

        var noTerminal = await cli.RunAsync("auth", "switch");

        Assert.Equal(2, noTerminal.ExitCode);
        Assert.Contains("alice-read, bob-write", noTerminal.Error, StringComparison.Ordinal);
        NoToken(noTerminal);
        Assert.Equal(SecurityHub.AliceToken, File.ReadAllText(TokenFile));

        cli.Prompt = _ => "2";
        var asked = await cli.RunAsync("auth", "switch");

        Assert.True(asked.ExitCode == 0, asked.ToString());
        Assert.Contains("2. bob-write", asked.Error, StringComparison.Ordinal);
        Assert.Single(cli.Questions);
        Assert.Equal(SecurityHub.BobToken, File.ReadAllText(TokenFile));
        NoToken(asked);
    }

    [Fact]
    public async Task A_token_variable_wins_and_list_and_switch_say_so()
    {
        TwoStoredTokens();
        var cli = Cli();
        cli.Environment["HF_TOKEN"] = SecurityHub.BobToken;

        var list = await cli.RunAsync("auth", "list");
        var switched = await cli.RunAsync("auth", "switch", "alice-read");

        Assert.Contains("* bob-write", list.Out, StringComparison.Ordinal);
        Assert.Contains("HF_TOKEN", list.Error, StringComparison.Ordinal);
        Assert.Contains("HF_TOKEN is set", switched.Error, StringComparison.Ordinal);
        NoToken(list);
        NoToken(switched);
    }

    [Fact]
    public async Task Auth_login_logout_and_whoami_are_the_top_level_commands()
    {
        var cli = Cli();
        cli.StandardInput = SecurityHub.AliceToken + "\n";

        var login = await cli.RunAsync("auth", "login", "--token-stdin");

        Assert.True(login.ExitCode == 0, login.ToString());
        Assert.Equal(SecurityHub.AliceToken, File.ReadAllText(TokenFile));
        Assert.Equal($"[hfdl-test]\nhf_token = {SecurityHub.AliceToken}\n\n", File.ReadAllText(StoredTokens));
        cli.StandardInput = "";
        var whoami = await cli.RunAsync("auth", "whoami");
        Assert.Equal("alice\norgs: acme, acme-labs\n", whoami.Out.ReplaceLineEndings("\n"));
        var list = await cli.RunAsync("auth", "list");
        Assert.Contains("* hfdl-test", list.Out, StringComparison.Ordinal);

        var logout = await cli.RunAsync("auth", "logout");

        Assert.Equal(0, logout.ExitCode);
        Assert.False(File.Exists(TokenFile));
        Assert.False(File.Exists(StoredTokens));
        foreach (var result in new[] { login, whoami, list, logout })
        {
            NoToken(result);
        }
    }

    [Fact]
    public async Task Logout_of_one_named_token_keeps_the_others_and_the_active_one_unless_it_is_that_one()
    {
        TwoStoredTokens();

        var misspelt = await Cli().RunAsync("auth", "logout", "--token-name", "bob-wirte");
        var bob = await Cli().RunAsync("auth", "logout", "--token-name", "bob-write");

        // A misspelt name is a failure, as hf makes it (QA: helper-45 saw exit 0), and changes nothing.
        Assert.True(misspelt.ExitCode == 1, misspelt.ToString());
        Assert.Contains("There is no token named 'bob-wirte'", misspelt.Error, StringComparison.Ordinal);
        Assert.True(bob.ExitCode == 0, bob.ToString());
        Assert.Equal($"[alice-read]\nhf_token = {SecurityHub.AliceToken}\n\n", File.ReadAllText(StoredTokens));
        Assert.Equal(SecurityHub.AliceToken, File.ReadAllText(TokenFile));

        var alice = await Cli().RunAsync("logout", "--token-name", "alice-read");

        Assert.True(alice.ExitCode == 0, alice.ToString());
        Assert.False(File.Exists(TokenFile), "the active token was the one logged out of");
        Assert.False(File.Exists(StoredTokens));
        NoToken(bob);
        NoToken(alice);
    }

    [Theory]
    [InlineData("auth login --add-to-git-credential")]
    [InlineData("login --add-to-git-credential")]
    [InlineData("auth switch bob-write --add-to-git-credential")]
    public async Task Add_to_git_credential_is_refused_with_a_reason(string commandLine)
    {
        TwoStoredTokens();

        var result = await Cli().RunAsync(commandLine.Split(' '));

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("git", result.Error, StringComparison.Ordinal);
        Assert.Equal(SecurityHub.AliceToken, File.ReadAllText(TokenFile));
    }

    [Fact]
    public async Task List_escapes_hostile_names_and_shows_no_token_of_a_hand_written_file()
    {
        Directory.CreateDirectory(HfHome);
        File.WriteAllText(StoredTokens, $"[evil\u001b[2Jname]\nhf_token = {SecurityHub.CarolToken}\n\n[short]\nhf_token = hf_abc\n");

        var list = await Cli().RunAsync("auth", "list");

        Assert.True(list.ExitCode == 0, list.ToString());
        Assert.DoesNotContain("\u001b", list.All, StringComparison.Ordinal);
        Assert.Contains("evil\\x1b[2Jname", list.Out, StringComparison.Ordinal);
        Assert.Contains("| hf_***\n", list.Out.ReplaceLineEndings("\n"), StringComparison.Ordinal);
        Assert.DoesNotContain("hf_abc", list.All, StringComparison.Ordinal);
        NoToken(list);
        Assert.Contains("none of these is the active token", list.Error, StringComparison.Ordinal);
    }
}
