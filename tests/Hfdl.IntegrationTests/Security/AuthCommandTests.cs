using Hfdl.IntegrationTests.Support;

namespace Hfdl.IntegrationTests.Security;

/// <summary><c>hfdl login</c>, <c>whoami</c> and <c>logout</c> against a real Hfdl.Hub, and the files they share with huggingface_hub.</summary>
[Collection(SecurityCollection.Name)]
public sealed class AuthCommandTests(SecurityHub hub) : IClassFixture<SecurityHub>, IDisposable
{
    private const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    private CliRunner Cli() => new(hub.Server, _temp);

    private string HfHome => _temp.Combine("hf-home");

    private string TokenFile => Path.Combine(HfHome, "token");

    private string StoredTokens => Path.Combine(HfHome, "stored_tokens");

    private static void NoToken(CliResult result, string token = SecurityHub.AliceToken) =>
        Assert.DoesNotContain(token, result.All, StringComparison.Ordinal);

    [Fact]
    public async Task Login_whoami_and_logout_round_trip_with_a_600_token_file_that_huggingface_hub_reads()
    {
        var cli = Cli();
        cli.StandardInput = SecurityHub.AliceToken + "\n";

        var login = await cli.RunAsync("login", "--token-stdin");

        Assert.True(login.ExitCode == 0, login.ToString());
        Assert.Contains("alice", login.Error, StringComparison.Ordinal);
        Assert.Contains(TokenFile, login.Error, StringComparison.Ordinal);
        NoToken(login);
        Assert.Equal(SecurityHub.AliceToken, File.ReadAllText(TokenFile)); // one line, the token, as huggingface_hub writes it
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(OwnerOnly, File.GetUnixFileMode(TokenFile));
            Assert.Equal(OwnerOnly, File.GetUnixFileMode(StoredTokens));
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(HfHome));
        }
        Assert.Equal($"[hfdl-test]\nhf_token = {SecurityHub.AliceToken}\n\n", File.ReadAllText(StoredTokens));
        Assert.Equal(["stored_tokens", "token"], Directory.GetFiles(HfHome).Select(Path.GetFileName).Order(StringComparer.Ordinal));

        cli.StandardInput = "";
        var whoami = await cli.RunAsync("whoami");
        Assert.True(whoami.ExitCode == 0, whoami.ToString());
        Assert.Equal($"alice\norgs: acme, acme-labs\n", whoami.Out.ReplaceLineEndings("\n"));
        Assert.Contains(TokenFile, whoami.Error, StringComparison.Ordinal);
        NoToken(whoami);

        var download = await cli.RunAsync("download", "alice/private-direct", "--local-dir", _temp.Combine("out"));
        Assert.True(download.ExitCode == 0, download.ToString());

        var logout = await cli.RunAsync("logout");
        Assert.Equal(0, logout.ExitCode);
        Assert.Contains(TokenFile, logout.Error, StringComparison.Ordinal);
        NoToken(logout);
        Assert.False(File.Exists(TokenFile));
        Assert.False(File.Exists(StoredTokens), "the only stored token was the one logged out");

        var after = await cli.RunAsync("whoami");
        Assert.Equal(1, after.ExitCode);
        Assert.Contains("Not logged in", after.Error, StringComparison.Ordinal);
        Assert.Contains("hfdl login", after.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_organisation_token_whose_answer_has_no_orgs_is_shown_by_whoami_and_saved_by_login()
    {
        // The Hub's answer for an organisation's token has no "orgs": both commands failed with "unexpected
        // ArgumentNullException ... This is a bug in hfdl" (QA: helper-50).
        var cli = Cli();

        var whoami = await cli.RunAsync("whoami", "--token", SecurityHub.AcmeOrgToken);

        Assert.True(whoami.ExitCode == 0, whoami.ToString());
        Assert.Equal("acme\n", whoami.Out.ReplaceLineEndings("\n"));
        NoToken(whoami, SecurityHub.AcmeOrgToken);

        cli.StandardInput = SecurityHub.AcmeOrgToken + "\n";
        var login = await cli.RunAsync("login", "--token-stdin");

        Assert.True(login.ExitCode == 0, login.ToString());
        Assert.Contains("as acme (token 'hfdl-test', read)", login.Error, StringComparison.Ordinal);
        Assert.Equal(SecurityHub.AcmeOrgToken, File.ReadAllText(TokenFile));
        NoToken(login, SecurityHub.AcmeOrgToken);
    }

    [Fact]
    public async Task Login_at_a_terminal_reads_the_token_from_the_hidden_prompt()
    {
        var cli = Cli();
        var prompted = 0;
        cli.Terminal = () =>
        {
            prompted++;
            return SecurityHub.BobToken;
        };

        var login = await cli.RunAsync("login");

        Assert.True(login.ExitCode == 0, login.ToString());
        Assert.Equal(1, prompted);
        Assert.Contains($"{hub.Endpoint}/settings/tokens", login.Error, StringComparison.Ordinal);
        NoToken(login, SecurityHub.BobToken);
        Assert.Equal(SecurityHub.BobToken, File.ReadAllText(TokenFile));
    }

    [Fact]
    public async Task Login_without_a_terminal_asks_for_token_stdin_and_saves_nothing()
    {
        var login = await Cli().RunAsync("login");

        Assert.Equal(2, login.ExitCode);
        Assert.Contains("--token-stdin", login.Error, StringComparison.Ordinal);
        Assert.False(Directory.Exists(HfHome) && Directory.EnumerateFileSystemEntries(HfHome).Any());
    }

    [Theory]
    [InlineData("hf_NotAKnownToken000000000000000000")]
    [InlineData("api_org_SomeOrganisationToken000000")]
    public async Task A_rejected_token_is_not_saved_and_the_message_says_so_without_showing_it(string token)
    {
        var cli = Cli();
        cli.StandardInput = token;

        var login = await cli.RunAsync("login", "--token-stdin");

        Assert.NotEqual(0, login.ExitCode);
        Assert.Contains("Nothing was saved", login.Error, StringComparison.Ordinal);
        NoToken(login, token);
        Assert.False(File.Exists(TokenFile));
        Assert.False(File.Exists(StoredTokens));
    }

    [Fact]
    public async Task Login_replaces_the_token_atomically_keeps_other_stored_tokens_and_tightens_an_old_file()
    {
        Directory.CreateDirectory(HfHome);
        File.WriteAllText(TokenFile, "hf_OldTokenThatWasWorldReadable000");
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(TokenFile, OwnerOnly | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        }
        File.WriteAllText(StoredTokens, "[zeta]\nhf_token = hf_zeta\n\n[ci]\nhf_token = hf_ci\nrefresh_token = r1\nexpires_at = 1700000000\n\n");
        var cli = Cli();
        cli.StandardInput = SecurityHub.AliceToken;

        var login = await cli.RunAsync("login", "--token-stdin");

        Assert.True(login.ExitCode == 0, login.ToString());
        Assert.Equal(SecurityHub.AliceToken, File.ReadAllText(TokenFile));
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(OwnerOnly, File.GetUnixFileMode(TokenFile));
        }
        Assert.Equal(
            "[ci]\nhf_token = hf_ci\nrefresh_token = r1\nexpires_at = 1700000000\n\n"
            + $"[hfdl-test]\nhf_token = {SecurityHub.AliceToken}\n\n[zeta]\nhf_token = hf_zeta\n\n",
            File.ReadAllText(StoredTokens));

        var logout = await cli.RunAsync("logout");
        Assert.Equal(0, logout.ExitCode);
        Assert.Equal("[ci]\nhf_token = hf_ci\nrefresh_token = r1\nexpires_at = 1700000000\n\n[zeta]\nhf_token = hf_zeta\n\n", File.ReadAllText(StoredTokens));

        var all = await cli.RunAsync("logout", "--all");
        Assert.Equal(0, all.ExitCode);
        Assert.False(File.Exists(StoredTokens));
    }

    [Fact]
    public async Task A_stored_tokens_file_hfdl_cannot_round_trip_is_left_untouched()
    {
        Directory.CreateDirectory(HfHome);
        const string odd = "; comment\n[multi]\nhf_token = hf_a\n  continued\n";
        File.WriteAllText(StoredTokens, odd);
        var cli = Cli();
        cli.StandardInput = SecurityHub.AliceToken;

        var login = await cli.RunAsync("login", "--token-stdin");

        Assert.True(login.ExitCode == 0, login.ToString());
        Assert.Contains("left it unchanged", login.Error, StringComparison.Ordinal);
        Assert.Equal(odd, File.ReadAllText(StoredTokens));
        Assert.Equal(SecurityHub.AliceToken, File.ReadAllText(TokenFile));
    }

    [Fact]
    public async Task A_user_name_and_password_in_HF_ENDPOINT_are_never_shown()
    {
        const string Password = "s3cretpass";
        var cli = Cli();
        cli.Environment["HF_ENDPOINT"] = hub.Endpoint.Replace("http://", $"http://user:{Password}@", StringComparison.Ordinal);
        cli.StandardInput = SecurityHub.AliceToken;
        var results = new List<CliResult>
        {
            await cli.RunAsync("login", "--token-stdin"),
            await cli.RunAsync("whoami"),
            await cli.RunAsync("download", "acme/gated", "--local-dir", _temp.Combine("gated"), "--token", SecurityHub.BobToken, "--json", "-v"),
            await cli.RunAsync("whoami", "--token", "hf_NotAKnownToken000000000000000000"),
        };
        cli.Environment["HF_ENDPOINT"] = $"http://user:{Password}@127.0.0.1:9";
        results.Add(await cli.RunAsync("ls", "acme/public", "--json"));
        results.Add(await cli.RunAsync("download", "acme/public", "--local-dir", _temp.Combine("unreachable"), "-v"));
        cli.Environment["HF_ENDPOINT"] = $"ftp://user:{Password}@127.0.0.1:9";
        results.Add(await cli.RunAsync("whoami"));

        Assert.True(results[0].ExitCode == 0, results[0].ToString());
        Assert.Contains($"Logged in to {hub.Endpoint} as alice", results[0].Error, StringComparison.Ordinal);
        Assert.Contains($"{hub.Endpoint}/acme/gated", results[2].All, StringComparison.Ordinal); // the page to request access on
        Assert.Contains("Could not reach http://127.0.0.1:9", results[4].All, StringComparison.Ordinal);
        Assert.All(results, result => Assert.DoesNotContain(Password, result.All, StringComparison.Ordinal));
        Assert.True(results[1].ExitCode == 0, results[1].ToString());
        Assert.All(results[2..], result => Assert.NotEqual(0, result.ExitCode));
    }

    [Fact]
    public async Task Logout_says_when_it_left_a_stored_tokens_file_it_cannot_read_that_may_still_hold_the_token()
    {
        Directory.CreateDirectory(HfHome);
        var twice = $"[a]\nhf_token = {SecurityHub.AliceToken}\n[a]\nhf_token = {SecurityHub.AliceToken}\n";
        File.WriteAllText(StoredTokens, twice);
        File.WriteAllText(TokenFile, SecurityHub.AliceToken);

        var logout = await Cli().RunAsync("logout");

        Assert.True(logout.ExitCode == 0, logout.ToString());
        Assert.False(File.Exists(TokenFile));
        Assert.Equal(twice, File.ReadAllText(StoredTokens));
        Assert.Contains($"Note: {StoredTokens} is not in the format huggingface_hub writes; hfdl left it unchanged, so it may still hold that token.", logout.Error, StringComparison.Ordinal);
        NoToken(logout);
    }

    [Fact]
    public async Task Login_honours_endpoint_and_HF_TOKEN_PATH_with_variables_and_notes_an_overriding_HF_TOKEN()
    {
        var cli = Cli();
        cli.Environment["HF_ENDPOINT"] = "http://127.0.0.1:9"; // nothing listens there: --endpoint must win
        cli.Environment["MY_SECRETS"] = _temp.Combine("secrets");
        cli.Environment["HF_TOKEN_PATH"] = "$MY_SECRETS/hf/${MY_NAME_UNSET}token";
        cli.Environment["HF_TOKEN"] = SecurityHub.CarolToken;
        cli.StandardInput = SecurityHub.AliceToken;

        var login = await cli.RunAsync("login", "--token-stdin", "--endpoint", hub.Endpoint);

        Assert.True(login.ExitCode == 0, login.ToString());
        var expected = _temp.Combine("secrets", "hf", "${MY_NAME_UNSET}token");
        Assert.Equal(SecurityHub.AliceToken, File.ReadAllText(expected));
        Assert.True(File.Exists(_temp.Combine("secrets", "hf", "stored_tokens")));
        Assert.Contains("HF_TOKEN is set", login.Error, StringComparison.Ordinal);

        var whoami = await cli.RunAsync("whoami", "--endpoint", hub.Endpoint);
        Assert.StartsWith("carol", whoami.Out, StringComparison.Ordinal); // HF_TOKEN wins over the file
        Assert.Contains("HF_TOKEN environment variable", whoami.Error, StringComparison.Ordinal);

        var logout = await cli.RunAsync("logout");
        Assert.Contains("HF_TOKEN is still set", logout.Error, StringComparison.Ordinal);
        Assert.False(File.Exists(expected));
        NoToken(login, SecurityHub.CarolToken);
        NoToken(whoami, SecurityHub.CarolToken);
    }

    [Theory]
    [InlineData("{0}")]
    [InlineData("{0}\n")]
    [InlineData("  {0}\r\n")]
    public async Task A_token_file_written_by_huggingface_hub_is_used_for_private_repos(string content)
    {
        Directory.CreateDirectory(HfHome);
        File.WriteAllText(TokenFile, string.Format(System.Globalization.CultureInfo.InvariantCulture, content, SecurityHub.AliceToken));

        var result = await Cli().RunAsync("download", "alice/private-cache", "--local-dir", _temp.Combine("out"));

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.True(File.Exists(_temp.Combine("out", "sub", "notes.txt")));
    }

    [Fact]
    public async Task Whoami_asks_about_the_saved_token_even_with_HF_HUB_DISABLE_IMPLICIT_TOKEN_as_huggingface_hub_does()
    {
        Directory.CreateDirectory(HfHome);
        File.WriteAllText(TokenFile, SecurityHub.AliceToken);
        var cli = Cli();
        cli.Environment["HF_HUB_DISABLE_IMPLICIT_TOKEN"] = "1";

        // huggingface_hub's whoami: token or self.token or get_token(); the variable only keeps it off other requests.
        var saved = await cli.RunAsync("whoami");
        var explicitToken = await cli.RunAsync("whoami", "--token", SecurityHub.BobToken);

        Assert.True(saved.ExitCode == 0, saved.ToString());
        Assert.StartsWith("alice", saved.Out, StringComparison.Ordinal);
        NoToken(saved, SecurityHub.AliceToken);
        Assert.Equal(0, explicitToken.ExitCode);
        Assert.StartsWith("bob", explicitToken.Out, StringComparison.Ordinal);
        NoToken(explicitToken, SecurityHub.BobToken);
    }

    [Fact]
    public async Task A_private_repo_refused_because_HF_HUB_DISABLE_IMPLICIT_TOKEN_withheld_the_saved_token_says_so()
    {
        Directory.CreateDirectory(HfHome);
        File.WriteAllText(TokenFile, SecurityHub.AliceToken);
        var cli = Cli();
        cli.Environment["HF_HUB_DISABLE_IMPLICIT_TOKEN"] = "1";

        var withheld = await cli.RunAsync("download", "alice/private-direct", "--local-dir", _temp.Combine("out"));
        File.Delete(TokenFile);
        var none = await cli.RunAsync("download", "alice/private-direct", "--local-dir", _temp.Combine("out"));

        Assert.Equal(1, withheld.ExitCode);
        // The user has logged in: advice to log in would send them round in circles.
        Assert.Contains("HF_HUB_DISABLE_IMPLICIT_TOKEN keeps hfdl from sending it: give it with --token", withheld.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("log in", withheld.Error, StringComparison.Ordinal);
        NoToken(withheld);
        Assert.Equal(1, none.ExitCode);
        Assert.Contains("log in", none.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("HF_HUB_DISABLE_IMPLICIT_TOKEN", none.Error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("HF_HUB_OFFLINE", "login --token-stdin", "`hfdl login` checks the token")]
    [InlineData("HF_HUB_OFFLINE", "auth login --token-stdin", "`hfdl login` checks the token")]
    [InlineData("HF_HUB_OFFLINE", "whoami", "`hfdl whoami` asks the Hub")]
    [InlineData("TRANSFORMERS_OFFLINE", "auth whoami", "`hfdl whoami` asks the Hub")]
    [InlineData("HF_HUB_OFFLINE", "ls alice/private-direct", "`hfdl cache ls`")]
    public async Task Commands_that_need_the_Hub_refuse_offline_mode_without_a_request_and_save_nothing(string variable, string command, string says)
    {
        Directory.CreateDirectory(HfHome);
        File.WriteAllText(TokenFile, SecurityHub.BobToken);
        var cli = Cli();
        cli.Environment[variable] = "1";
        cli.StandardInput = SecurityHub.AliceToken;
        await hub.Server.Requests.WaitUntilIdleAsync(TimeSpan.FromSeconds(10));
        var before = hub.Server.Requests.Count;

        var result = await cli.RunAsync(command.Split(' '));

        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Contains($"{variable} is set, so hfdl makes no network call", result.Error, StringComparison.Ordinal);
        Assert.Contains($"Unset {variable}", result.Error, StringComparison.Ordinal);
        Assert.Contains(says, result.Error, StringComparison.Ordinal);
        Assert.Equal(before, hub.Server.Requests.Count);
        Assert.Equal(SecurityHub.BobToken, File.ReadAllText(TokenFile)); // login saved nothing
        Assert.False(File.Exists(StoredTokens));
        NoToken(result);
    }

    /// <summary>A CLI whose <paramref name="variable"/> names a folder (<paramref name="isFolder"/>) or a file where the other is needed.</summary>
    private (CliRunner Cli, string Place) WithWrongKindOfPlace(string variable, bool isFolder)
    {
        var place = _temp.Combine("wrong-kind");
        if (isFolder)
        {
            Directory.CreateDirectory(place);
        }
        else
        {
            File.WriteAllText(place, "x");
        }
        var cli = Cli();
        cli.Environment[variable] = place;
        return (cli, place);
    }

    [Theory]
    [InlineData("HF_TOKEN_PATH", true, "which is a folder; it must name the token file itself")]
    [InlineData("HF_HOME", false, "which is a file; it must be a folder, to hold the token file")]
    public async Task Login_to_a_place_that_cannot_take_the_files_writes_neither_and_names_the_variable(string variable, bool isFolder, string says)
    {
        var (cli, place) = WithWrongKindOfPlace(variable, isFolder);
        cli.StandardInput = SecurityHub.AliceToken;

        var login = await cli.RunAsync("login", "--token-stdin");

        Assert.True(login.ExitCode == 2, login.ToString());
        Assert.Contains($"{variable} is '{place}', {says}", login.Error, StringComparison.Ordinal);
        Assert.False(File.Exists(StoredTokens), "stored_tokens was written though the token file could not be");
        Assert.True(isFolder ? !Directory.EnumerateFileSystemEntries(place).Any() : File.ReadAllText(place) == "x");
        NoToken(login);
    }

    [Theory]
    [InlineData("HF_TOKEN_PATH", true, "which is a folder; it must name the token file itself")]
    [InlineData("HF_HOME", false, "which is a file; it must be a folder, to hold the token file")]
    public async Task A_token_path_that_cannot_be_one_is_refused_when_read_too_not_taken_for_no_token(string variable, bool isFolder, string says)
    {
        var (cli, place) = WithWrongKindOfPlace(variable, isFolder);
        var before = hub.Server.Requests.Count;

        var whoami = await cli.RunAsync("whoami");
        var download = await cli.RunAsync("download", "acme/public", "--dry-run", "-d", _temp.Combine("out"));
        var logout = await cli.RunAsync("logout");

        Assert.True(logout.ExitCode == 2, logout.ToString());
        Assert.Contains($"{variable} is '{place}', {says}", logout.Error, StringComparison.Ordinal);
        Assert.True(whoami.ExitCode == 2, whoami.ToString());
        Assert.Contains($"{variable} is '{place}', {says}", whoami.Error, StringComparison.Ordinal);
        Assert.True(download.ExitCode == 2, download.ToString());
        Assert.Contains($"{variable} is '{place}', {says}", download.Error, StringComparison.Ordinal);
        Assert.Equal(before, hub.Server.Requests.Count);
    }

    [Fact]
    public async Task A_folder_at_the_default_token_file_is_the_same_usage_error_as_an_hf_token_path_folder()
    {
        // A folder at $HF_HOME/token exited 1, the same folder named by HF_TOKEN_PATH 2 (QA: helper-63).
        var place = Path.Combine(HfHome, "token");
        Directory.CreateDirectory(place);
        var cli = Cli();
        var before = hub.Server.Requests.Count;

        var whoami = await cli.RunAsync("whoami");
        var download = await cli.RunAsync("download", "acme/public", "--dry-run", "-d", _temp.Combine("out"));

        foreach (var run in new[] { whoami, download })
        {
            Assert.True(run.ExitCode == 2, run.ToString());
            Assert.Contains($"HF_HOME puts the token file at '{place}', which is a folder; remove or rename that folder, or set HF_TOKEN_PATH to another file.", run.Error, StringComparison.Ordinal);
        }
        Assert.Equal(before, hub.Server.Requests.Count);
        Assert.True(Directory.Exists(place));
    }

    [Theory]
    [InlineData("token")]
    [InlineData("stored_tokens")]
    public async Task A_fifo_or_a_huge_file_planted_as_a_token_file_is_refused_at_once_and_never_read_whole(string name)
    {
        Directory.CreateDirectory(HfHome);
        var planted = Path.Combine(HfHome, name);
        Assert.Equal(0, Mkfifo(planted, Convert.ToUInt32("600", 8)));
        var command = name == "token" ? new[] { "whoami" } : ["auth", "list"];
        // A deadline, not a wait: before the fix the read of the FIFO never returned.
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(60));

        // On a thread of its own: the command may block before its first await, where WaitAsync cannot reach it.
        var fifo = await Task.Run(() => Cli().RunAsync(deadline.Token, command)).WaitAsync(deadline.Token);
        File.Delete(planted);
        File.WriteAllText(planted, new string('a', 10 * 1024 * 1024));
        var huge = await Task.Run(() => Cli().RunAsync(deadline.Token, command)).WaitAsync(deadline.Token);

        Assert.True(fifo.ExitCode != 0, fifo.ToString());
        Assert.Contains("not a regular file", fifo.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("permissions", fifo.Error, StringComparison.Ordinal); // no chmod fixes a FIFO (QA: helper-35)
        Assert.Contains("more than", huge.Error, StringComparison.Ordinal);
        Assert.Contains(planted, fifo.Error, StringComparison.Ordinal);
        Assert.True(huge.ExitCode != 0, huge.ToString());
        Assert.Contains(planted, huge.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("bug", fifo.Error + huge.Error, StringComparison.Ordinal);
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "mkfifo", SetLastError = true)]
    private static extern int Mkfifo(string path, uint mode);

    [Theory]
    [InlineData("token")]
    [InlineData("stored_tokens")]
    public async Task Login_switch_and_logout_neither_replace_nor_delete_a_fifo_or_device_where_a_token_file_belongs(string name)
    {
        // HF_TOKEN_PATH=/dev/null run as root: login replaced the system's /dev/null with a file holding the token, and
        // logout deleted the device (QA: helper-45). A FIFO stands for the device here: the same kind of file to hfdl.
        Directory.CreateDirectory(HfHome);
        File.WriteAllText(StoredTokens, $"[alice]\nhf_token = {SecurityHub.AliceToken}\n\n");
        var planted = Path.Combine(HfHome, name);
        File.Delete(planted);
        Assert.Equal(0, Mkfifo(planted, Convert.ToUInt32("600", 8)));
        var cli = Cli();
        cli.StandardInput = SecurityHub.AliceToken;
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(60));

        var login = await Task.Run(() => cli.RunAsync(deadline.Token, "login", "--token-stdin")).WaitAsync(deadline.Token);
        var switched = name == "token" ? await Task.Run(() => Cli().RunAsync(deadline.Token, "auth", "switch", "alice")).WaitAsync(deadline.Token) : null;
        var logout = await Task.Run(() => Cli().RunAsync(deadline.Token, "logout")).WaitAsync(deadline.Token);

        foreach (var result in new[] { login, switched, logout }.OfType<CliResult>())
        {
            Assert.True(result.ExitCode == 1, result.ToString());
            Assert.Contains($"'{planted}' is not a regular file (a FIFO, a device or a socket)", result.Error, StringComparison.Ordinal);
            Assert.Contains("neither replaces nor deletes it", result.Error, StringComparison.Ordinal);
        }
        Assert.Equal("fifo", FileKind(planted));
    }

    /// <summary>The kind of file at <paramref name="path"/> itself, as stat(1) names it ("fifo", "regular file").</summary>
    private static string FileKind(string path) => Tool.Run("stat", "-c", "%F", path).Output.Trim();

    [Fact]
    public async Task Logout_and_the_local_auth_commands_work_in_offline_mode()
    {
        Directory.CreateDirectory(HfHome);
        File.WriteAllText(StoredTokens, $"[alice]\nhf_token = {SecurityHub.AliceToken}\n\n[bob]\nhf_token = {SecurityHub.BobToken}\n\n");
        var cli = Cli();
        cli.Environment["HF_HUB_OFFLINE"] = "1";

        var switched = await cli.RunAsync("auth", "switch", "alice");
        var listed = await cli.RunAsync("auth", "list");
        var logout = await cli.RunAsync("logout");

        Assert.True(switched.ExitCode == 0, switched.ToString());
        Assert.True(listed.ExitCode == 0, listed.ToString());
        Assert.Contains("* alice", listed.Out, StringComparison.Ordinal);
        Assert.True(logout.ExitCode == 0, logout.ToString());
        Assert.False(File.Exists(TokenFile));
    }

    [Fact]
    public async Task Whoami_refuses_an_absurdly_long_token_file_itself_instead_of_sending_it()
    {
        Directory.CreateDirectory(HfHome);
        File.WriteAllText(TokenFile, "hf_" + new string('a', 4_000_000));
        await hub.Server.Requests.WaitUntilIdleAsync(TimeSpan.FromSeconds(10));
        var before = hub.Server.Requests.Count;

        var result = await Cli().RunAsync("whoami");

        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Contains($"The token file {TokenFile} holds more than 65,536 bytes, which cannot be a Hub token", result.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("431", result.Error, StringComparison.Ordinal);
        Assert.Equal(before, hub.Server.Requests.Count);
    }

    [Fact]
    public async Task A_token_with_a_stray_character_is_refused_without_being_shown()
    {
        var cli = Cli();
        cli.Environment["HF_TOKEN"] = "hf_Has Space";

        var result = await cli.RunAsync("whoami");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("HF_TOKEN", result.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("Has Space", result.All, StringComparison.Ordinal);
    }
}
