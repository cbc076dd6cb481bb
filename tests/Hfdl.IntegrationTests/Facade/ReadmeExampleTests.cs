using System.Diagnostics;
using Hfdl.Core.Hub;
using Hfdl.Hub.Server;
using Hfdl.IntegrationTests.Support;

namespace Hfdl.IntegrationTests.Facade;

/// <summary>
/// The README's "Use it from .NET" example is samples/HfdlExample/Program.cs, word for word, and it works: run as a
/// program of its own (which sees only Hfdl.Core's public API) against a real hub, it plans, downloads and verifies.
/// </summary>
public sealed class ReadmeExampleTests : IAsyncLifetime, IDisposable
{
    private readonly TempFolder _temp = new();
    private readonly InMemoryRepoStore _store = new();
    private HubServer _server = null!;

    public async Task InitializeAsync()
    {
        _store.AddRepo(RepoType.Model, "openai-community/gpt2", repo => repo
            .File("config.json", "{\"model_type\":\"gpt2\"}\n")
            .File("vocab.json", "{\"hello\":0}\n")
            .File("merges.txt", "#version: 0.2\nh e\n")
            .File("model.safetensors", SyntheticContent.Create(2_000_000, seed: 2)));
        _server = await HubServer.StartAsync(new HubServerOptions { Store = _store });
    }

    public async Task DisposeAsync() => await _server.DisposeAsync();

    public void Dispose() => _temp.Dispose();

    private static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Hfdl.slnx")))
            {
                return dir.FullName;
            }
        }
        throw new InvalidOperationException("The repository root (Hfdl.slnx) was not found above the test binaries.");
    }

    [Fact]
    public void The_readme_shows_the_example_program_word_for_word()
    {
        var root = RepoRoot();
        var readme = File.ReadAllText(Path.Combine(root, "README.md")).ReplaceLineEndings("\n");
        var program = File.ReadAllText(Path.Combine(root, "samples", "HfdlExample", "Program.cs")).ReplaceLineEndings("\n");
        var section = readme.IndexOf("## Use it from .NET", StringComparison.Ordinal);
        Assert.True(section >= 0, "The README has no 'Use it from .NET' section.");
        var start = readme.IndexOf("```csharp\n", section, StringComparison.Ordinal) + "```csharp\n".Length;
        var end = readme.IndexOf("```", start, StringComparison.Ordinal);
        Assert.Equal(program, readme[start..end]);
    }

    [Fact]
    public async Task The_example_plans_downloads_and_verifies_with_the_public_api()
    {
        var work = _temp.Combine("work");
        Directory.CreateDirectory(work);
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = work };
        info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "HfdlExample.dll"));
        info.Environment["HF_ENDPOINT"] = _server.Endpoint.ToString().TrimEnd('/');
        info.Environment["HF_HOME"] = _temp.Combine("hf-home");
        info.Environment.Remove("HF_TOKEN");
        info.Environment.Remove("HF_HUB_OFFLINE");

        using var process = Process.Start(info)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var deadline = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await process.WaitForExitAsync(deadline.Token);
        var text = await output + await error;

        Assert.True(process.ExitCode == 0, text);
        var commit = _store.MainSnapshot(RepoType.Model, "openai-community/gpt2").CommitId;
        Assert.Contains($"commit {commit}: 3 of 3 files to fetch", text, StringComparison.Ordinal);
        Assert.Contains("3 downloaded, 0 already there", text, StringComparison.Ordinal);
        Assert.Contains("all files verified", text, StringComparison.Ordinal);
        RepoAssert.BitExact(_store.MainSnapshot(RepoType.Model, "openai-community/gpt2"), Path.Combine(work, "gpt2"), ["config.json", "vocab.json", "merges.txt"]);
        Assert.False(File.Exists(Path.Combine(work, "gpt2", "model.safetensors")), "the example's --include keeps the weights out");
    }
}
