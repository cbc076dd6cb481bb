using System.Text;
using FsCheck;
using FsCheck.Fluent;
using Hfdl.Core.Hub;
using Hfdl.Core.Planning;
using Hfdl.Core.Storage;

namespace Hfdl.Core.Tests.Fuzz;

/// <summary>File names from a server and the state file on disk: no accepted name leaves the target folder, and no state file, however broken, stops a run.</summary>
public sealed class StorageFuzzTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), $"hfdl-fuzz-{Guid.NewGuid():N}");

    public StorageFuzzTests() => Directory.CreateDirectory(_root);

    public void Dispose()
    {
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private static readonly Gen<string> Segment = Gen.OneOf(
        Gen.Elements("..", ".", "", "a", "b.txt", "~", "C:", "c:", "\\\\srv\\share", "..\\..", "a\\b", ".download_state", "x.hfdl-part",
            "CON", "nul.txt", "AUX", "con.", "a ", "a.", "a:b", "a*b", "a?b", "a<b", "a|b", "\"", "%2e%2e", "..%2f", "\u202e",
            "\u0000", "\u001f", "\uFEFF", "日本語", "e\u0301", "\uD800", new string('x', 255), new string('y', 256)),
        Fuzz.HostileString);

    private static readonly Gen<string> RepoPath = Gen.OneOf(
        Fuzz.HostileString,
        from segments in Gen.NonEmptyListOf(Segment)
        from lead in Gen.Elements("", "/", "\\", "C:/", "//")
        select lead + string.Join("/", segments.Take(12)));

    [Fact]
    public void No_accepted_repo_path_resolves_outside_the_target_folder()
    {
        var rootWithSeparator = Path.GetFullPath(_root) + Path.DirectorySeparatorChar;
        Fuzz.Check(RepoPath, path =>
        {
            if (!RepoFilePath.TryValidate(path, out var problem))
            {
                Assert.False(string.IsNullOrWhiteSpace(problem));
                var error = Assert.Throws<UnsafePathException>(() => RepoFilePath.Validate(path));
                Assert.Contains("refuses", error.Message, StringComparison.Ordinal);
                return;
            }
            string full;
            try
            {
                full = RepoLayout.FilePath(_root, path);
            }
            catch (UnsafePathException)
            {
                return;
            }
            Assert.StartsWith(rootWithSeparator, full, StringComparison.Ordinal);
            Assert.Equal(full, Path.GetFullPath(full));
            Assert.DoesNotContain('\0', full);
            var relative = Path.GetRelativePath(_root, full);
            Assert.False(relative == ".." || relative.StartsWith(".." + Path.DirectorySeparatorChar, StringComparison.Ordinal) || Path.IsPathRooted(relative), relative);
        });
    }

    private const string StateSeed = """
        {"schema":"hfdl.download_state","version":1,"repoType":"model","repoId":"acme/x","revision":"main",
         "commit":"607a30d783dfa663caf39e06633721c8d4cfcd7e","updatedAt":"2025-01-01T00:00:00+00:00",
         "files":{"a.txt":{"size":3,"etag":"dc08351d4dc0732d9c8af04070ced089b201ce2f","status":"complete","mtimeTicks":1},
                  "big.bin":{"size":100,"etag":"097417381d6c7230bd9e3557456d726de6e83245ec8b24f529f60198a67b203a","status":"partial",
                             "tempFile":".big.bin.0123abcd.hfdl-part","ranges":[[0,10],[20,30]]}}}
        """;

    [Fact]
    public void Any_state_file_opens_or_is_set_aside_and_nothing_it_says_points_outside_the_folder()
    {
        var id = RepoId.Parse("acme/x");
        var gen = Gen.OneOf(Fuzz.Bytes, Fuzz.Mutated(StateSeed, "{}", "null", "[]"), Fuzz.HostileString.Select(s => Encoding.UTF8.GetBytes(s)));
        var folder = Path.Combine(_root, "state");
        Fuzz.Check(gen, bytes =>
        {
            if (Directory.Exists(folder))
            {
                Directory.Delete(folder, recursive: true);
            }
            Directory.CreateDirectory(folder);
            var statePath = Path.Combine(folder, DownloadState.FileName);
            File.WriteAllBytes(statePath, bytes);
            DownloadStateStore store;
            try
            {
                store = DownloadStateStore.Open(folder, RepoType.Model, id, TimeProvider.System);
            }
            catch (Exception ex)
            {
                Assert.Fail($"Open threw {ex.GetType().Name}: {ex.Message} for {Convert.ToBase64String(bytes)}");
                return;
            }
            if (store.LoadWarning is not null)
            {
                Assert.False(File.Exists(statePath), "a distrusted state file is set aside");
                Assert.Empty(store.Current.Files);
                return;
            }
            Assert.Equal("acme/x", store.Current.RepoId);
            foreach (var (path, file) in store.Current.Files)
            {
                Assert.NotNull(file);
                Assert.True(file.Size >= 0);
                if (file.TempFile is { } temp && file.Status == FileState.Partial)
                {
                    Assert.Equal(temp, Path.GetFileName(temp));
                    Assert.False(temp is "." or "..");
                }
                Assert.False(string.IsNullOrEmpty(path));
            }
            store.Save(TimeProvider.System);
        });
    }
}
