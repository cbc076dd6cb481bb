using Hfdl.Core.Hub;
using Hfdl.Hub.Server;
using Hfdl.IntegrationTests.Support;

namespace Hfdl.IntegrationTests.Security;

/// <summary>
/// Something of the user's (or of another revision) stands where hfdl keeps its own files or where the repo needs a
/// folder: hfdl stops with a message that says what to move, before downloading, and leaves the entry as it was.
/// </summary>
public sealed class ForeignEntryTests : IAsyncLifetime, IDisposable
{
    private const string Repo = "acme/foreign";
    private readonly TempFolder _temp = new();
    private HubServer _server = null!;

    public async Task InitializeAsync() => _server = await HubServer.StartAsync(new HubServerOptions
    {
        Store = new InMemoryRepoStore().AddRepo(RepoType.Model, Repo, repo => repo
            .File("config.json", "{\"foreign\":1}\n")
            .File("sub/notes.txt", "notes\n")),
    });

    public async Task DisposeAsync() => await _server.DisposeAsync();

    public void Dispose() => _temp.Dispose();

    [Theory]
    [InlineData(".download_state", "where hfdl keeps the journal of this download")]
    [InlineData(".hfdl.lock", "where hfdl keeps the lock file of this folder")]
    public async Task A_folder_where_hfdl_keeps_its_own_file_stops_the_run_before_anything_is_downloaded(string name, string words)
    {
        var target = _temp.Combine("out");
        var folder = Directory.CreateDirectory(Path.Combine(target, name)).FullName;
        File.WriteAllText(Path.Combine(folder, "mine.txt"), "the user's");

        var result = await new CliRunner(_server, _temp).RunAsync("download", Repo, "--local-dir", target);

        Assert.True(result.ExitCode == 1, result.ToString());
        Assert.Contains($"is a folder, {words}; move it away", result.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("a bug in hfdl", result.Error, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(target, "config.json")));
        Assert.Equal("the user's", File.ReadAllText(Path.Combine(folder, "mine.txt")));
    }

    [Fact]
    public async Task A_file_where_the_repo_needs_a_folder_is_named_and_kept()
    {
        var target = _temp.Combine("out");
        Directory.CreateDirectory(target);
        File.WriteAllText(Path.Combine(target, "sub"), "a file of the user's, or of another revision");

        var result = await new CliRunner(_server, _temp).RunAsync("download", Repo, "--local-dir", target);

        Assert.True(result.ExitCode == 1, result.ToString());
        Assert.Contains("is a file, but the repo has a folder with that name", result.Error + result.Out, StringComparison.Ordinal);
        Assert.Equal("a file of the user's, or of another revision", File.ReadAllText(Path.Combine(target, "sub")));
        Assert.True(File.Exists(Path.Combine(target, "config.json")), "the other files are downloaded");
    }
}
