using Hfdl.Core.Hub;

namespace Hfdl.Core.Tests.Hub;

/// <summary>The token file and stored_tokens: where they cannot be written, nothing is written and the setting to fix is named.</summary>
public sealed class TokenStoreTests : IDisposable
{
    private const string Token = "hf_StoreTestToken0123456789abcdefgh";

    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    private HubEnvironment Env(params (string Name, string? Value)[] variables) => _temp.Environment(variables);

    private static AccessToken LoginToken() => new(Token, TokenOrigin.Login);

    [Fact]
    public void HF_TOKEN_PATH_at_a_folder_writes_neither_file_and_says_it_must_name_the_token_file()
    {
        var home = _temp.Combine("hf-home");
        var folder = _temp.Combine("hf-home", "token-folder");
        Directory.CreateDirectory(folder);
        var store = new TokenStore(Env(("HF_HOME", home), ("HF_TOKEN_PATH", folder)));

        var error = Assert.Throws<InvalidOptionException>(() => store.Save(LoginToken(), "named"));

        Assert.StartsWith($"HF_TOKEN_PATH is '{folder}', which is a folder; it must name the token file itself", error.Message, StringComparison.Ordinal);
        Assert.Equal(["token-folder"], Directory.EnumerateFileSystemEntries(home).Select(Path.GetFileName));
        Assert.Empty(Directory.EnumerateFileSystemEntries(folder));
    }

    [Fact]
    public void HF_HOME_at_a_file_is_named_as_a_file_that_must_be_a_folder()
    {
        var file = _temp.Write("not-a-folder", "x");
        var store = new TokenStore(Env(("HF_HOME", file)));

        var error = Assert.Throws<InvalidOptionException>(() => store.Save(LoginToken(), "named"));

        Assert.Equal($"HF_HOME is '{file}', which is a file; it must be a folder, to hold the token file. Point HF_HOME at a folder, or move that file away.", error.Message);
        Assert.Equal("x", File.ReadAllText(file));
    }

    [Fact]
    public void A_stored_tokens_folder_stops_the_save_before_the_token_file_is_written()
    {
        var home = _temp.Combine("hf-home");
        Directory.CreateDirectory(Path.Combine(home, "stored_tokens"));
        var store = new TokenStore(Env(("HF_HOME", home)));

        var error = Assert.Throws<HfdlException>(() => store.Save(LoginToken(), "named"));

        Assert.Contains("stored_tokens", error.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(home, "token")));
        Assert.Equal(["stored_tokens"], Directory.EnumerateFileSystemEntries(home).Select(Path.GetFileName));
    }

    [Fact]
    public void A_file_on_the_way_to_a_setting_is_named_with_the_setting()
    {
        var file = _temp.Write("plain-file", "x");
        var below = Path.Combine(file, "hub");

        var error = Assert.Throws<InvalidOptionException>(() => PathSetting.RefuseFileInTheWay(below, new PathSetting("HF_HUB_CACHE", below), "the Hugging Face cache"));
        var byDefault = Assert.Throws<HfdlException>(() => PathSetting.RefuseFileInTheWay(below, null, "the Hugging Face cache"));

        Assert.Equal($"HF_HUB_CACHE is '{below}', but '{file}' on the way there is a file, not a folder, so it cannot hold the Hugging Face cache. Point HF_HUB_CACHE elsewhere, or move that file away.", error.Message);
        Assert.Contains($"'{file}' is a file", byDefault.Message, StringComparison.Ordinal);
        PathSetting.RefuseFileInTheWay(_temp.Combine("not", "there", "yet"), null, "anything"); // missing folders are fine: they get created
    }
}
