using Hfdl.Core.Transfer;

namespace Hfdl.Core.Tests.Api;

/// <summary>A client from the environment takes the Xet settings huggingface_hub takes from it.</summary>
public sealed class HfdlClientXetTests
{
    [Fact]
    public void From_the_environment_HF_HUB_DISABLE_XET_turns_native_xet_off_and_HF_XET_CACHE_places_the_chunk_cache()
    {
        using var home = new TempDirectory();
        var variables = new Dictionary<string, string?> { ["HF_HOME"] = home.Path, ["HF_HUB_DISABLE_XET"] = "1", ["HF_XET_CACHE"] = Path.Combine(home.Path, "chunks") };

        using var client = HfdlClient.FromEnvironment(variables);

        Assert.False(client.Options.Download.UseXet);
        Assert.Equal(Path.Combine(home.Path, "chunks"), client.Options.Download.XetCacheFolder);
    }

    [Fact]
    public void From_the_environment_the_chunk_cache_defaults_to_HF_HOME_xet_unless_the_options_name_one()
    {
        using var home = new TempDirectory();
        var variables = new Dictionary<string, string?> { ["HF_HOME"] = home.Path };

        using var byDefault = HfdlClient.FromEnvironment(variables);
        using var chosen = HfdlClient.FromEnvironment(variables, new DownloadOptions { XetCacheFolder = "/elsewhere" });

        Assert.True(byDefault.Options.Download.UseXet);
        Assert.Equal(Path.Combine(home.Path, "xet"), byDefault.Options.Download.XetCacheFolder);
        Assert.Equal("/elsewhere", chosen.Options.Download.XetCacheFolder);
    }
}
