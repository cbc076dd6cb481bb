using Hfdl.Core.Hub;
using Hfdl.Core.Storage;
using Microsoft.Extensions.Time.Testing;

namespace Hfdl.Core.Tests.Storage;

public sealed class DownloadStateStoreTests : IDisposable
{
    private static readonly RepoId Repo = RepoId.Parse("org/name");
    private readonly TempDirectory _temp = new();
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2025, 3, 7, 12, 34, 56, TimeSpan.Zero));

    public void Dispose() => _temp.Dispose();

    private string StatePath => _temp.Combine(DownloadState.FileName);

    private static FileState Complete(long size, string etag) => new()
    {
        Size = size,
        Etag = etag,
        Commit = "86b5e0934494bd15c9632b12f734a8a67f723594",
        Status = FileState.Complete,
        MtimeTicks = 638_000_000_000_000_000,
        VerifiedAt = new DateTimeOffset(2025, 3, 7, 0, 0, 0, TimeSpan.Zero),
    };

    [Fact]
    public void A_missing_state_starts_fresh_without_a_warning()
    {
        var store = DownloadStateStore.Open(_temp.Path, RepoType.Model, Repo, _time);

        Assert.Null(store.LoadWarning);
        Assert.Equal("model", store.Current.RepoType);
        Assert.Equal("org/name", store.Current.RepoId);
        Assert.Empty(store.Current.Files);
        Assert.False(File.Exists(StatePath));
    }

    [Fact]
    public void A_saved_state_round_trips()
    {
        var store = DownloadStateStore.Open(_temp.Path, RepoType.Dataset, Repo, _time);
        store.Update(s => s with { Revision = "refs/pr/1", Commit = "86b5e0934494bd15c9632b12f734a8a67f723594" });
        store.SetFile("config.json", Complete(313, "fca794a5f07ff8f963fe8b61e3694b0fb7f955df"));
        store.SetFile("sub/tf_model.h5", Complete(536063208, "a7a17d6d844b5de815ccab5f42cad6d24496db3850a2a43d8258221018ce87d2"));
        store.SetFile("gone.txt", Complete(1, "x"));
        store.SetFile("gone.txt", null);
        _time.Advance(TimeSpan.FromMinutes(5));
        store.Save(_time);

        var reopened = DownloadStateStore.Open(_temp.Path, RepoType.Dataset, Repo, _time);

        Assert.Null(reopened.LoadWarning);
        Assert.Equal("refs/pr/1", reopened.Current.Revision);
        Assert.Equal("86b5e0934494bd15c9632b12f734a8a67f723594", reopened.Current.Commit);
        Assert.Equal(_time.GetUtcNow(), reopened.Current.UpdatedAt);
        Assert.Equal(["config.json", "sub/tf_model.h5"], reopened.Current.Files.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(Complete(313, "fca794a5f07ff8f963fe8b61e3694b0fb7f955df"), reopened.Get("config.json"));
        Assert.Equal(Complete(536063208, "a7a17d6d844b5de815ccab5f42cad6d24496db3850a2a43d8258221018ce87d2"), reopened.Get("sub/tf_model.h5"));
        Assert.Null(reopened.Get("gone.txt"));
        Assert.Empty(Directory.GetFiles(_temp.Path, "*.tmp", SearchOption.AllDirectories));
    }

    [Fact]
    public void The_saved_file_is_versioned_json_and_holds_no_token()
    {
        var store = DownloadStateStore.Open(_temp.Path, RepoType.Model, Repo, _time);
        store.SetFile("a.bin", Complete(1, "fca794a5f07ff8f963fe8b61e3694b0fb7f955df"));
        store.Save(_time);

        var text = File.ReadAllText(StatePath);
        Assert.Contains("\"schema\": \"hfdl.download_state\"", text, StringComparison.Ordinal);
        Assert.Contains("\"version\": 1", text, StringComparison.Ordinal);
        Assert.DoesNotContain("hf_", text, StringComparison.Ordinal);
        Assert.DoesNotContain("Bearer", text, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("token", text, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("http", text, StringComparison.OrdinalIgnoreCase);
    }

    private const string ValidJson = """
        {"schema":"hfdl.download_state","version":1,"repoType":"model","repoId":"org/name","updatedAt":"2025-03-07T00:00:00+00:00",
         "files":{"a.bin":{"size":1,"etag":"fca794a5f07ff8f963fe8b61e3694b0fb7f955df","status":"complete","mtimeTicks":1}}}
        """;

    public static TheoryData<string, string> Untrusted => new()
    {
        { "truncated", ValidJson[..(ValidJson.Length / 2)] },
        { "empty file", "" },
        { "garbage", "\u0000\u0001garbage\uFFFD" },
        { "null", "null" },
        { "an array", "[]" },
        { "another schema", ValidJson.Replace("hfdl.download_state", "other.state", StringComparison.Ordinal) },
        { "a newer version", ValidJson.Replace("\"version\":1", "\"version\":2", StringComparison.Ordinal) },
        { "another repo", ValidJson.Replace("org/name", "org/other", StringComparison.Ordinal) },
        { "another repo type", ValidJson.Replace("\"model\"", "\"dataset\"", StringComparison.Ordinal) },
        { "a negative size", ValidJson.Replace("\"size\":1", "\"size\":-1", StringComparison.Ordinal) },
        { "an empty etag", ValidJson.Replace("fca794a5f07ff8f963fe8b61e3694b0fb7f955df", "", StringComparison.Ordinal) },
        { "a null entry", ValidJson.Replace("{\"size\":1,\"etag\":\"fca794a5f07ff8f963fe8b61e3694b0fb7f955df\",\"status\":\"complete\",\"mtimeTicks\":1}", "null", StringComparison.Ordinal) },
        { "no file table", ValidJson.Replace("\"files\":{", "\"files\":null,\"x\":{", StringComparison.Ordinal) },
        { "a missing required key", ValidJson.Replace("\"repoId\":\"org/name\",", "", StringComparison.Ordinal) },
        { "a wrong value type", ValidJson.Replace("\"version\":1", "\"version\":\"1\"", StringComparison.Ordinal) },
        { "an overflowing size", ValidJson.Replace("\"size\":1", "\"size\":99999999999999999999999", StringComparison.Ordinal) },
        { "deep nesting", new string('[', 10_000) },
        { "an empty path key", ValidJson.Replace("\"a.bin\"", "\"\"", StringComparison.Ordinal) },
    };

    [Theory]
    [MemberData(nameof(Untrusted))]
    public void An_untrusted_state_is_set_aside_with_a_warning_and_never_throws(string what, string content)
    {
        File.WriteAllText(StatePath, content);

        var store = DownloadStateStore.Open(_temp.Path, RepoType.Model, Repo, _time);

        Assert.True(store.LoadWarning is not null, $"no warning for {what}");
        Assert.Contains("was not trusted", store.LoadWarning, StringComparison.Ordinal);
        Assert.Contains(".download_state.invalid-20250307T123456", store.LoadWarning, StringComparison.Ordinal);
        Assert.Empty(store.Current.Files);
        Assert.Equal("org/name", store.Current.RepoId);
        Assert.False(File.Exists(StatePath), "the untrusted file must be moved away");
        var aside = Assert.Single(Directory.GetFiles(_temp.Path, ".download_state.invalid-*"));
        Assert.Equal(content, File.ReadAllText(aside));
    }

    [Fact]
    public void The_valid_sample_itself_is_trusted()
    {
        File.WriteAllText(StatePath, ValidJson);
        var store = DownloadStateStore.Open(_temp.Path, RepoType.Model, Repo, _time);
        Assert.Null(store.LoadWarning);
        Assert.Equal(1, store.Get("a.bin")!.Size);
    }

    [Fact]
    public void A_fresh_journal_after_setting_aside_can_be_saved_again()
    {
        File.WriteAllText(StatePath, "garbage");
        var store = DownloadStateStore.Open(_temp.Path, RepoType.Model, Repo, _time);
        store.SetFile("a.bin", Complete(1, "e"));
        store.Save(_time);

        var reopened = DownloadStateStore.Open(_temp.Path, RepoType.Model, Repo, _time);
        Assert.Null(reopened.LoadWarning);
        Assert.NotNull(reopened.Get("a.bin"));
    }

    [Fact]
    public async Task Concurrent_updates_and_saves_do_not_lose_entries()
    {
        var store = DownloadStateStore.Open(_temp.Path, RepoType.Model, Repo, _time);
        await Task.WhenAll(Enumerable.Range(0, 8).Select(worker => Task.Run(() =>
        {
            for (var i = 0; i < 50; i++)
            {
                store.SetFile($"w{worker}/f{i}", Complete(i, "e"));
                if (i % 10 == 0)
                {
                    store.Save(_time);
                }
            }
        })));
        store.Save(_time);

        Assert.Equal(400, DownloadStateStore.Open(_temp.Path, RepoType.Model, Repo, _time).Current.Files.Count);
    }
}
