using Hfdl.Core.Hub;

namespace Hfdl.Core.Tests.Hub;

public sealed class AccessTokenTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    private HubEnvironment Env(params (string Name, string? Value)[] variables) => _temp.Environment(variables);

    [Fact]
    public void An_absurdly_long_token_is_refused_before_it_is_sent_without_showing_it()
    {
        var file = _temp.Write("hf/token", "hf_" + new string('a', 5_000));
        var huge = _temp.Write("hf/huge-token", "hf_" + new string('a', 4_000_000));

        var error = Assert.Throws<InvalidOptionException>(() => AccessToken.Discover(null, Env(("HF_TOKEN_PATH", file))));
        var hugeError = Assert.Throws<InvalidOptionException>(() => AccessToken.Discover(null, Env(("HF_TOKEN_PATH", huge))));

        Assert.Equal($"The token in {file} is 5,003 characters long, which cannot be a Hub token (they are about 40). Check that it holds only the token, copied again from your Hub account's token settings.", error.Message);
        // A file too large to hold a token is not even read whole.
        Assert.Equal($"The token file {huge} holds more than 65,536 bytes, which cannot be a Hub token (they are about 40 characters). Check that it holds only the token, copied again from your Hub account's token settings.", hugeError.Message);
        Assert.Equal(AccessToken.MaxLength, new AccessToken("hf_" + new string('a', AccessToken.MaxLength - 3), TokenOrigin.Login).Value.Length);
    }

    [Fact]
    public void The_explicit_token_wins_over_everything()
    {
        var file = _temp.Write("hf/token", "hf_file");
        var env = Env(("HF_TOKEN", "hf_env"), ("HUGGING_FACE_HUB_TOKEN", "hf_legacy"), ("HF_TOKEN_PATH", file), ("HF_HUB_DISABLE_IMPLICIT_TOKEN", "1"));

        var token = AccessToken.Discover("hf_flag", env);

        Assert.NotNull(token);
        Assert.Equal("hf_flag", token.Value);
        Assert.Equal(TokenOrigin.CommandLine, token.Origin);
    }

    [Fact]
    public void HF_TOKEN_comes_before_the_legacy_variable_and_the_file()
    {
        var file = _temp.Write("hf/token", "hf_file");
        var token = AccessToken.Discover(null, Env(("HF_TOKEN", "hf_env"), ("HUGGING_FACE_HUB_TOKEN", "hf_legacy"), ("HF_TOKEN_PATH", file)));

        Assert.Equal(("hf_env", TokenOrigin.HfTokenVariable), (token!.Value, token.Origin));
    }

    [Fact]
    public void HUGGING_FACE_HUB_TOKEN_comes_before_the_file()
    {
        var file = _temp.Write("hf/token", "hf_file");
        var token = AccessToken.Discover(null, Env(("HUGGING_FACE_HUB_TOKEN", "hf_legacy"), ("HF_TOKEN_PATH", file)));

        Assert.Equal(("hf_legacy", TokenOrigin.LegacyTokenVariable), (token!.Value, token.Origin));
    }

    [Fact]
    public void HF_TOKEN_PATH_comes_before_HF_HOME_token()
    {
        var explicitFile = _temp.Write("elsewhere/my-token", "hf_from_path");
        _temp.Write("hfhome/token", "hf_from_home");

        var token = AccessToken.Discover(null, Env(("HF_TOKEN_PATH", explicitFile), ("HF_HOME", _temp.Combine("hfhome"))));

        Assert.Equal(("hf_from_path", TokenOrigin.TokenFile, explicitFile), (token!.Value, token.Origin, token.FilePath));
    }

    [Fact]
    public void HF_HOME_token_is_the_last_resort()
    {
        var file = _temp.Write("hfhome/token", "hf_from_home");

        var token = AccessToken.Discover(null, Env(("HF_HOME", _temp.Combine("hfhome"))));

        Assert.Equal(("hf_from_home", TokenOrigin.TokenFile, file), (token!.Value, token.Origin, token.FilePath));
        Assert.Equal($"the token in {file}", token.Describe());
    }

    [Fact]
    public void Without_HF_HOME_the_token_file_is_under_XDG_CACHE_HOME_then_HOME()
    {
        _temp.Write("xdg/huggingface/token", "hf_xdg");
        _temp.Write("home/.cache/huggingface/token", "hf_home");

        Assert.Equal("hf_xdg", AccessToken.Discover(null, Env(("XDG_CACHE_HOME", _temp.Combine("xdg"))))!.Value);
        Assert.Equal("hf_home", AccessToken.Discover(null, Env())!.Value);
    }

    [Fact]
    public void HF_HUB_DISABLE_IMPLICIT_TOKEN_ignores_every_implicit_source()
    {
        _temp.Write("hfhome/token", "hf_from_home");
        var env = Env(("HF_TOKEN", "hf_env"), ("HUGGING_FACE_HUB_TOKEN", "hf_legacy"), ("HF_HOME", _temp.Combine("hfhome")), ("HF_HUB_DISABLE_IMPLICIT_TOKEN", "yes"));

        Assert.Null(AccessToken.Discover(null, env));
        Assert.Null(AccessToken.Discover("  ", env));
    }

    [Fact]
    public void The_file_token_is_trimmed_of_whitespace_and_line_endings()
    {
        _temp.Write("hfhome/token", "  hf_abc\r\n\n");
        Assert.Equal("hf_abc", AccessToken.Discover(null, Env(("HF_HOME", _temp.Combine("hfhome"))))!.Value);
    }

    [Fact]
    public void Environment_tokens_are_trimmed()
    {
        Assert.Equal("hf_abc", AccessToken.Discover(null, Env(("HF_TOKEN", " hf_abc\n")))!.Value);
        Assert.Equal("hf_flag", AccessToken.Discover("\thf_flag ", Env())!.Value);
    }

    [Theory]
    [InlineData("")]
    [InlineData("   \n")]
    public void Blank_sources_are_skipped(string blank)
    {
        _temp.Write("hfhome/token", "hf_from_home");
        var token = AccessToken.Discover(blank, Env(("HF_TOKEN", blank), ("HUGGING_FACE_HUB_TOKEN", blank), ("HF_HOME", _temp.Combine("hfhome"))));
        Assert.Equal("hf_from_home", token!.Value);
    }

    [Fact]
    public void No_source_at_all_gives_no_token()
    {
        Assert.Null(AccessToken.Discover(null, Env(("HF_HOME", _temp.Combine("empty")))));
    }

    [Fact]
    public void An_empty_token_file_gives_no_token_and_a_folder_named_token_is_refused()
    {
        // huggingface_hub's read_text raises IsADirectoryError there too: a folder is not "no token".
        _temp.Write("a/token", "\n");
        Directory.CreateDirectory(_temp.Combine("b", "token"));
        Assert.Null(AccessToken.Discover(null, Env(("HF_HOME", _temp.Combine("a")))));
        var error = Assert.Throws<InvalidOptionException>(() => AccessToken.Discover(null, Env(("HF_HOME", _temp.Combine("b")))));
        Assert.Equal("HF_HOME", error.Option);
        Assert.Contains("which is a folder; remove or rename that folder, or set HF_TOKEN_PATH to another file.", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("hf_SECRETSECRET", "hf_***")]
    [InlineData("api_org_SECRETSECRET", "api_org_***")]
    [InlineData("SECRETSECRET", "***")]
    public void ToString_masks_the_value(string value, string masked)
    {
        var token = new AccessToken(value, TokenOrigin.CommandLine);
        Assert.Equal(masked, token.ToString());
        Assert.Equal(masked, $"{token}");
        Assert.DoesNotContain("SECRET", token.Describe(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(nameof(TokenOrigin.CommandLine), "command line")]
    [InlineData(nameof(TokenOrigin.HfTokenVariable), "HF_TOKEN")]
    [InlineData(nameof(TokenOrigin.LegacyTokenVariable), "HUGGING_FACE_HUB_TOKEN")]
    [InlineData(nameof(TokenOrigin.TokenFile), "the token file")]
    public void Describe_names_where_the_token_came_from(string origin, string fragment)
    {
        Assert.Contains(fragment, new AccessToken("hf_x", Enum.Parse<TokenOrigin>(origin)).Describe(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("")]
    [InlineData(" ")]
    public void A_blank_token_cannot_be_made(string value)
    {
        Assert.ThrowsAny<ArgumentException>(() => new AccessToken(value, TokenOrigin.CommandLine));
    }
}

public sealed class HubEnvironmentTests
{
    private static HubEnvironment Env(params (string Name, string? Value)[] variables) =>
        HubEnvironment.FromDictionary(variables.ToDictionary(v => v.Name, v => v.Value));

    [Theory]
    [InlineData("1")]
    [InlineData("ON")]
    [InlineData("on")]
    [InlineData("Yes")]
    [InlineData("YES")]
    [InlineData("true")]
    [InlineData("TRUE")]
    [InlineData("True")]
    public void A_flag_is_true_for_1_on_yes_true_in_any_case(string value)
    {
        Assert.True(Env(("HF_HUB_OFFLINE", value)).IsTrue("HF_HUB_OFFLINE"));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("0")]
    [InlineData("false")]
    [InlineData("no")]
    [InlineData("off")]
    [InlineData("2")]
    [InlineData("y")]
    [InlineData("truthy")]
    [InlineData(" true ")] // huggingface_hub's _is_true does not strip
    public void A_flag_is_false_otherwise(string? value)
    {
        Assert.False(Env(("HF_HUB_OFFLINE", value)).IsTrue("HF_HUB_OFFLINE"));
        Assert.False(Env().IsTrue("HF_HUB_OFFLINE"));
    }

    [Fact]
    public void An_empty_variable_counts_as_unset()
    {
        var env = Env(("HF_HOME", ""), ("HOME", "/home/u"));
        Assert.Null(env.Get("HF_HOME"));
        Assert.Null(env["HF_HOME"]);
        Assert.Equal(Path.Combine("/home/u", ".cache", "huggingface"), env.HfHome);
    }

    [Theory]
    [InlineData(null, "https://huggingface.co")]
    [InlineData("", "https://huggingface.co")]
    [InlineData("https://hub-ci.huggingface.co/", "https://hub-ci.huggingface.co")]
    [InlineData("http://127.0.0.1:8080//", "http://127.0.0.1:8080")]
    public void The_endpoint_is_HF_ENDPOINT_without_trailing_slashes(string? value, string expected)
    {
        Assert.Equal(expected, Env(("HF_ENDPOINT", value)).Endpoint);
    }

    [Fact]
    public void HF_HOME_defaults_to_XDG_CACHE_HOME_then_HOME_dot_cache()
    {
        Assert.Equal("/data/hf", Env(("HF_HOME", "/data/hf"), ("XDG_CACHE_HOME", "/xdg"), ("HOME", "/home/u")).HfHome);
        Assert.Equal(Path.Combine("/xdg", "huggingface"), Env(("XDG_CACHE_HOME", "/xdg"), ("HOME", "/home/u")).HfHome);
        Assert.Equal(Path.Combine("/home/u", ".cache", "huggingface"), Env(("HOME", "/home/u")).HfHome);
    }

    [Fact]
    public void The_token_path_is_HF_TOKEN_PATH_else_HF_HOME_token()
    {
        Assert.Equal("/t/tok", Env(("HF_TOKEN_PATH", "/t/tok"), ("HF_HOME", "/data/hf")).TokenPath);
        Assert.Equal(Path.Combine("/data/hf", "token"), Env(("HF_HOME", "/data/hf")).TokenPath);
    }

    [Fact]
    public void A_leading_tilde_expands_to_HOME()
    {
        var env = Env(("HOME", "/home/u"), ("HF_HOME", "~/hf"), ("XDG_CACHE_HOME", "~"), ("HF_TOKEN_PATH", "~/secrets/tok"));

        Assert.Equal(Path.Combine("/home/u", "hf"), env.HfHome);
        Assert.Equal(Path.Combine("/home/u", "secrets/tok"), env.TokenPath);
        Assert.Equal("/home/u", env.ExpandPath("~"));
        Assert.Equal(Path.Combine("/home/u", "huggingface"), Env(("HOME", "/home/u"), ("XDG_CACHE_HOME", "~")).HfHome);
    }

    [Theory]
    [InlineData("/abs/~/x", "/abs/~/x")]
    [InlineData("rel/~x", "rel/~x")]
    [InlineData("~other/x", "~other/x")]
    public void A_tilde_elsewhere_is_left_alone(string path, string expected)
    {
        Assert.Equal(expected, Env(("HOME", "/home/u")).ExpandPath(path));
    }

    [Theory]
    [InlineData("HF_HUB_ETAG_TIMEOUT", "3", 3)]
    [InlineData("HF_HUB_ETAG_TIMEOUT", " 2.5 ", 2.5)]
    [InlineData("HF_HUB_DOWNLOAD_TIMEOUT", "120", 120)]
    public void The_huggingface_hub_timeouts_are_read_in_seconds(string name, string value, double seconds)
    {
        var options = Env((name, value)).Apply(new HubClientOptions { Endpoint = new Uri("https://huggingface.co") });

        Assert.Equal(TimeSpan.FromSeconds(seconds), name == "HF_HUB_ETAG_TIMEOUT" ? options.EtagTimeout : options.ReadTimeout);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("0")]
    public void An_unset_or_zero_timeout_keeps_the_default_as_huggingface_hub_does(string? value)
    {
        var defaults = new HubClientOptions { Endpoint = new Uri("https://huggingface.co") };

        var options = Env(("HF_HUB_ETAG_TIMEOUT", value), ("HF_HUB_DOWNLOAD_TIMEOUT", value)).Apply(defaults);

        Assert.Equal((TimeSpan.FromSeconds(10), defaults.ReadTimeout), (options.EtagTimeout, options.ReadTimeout));
    }

    [Theory]
    [InlineData("HF_HUB_ETAG_TIMEOUT", "ten")]
    [InlineData("HF_HUB_ETAG_TIMEOUT", "-1")]
    [InlineData("HF_HUB_DOWNLOAD_TIMEOUT", "NaN")]
    [InlineData("HF_HUB_DOWNLOAD_TIMEOUT", "1e300")]
    [InlineData("HFDL_MAX_LISTING_ENTRIES", "0")]
    [InlineData("HFDL_MAX_LISTING_BYTES", "lots")]
    public void A_malformed_setting_is_a_usage_error_that_names_the_variable(string name, string value)
    {
        var error = Assert.Throws<InvalidOptionException>(() => Env((name, value)).Apply(new HubClientOptions { Endpoint = new Uri("https://huggingface.co") }));

        Assert.StartsWith(name, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_listing_bounds_can_be_raised_or_lowered()
    {
        var options = Env(("HFDL_MAX_LISTING_ENTRIES", "20000000"), ("HFDL_MAX_LISTING_BYTES", "1000"))
            .Apply(new HubClientOptions { Endpoint = new Uri("https://huggingface.co") });

        Assert.Equal((20_000_000L, 1000L), (options.MaxListingEntries, options.MaxListingBytes));
    }

    [Fact]
    public void The_process_environment_is_read_through_the_same_lookup()
    {
        Assert.Equal(Environment.GetEnvironmentVariable("PATH"), HubEnvironment.Process.Get("PATH"));
    }
}
